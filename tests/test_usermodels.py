"""The user's own model files: routes, parity against the file itself, and clear errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import onnx
import pytest

from pytest_mobiledl import usermodels, zoo
from pytest_mobiledl.usermodels import UserModel


@pytest.fixture
def onnx_file(model_cache: Path, tmp_path: Path) -> Path:
    """A real ONNX model of the user's (here: the zoo's tiny_cnn export), with a dynamic batch."""
    model = onnx.load(str(zoo.artifact("tiny_cnn", "onnxruntime", "fp32", model_cache).path))
    dim = model.graph.input[0].type.tensor_type.shape.dim[0]
    dim.Clear()
    dim.dim_param = "batch"
    path = tmp_path / "My Net-v2.onnx"
    onnx.save(model, str(path))
    return path


def test_ids_pins_and_dynamic_dims(onnx_file: Path) -> None:
    assert usermodels.model_id(onnx_file) == "my_net_v2"
    assert usermodels.parse_pins(["input=1,3,32,32"]) == (("input", (1, 3, 32, 32)),)
    with pytest.raises(ValueError, match="is not name=d1,d2"):
        usermodels.parse_pins(["input=1,x"])
    with pytest.raises(ValueError, match=r"dynamic dims \['batch', 3, 32, 32\]: pin them with --input-shape "
                                         r"input=N,3,32,32"):
        usermodels.inputs(onnx_file, {})
    with pytest.raises(ValueError, match="does not fit its dims"):
        usermodels.inputs(onnx_file, {"input": (1, 3, 64, 64)})
    [spec] = usermodels.inputs(onnx_file, {"input": (1, 3, 32, 32)})
    assert (spec.name, spec.shape, spec.dtype) == ("input", (1, 3, 32, 32), "float32")


@pytest.fixture
def tflite_file(model_cache: Path, tmp_path: Path) -> Path:
    path = tmp_path / "their_net.tflite"
    shutil.copy(zoo.artifact("tiny_cnn", "tflite", "fp32", model_cache).path, path)
    return path


@pytest.mark.parametrize(("lib", "precision", "kind"), [
    ("ncnn", "fp32", "onnx"), ("onnxruntime", "fp32", "onnx"), ("onnxruntime", "int8", "onnx"), ("mnn", "fp32", "onnx"),
    ("tflite", "fp32", "tflite"),
])
def test_a_file_converts_along_each_route_with_parity_against_itself(
        lib: str, precision: str, kind: str, onnx_file: Path, tflite_file: Path, tmp_path: Path) -> None:
    path, pins = (onnx_file, (("input", (1, 3, 32, 32)),)) if kind == "onnx" else (tflite_file, ())
    source = UserModel("user_net", path, pins)
    artifact = zoo.artifact("user_net", lib, precision, tmp_path / "cache", source=source)
    assert artifact.parity["passed"], artifact.parity
    assert artifact.inputs[0].shape == (1, 3, 32, 32)


def test_benchmarking_a_file_end_to_end(bench_dir: pytest.Pytester, onnx_file: Path) -> None:
    result = bench_dir.runpytest_subprocess("-p", "no:cacheprovider", f"--models={onnx_file}",
                                            "--input-shape=input=1,3,32,32", "--libs=ncnn,pytorch",
                                            "--iterations=5", "-rs", "--benchmark-json=out.json")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*pytorch has no route from ONNX models (.onnx; it converts PyTorch, "
                                 "torch.export models)*"])
    [bench] = json.loads((bench_dir.path / "out.json").read_text())["benchmarks"]
    assert bench["param"] == "host-ncnn-my_net_v2-cpu-fp32-t1" and bench["extra_info"]["parity"]["passed"]


@pytest.mark.parametrize(("make", "args", "message"), [
    (None, ["--models=missing.onnx"], "*--models=missing.onnx: no model file missing.onnx*"),
    ("bad", [], "*--models: */bad.onnx: not a readable ONNX model (DecodeError*"),
    ("dynamic", [], "*--models: */My Net-v2.onnx: input 'input' has dynamic dims [[]'batch', 3, 32, 32]: pin "
                    "them with --input-shape input=N,3,32,32*"),
    ("dynamic", ["--input-shape=input=1,3,32,32", "--input-shape=image=1,3,32,32"],
     "*--input-shape names image, but no model file has such an input (they have: input)*"),
    ("dynamic", ["--input-shape=input=1,x"], "*--input-shape=input=1,x: 'input=1,x' is not name=d1,d2,…*"),
])
def test_bad_model_files_are_one_usage_line(bench_dir: pytest.Pytester, onnx_file: Path, make: str | None,
                                            args: list[str], message: str) -> None:
    if make == "bad":
        (bench_dir.path / "bad.onnx").write_bytes(b"not a model")
        args = [f"--models={bench_dir.path / 'bad.onnx'}"]
    elif make == "dynamic":
        shutil.copy(onnx_file, bench_dir.path)
        args = [f"--models={bench_dir.path / onnx_file.name}", *args]
    result = bench_dir.runpytest_subprocess("--collect-only", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stderr.str()
