"""``python -m pytest_mobiledl models``: listing and building ahead of time, in real subprocesses."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path


def mobiledl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest_mobiledl", *args], capture_output=True, text=True,
                          timeout=600, check=False)


def test_build_then_list_shows_size_and_parity(tmp_path: Path) -> None:
    args = ["--models=tiny_cnn", "--libs=onnxruntime", f"--model-cache={tmp_path}"]
    listed = mobiledl("models", "list", *args)
    assert listed.returncode == 0, listed.stderr
    assert "| tiny_cnn " in listed.stdout and "| not built " in listed.stdout
    assert "input:1x3x32x32" in listed.stdout and "1.56 K" in listed.stdout  # params, computed
    built = mobiledl("models", "build", *args)
    assert built.returncode == 0, built.stderr
    assert "1 of 1 artifacts built and parity-checked" in built.stdout
    assert "100%" in built.stderr  # the progress bar
    listed = mobiledl("models", *args)
    assert re.search(r"\d+\.\d MB \d+ s ok", listed.stdout), listed.stdout


def test_bad_choice_is_one_line() -> None:
    done = mobiledl("models", "--libs=caffe")
    assert done.returncode == 2
    assert done.stderr.strip() == ("mobiledl: --libs: caffe is not valid; choose from all, onnxruntime, tflite, ncnn, "
                                   "mnn, pytorch, executorch, mace, snpe")


def test_a_model_cache_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    done = mobiledl("models", "list", "--models=tiny_cnn", f"--model-cache={tmp_path / 'file'}")
    assert done.returncode == 2
    assert done.stderr.strip() == (f"mobiledl: --model-cache={tmp_path / 'file'}: {tmp_path / 'file'} is a file, "
                                   "not a folder; give a folder for converted models")


def test_a_model_files_listing_tells_no_route_from_not_built(model_cache: Path, tmp_path: Path) -> None:
    from pytest_mobiledl import zoo

    path = tmp_path / "net.onnx"
    path.write_bytes(zoo.artifact("tiny_cnn", "onnxruntime", "fp32", model_cache).path.read_bytes())
    done = mobiledl("models", f"--models={path}", "--libs=onnxruntime,ncnn", "--precisions=fp32,int8",
                    f"--model-cache={tmp_path / 'cache'}")
    assert done.returncode == 0, done.stderr
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[3:-1]]
            for line in done.stdout.splitlines() if line.startswith("| ") and "library" not in line}
    assert rows["onnxruntime"] == ["not built", "not built"]  # fp32, int8
    assert rows["ncnn"] == ["not built", "no route"]  # ncnn has no int8 route
    assert rows["pytorch"] == ["no route", "no route"]  # no route from an ONNX file at all
    assert rows["tflite"] == ["no route", "no route"]  # LiteRT takes no .onnx
    assert rows["mnn"] == ["not in --libs", "not in --libs"]  # it has a route; it was not asked for
    assert "—" not in done.stdout
