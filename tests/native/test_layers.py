"""The phone tools' per-layer output, parsed into op profiles: samples laid out as each tool's
printing code writes them (stats_calculator.cc, ncnn's benchmark.cpp, MNN's Profiler::printTable;
SNPE's diagview as its SDK documents it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_mobiledl.native import mnn, ncnn, snpe, tflite
from pytest_mobiledl.ops.profile import from_tool

SAMPLES = Path(__file__).resolve().parents[2] / "native_runners"


def sample(lib: str, name: str) -> str:
    return (SAMPLES / lib / "samples" / name).read_text()


def test_tflite_op_profiling_table_of_the_regular_runs() -> None:
    rows = tflite.parse_layers(sample("tflite", "layers/op_profiling_cpu.txt"))
    assert [r[1] for r in rows] == ["CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D", "ADD", "MEAN", "FULLY_CONNECTED",
                                    "SOFTMAX"]  # not AllocateTensors: the initialization's table is skipped
    assert rows[0][0] == "MobilenetV2/Conv/Relu6" and rows[0][2] == pytest.approx(0.398)
    text = sample("tflite", "layers/op_profiling_cpu.txt")
    profile = from_tool("tflite", text, "mobilenet_v2", "cpu", "fp32", 1, 0.912)
    by_class = profile.by_class()
    assert by_class["depthwise_conv"] == pytest.approx(0.205) and by_class["softmax"] == pytest.approx(0.009)
    assert profile.unmapped() == [] and profile.coverage == pytest.approx(0.884 / 0.912)


def test_tflite_delegate_internal_ops_replace_the_delegate_node() -> None:
    text = sample("tflite", "layers/op_profiling_cpu.txt")
    delegated = text.replace("\t                 CONV_2D\t            0.000",
                             "\t   TfLiteXNNPackDelegate\t            0.000", 1)
    head = "============================== Run Order ==============================\n"
    table = text[text.index(head, text.index("Operator-wise")):].split("\n\n")[0]
    inner = table.replace("CONV_2D", "Convolution (NHWC, F32) IGEMM")
    rows = tflite.parse_layers(delegated + "\nDelegate internal: \n" + inner + "\n\n")
    assert "TfLiteXNNPackDelegate" not in [r[1] for r in rows]
    assert "Convolution (NHWC, F32) IGEMM" in [r[1] for r in rows]


def test_tflite_real_outputs_parse() -> None:
    # A TF 2.3 benchmark_model's own output (kept under samples/realworld).
    rows = tflite.parse_layers(sample("tflite", "realworld/tf23_op_profiling_warmup_secs.txt"))
    assert rows[0][:2] == ("MobilenetV2/Conv/Relu6", "CONV_2D")
    # Fully delegated to XNNPACK without delegate-internal profiling: one node, listed unmapped.
    profile = from_tool("tflite", sample("tflite", "cpu_op_profiling.txt"), "mobilenet_v2", "cpu", "fp32", 4)
    assert profile.unmapped() == ["TfLiteXNNPackDelegate"] and profile.total_ms > 0


def test_ncnn_per_layer_lines_averaged_over_the_runs() -> None:
    rows = {r[0]: r for r in ncnn.parse_layers(sample("ncnn", "layers/layers_cpu.txt"))}
    assert rows["convdwrelu_0"][1] == "ConvolutionDepthWise"
    assert rows["convrelu_0"][2] == pytest.approx(0.53)  # 0.52, 0.53, 0.54 over three runs
    profile = from_tool("ncnn", sample("ncnn", "layers/layers_cpu.txt"), "mobilenet_v2", "cpu", "fp32", 1)
    assert profile.unmapped() == [] and profile.by_class()["dense"] > 0


def test_mnn_time_profile_table_by_node_name() -> None:
    rows = mnn.parse_layers(sample("mnn", "layers/time_profile_cpu.txt"))
    assert len(rows) == 8 and rows[2] == ("ConvolutionDepthwise1", "ConvolutionDepthwise", 0.2043, False)
    profile = from_tool("mnn", sample("mnn", "layers/time_profile_cpu.txt"), "mobilenet_v2", "cpu", "fp32", 1)
    assert profile.unmapped() == [] and profile.by_class()["data_movement"] == pytest.approx(0.0121)


def test_snpe_layer_times_are_listed_unmapped_with_their_time() -> None:
    profile = from_tool("snpe", sample("snpe", "layers/layers_cpu_detailed.txt"), "mobilenet_v2", "cpu", "fp32", 1)
    assert len(profile.ops) == 8 and profile.unmapped() == ["?"]
    assert profile.total_ms == pytest.approx(19.248)


@pytest.mark.parametrize(("parse", "lib", "name"), [
    (tflite.parse_layers, "tflite", "cpu_4threads.txt"), (ncnn.parse_layers, "ncnn", "cpu_4threads.txt"),
    (mnn.parse_layers, "mnn", "cpu_4threads.txt"), (snpe.parse_layers, "snpe", "cpu.txt")])
def test_output_without_per_layer_times_is_a_clear_error(parse: object, lib: str, name: str) -> None:
    path = SAMPLES / lib / "samples" / name
    if not path.exists():
        pytest.skip(f"no {name} sample for {lib}")
    with pytest.raises(ValueError, match="no "):
        parse(path.read_text())  # type: ignore[operator]
