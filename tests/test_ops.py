"""Per-operator profiles: the taxonomy on every library's names, the OpProfile contract, real
profiles of tiny models from each host library's own profiler, and the op tables."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_mobiledl import engines, zoo
from pytest_mobiledl.errors import ConversionError
from pytest_mobiledl.ops import taxonomy
from pytest_mobiledl.ops.profile import OpProfile, from_dict, op
from pytest_mobiledl.report import ops as report_ops

GOLDEN = Path(__file__).parent / "golden"

# Each library's own spelling, as its profiler or tool prints it (ONNX Runtime op types, LiteRT
# builtin codes, MNN and ncnn layer types, aten ops, XNNPACK operator names, SNPE layer types).
NAMES = {
    "conv": ["Conv", "FusedConv", "QLinearConv", "CONV_2D", "Convolution", "aten::_convolution", "aten::conv2d",
             "Convolution (NHWC, F32) IGEMM", "Convolution (NHWC, QS8) GEMM #3", "ConvInt8", "Deconvolution",
             "TRANSPOSE_CONV", "Conv2d", "conv2d_clamp_run"],
    "depthwise_conv": ["DEPTHWISE_CONV_2D", "ConvolutionDepthwise", "ConvolutionDepthWise",
                       "Convolution (NHWC, F32) DWConv #2", "DepthWiseConv2d", "DepthwiseConvInt8"],
    "dense": ["Gemm", "MatMul", "FusedMatMul", "FULLY_CONNECTED", "BATCH_MATMUL", "InnerProduct", "aten::linear",
              "aten::addmm", "Fully Connected (NC, F32) GEMM", "Batch Matrix Multiply (NC, F32) GEMM", "LSTM",
              "UNIDIRECTIONAL_SEQUENCE_LSTM", "FullyConnected", "aten::lstm"],
    "pooling": ["GlobalAveragePool", "MaxPool", "AVERAGE_POOL_2D", "MAX_POOL_2D", "MEAN", "Pooling", "Reduction",
                "aten::adaptive_avg_pool2d", "Mean (ND) Reduce2", "ReduceMean", "Pool"],
    "activation": ["Relu", "Clip", "RELU6", "LOGISTIC", "HARD_SWISH", "ReLU", "ReLU6", "Sigmoid", "aten::hardtanh",
                   "aten::relu_", "HardSwish (NC, F32)", "Neuron", "Gelu", "Clamp (NC, F32)"],
    "elementwise": ["Add", "Mul", "ADD", "MUL", "BinaryOp", "Eltwise", "UnaryOp", "aten::add", "Add (ND) #1",
                    "Multiply (ND)", "ElementWiseAdd", "QLinearAdd"],
    "normalization": ["BatchNormalization", "LayerNormalization", "BatchNorm", "LayerNorm", "Scale",
                      "aten::layer_norm", "native_layer_norm.out", "SkipLayerNormalization"],
    "data_movement": ["Concat", "Reshape", "Transpose", "ReorderOutput", "ReorderInput", "CONCATENATION", "RESHAPE",
                      "TRANSPOSE", "QUANTIZE", "DEQUANTIZE", "Raster", "ConvertTensor", "Permute", "Flatten", "Split",
                      "aten::flatten", "aten::view", "Transpose (ND, X32)", "Static Reshape (NC)", "Copy (NC, X32)",
                      "Convert (NC, F32, QD8)", "QuantizeLinear", "DequantizeLinear", "Cast", "Gather",
                      "expand_copy.out", "aten::detach"],
    "softmax": ["Softmax", "SOFTMAX", "aten::softmax", "Softmax (NC, F32)", "LogSoftmax"],
    "other": ["Resize", "RESIZE_BILINEAR", "Interp", "aten::upsample_bilinear2d", "aten::embedding", "Dropout"],
}


@pytest.mark.parametrize("cls", list(NAMES))
def test_taxonomy_maps_each_librarys_names(cls: str) -> None:
    for name in NAMES[cls]:
        assert taxonomy.classify(name) == (cls, True), name


def test_taxonomy_lists_what_it_does_not_know_and_tells_convert_from_conv() -> None:
    assert taxonomy.classify("MysteryOp") == ("other", False)
    assert taxonomy.classify("While") == ("other", False)
    assert taxonomy.classify("ConvertTensor")[0] == "data_movement"
    assert taxonomy.classify("Conv", depthwise=True)[0] == "depthwise_conv"
    assert taxonomy.classify("ConvRelu")[0] == "conv"  # a fused op counts toward its principal op
    assert taxonomy.classify("AddRelu")[0] == "elementwise"


def test_golden_profile_v1_reads() -> None:
    data = json.loads((GOLDEN / "op_profile_v1.json").read_text())
    profile = from_dict(data)
    assert profile.schema == 1 and len(profile.ops) == 5
    assert profile.unmapped() == ["MysteryOp"]  # listed, never dropped
    assert profile.by_class()["conv"] == pytest.approx(0.021)
    assert profile.coverage == pytest.approx(0.0245 / 0.031)
    assert from_dict(profile.to_dict()) == profile


def test_unknown_schema_and_bad_profiles_are_one_line_errors() -> None:
    data = json.loads((GOLDEN / "op_profile_v1.json").read_text())
    with pytest.raises(ValueError, match="schema 7 is not one this version reads"):
        from_dict({**data, "schema": 7})
    with pytest.raises(ValueError, match="must say why"):
        OpProfile("tflite", "2", "m", "cpu", "fp32", 1, "none", 0, None)
    with pytest.raises(ValueError, match="finite"):
        op("x", "Conv", float("nan"))


def _profile(lib: str, model: str, cache: Path) -> OpProfile:
    artifact = zoo.artifact(model, lib, "fp32", cache)
    done = subprocess.run([sys.executable, "-m", "pytest_mobiledl.ops", "--lib", lib, "--model", str(artifact.path),
                           "--model-id", model, "--runs", "5", "--warmup", "2"],
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return from_dict(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("lib", ["onnxruntime", "mnn", "ncnn", "pytorch", "executorch"])
def test_real_profile_of_a_tiny_model_maps_every_op(lib: str, model_cache: Path) -> None:
    if not engines.installed(engines.get(lib)):
        pytest.skip(f"{lib} is not installed")
    profile = _profile(lib, "tiny_cnn", model_cache)
    if not profile.ops:  # ncnn's approximation is dropped where it does not track the latency: said why
        assert lib == "ncnn" and "approximation not used" in profile.note
        return
    assert profile.unmapped() == [], profile.unmapped()
    assert profile.by_class()["conv"] > 0  # tiny_cnn is two convolutions, a pooling and a dense layer
    assert profile.latency_ms and profile.coverage is not None and profile.coverage > 0
    assert ("approximation" in profile.flags) == (lib == "ncnn")


@pytest.mark.slow
@pytest.mark.parametrize("model", ["bert_tiny", "kws_lstm", "mobilenet_v2"])
@pytest.mark.parametrize("lib", ["onnxruntime", "mnn", "ncnn", "pytorch", "executorch"])
def test_real_profiles_of_zoo_models(lib: str, model: str, model_cache: Path) -> None:
    try:
        profile = _profile(lib, model, model_cache)
    except (ConversionError, AssertionError) as exc:  # a conversion the library refuses: a finding, not a failure
        pytest.skip(str(exc).splitlines()[0])
    known_unmapped = {"While"}  # MNN's control flow (kws_lstm, bert_tiny): listed as other
    assert set(profile.unmapped()) <= known_unmapped


def test_litert_on_the_host_says_why_there_is_no_profile(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "pytest_mobiledl.ops", "--lib", "tflite", "--model",
                           str(tmp_path / "unused.tflite"), "--model-id", "m"], capture_output=True, text=True,
                          timeout=60, check=False)
    profile = from_dict(json.loads(done.stdout.strip().splitlines()[-1]))
    assert not profile.ops and "no op profiler" in profile.note


def _synthetic(lib: str, conv: float, act: float, pool: float, latency: float, version: str = "1") -> OpProfile:
    ops = (op("c", "Conv", conv), op("r", "Relu", act), op("p", "GlobalAveragePool", pool))
    return OpProfile(lib, version, "m", "cpu", "fp32", 1, "test", 5, latency, ops=tuple(o for o in ops if o.ms))


def test_projection_takes_the_fastest_per_class_and_spreads_fused_activations() -> None:
    # a fuses its activation into the convolution (0 ms of its own); b does not.
    profiles = [_synthetic("a", 8.0, 0.0, 1.0, 9.0), _synthetic("b", 6.0, 2.0, 0.5, 8.5)]
    df = report_ops.frame(profiles)
    table = report_ops.projection(df)
    row = table.iloc[0]
    assert row["best single"].startswith("b 8.5")
    # conv (with activations): a 8, b 8 → 8; pooling: 0.5 → 8.5, no saving over b (not 6 + 0 + 0.5).
    assert row["best of all ms (raw – scaled)"].startswith("8.5")
    classes = report_ops.classes(df)
    assert set(classes["op class"]) == {"conv", "activation", "pooling"}
    assert classes.set_index("op class").loc["pooling", "fastest"] == "b"
    assert report_ops.differ_most(df)["op class"].iloc[0] == "pooling"  # conv (with activations) is 8 ms in both


def test_changes_name_the_op_class_that_moved() -> None:
    before = [_synthetic("a", 8.0, 1.0, 1.0, 10.0, "1")]
    after = [_synthetic("a", 8.0, 1.0, 3.0, 12.0, "2")]
    table = report_ops.changes(before, after)
    assert table.iloc[0]["op class"] == "pooling" and table.iloc[0]["Δ ms"] == 2.0
    assert table.iloc[0]["builds"] == "a 1 → a 2"


def test_variant_builds_are_compared_with_the_first() -> None:
    base = _synthetic("a", 8.0, 1.0, 1.0, 10.0).with_(variant="old")
    new = _synthetic("a", 9.5, 1.0, 1.0, 11.5).with_(variant="new")
    table = report_ops.variant_changes([new, base], order=["old", "new"])
    assert table.iloc[0]["op class"] == "conv" and table.iloc[0]["builds"] == "a@old 1 → a@new 1"
    assert set(report_ops.frame([base, new])["lib"]) == {"a@old", "a@new"}
