"""Requests and sample files shared by the native-tool tests (pure parsing, no device).

A plain module, not a conftest: tests import what they use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytest_mobiledl.native import SPECS, RunRequest

SAMPLES_ROOT = Path(__file__).resolve().parents[2] / "native_runners"

RUNNERS = "/data/local/tmp/mobiledl/runners"
MODELS = "/data/local/tmp/mobiledl/models"
WORK = "/data/local/tmp/mobiledl/work"

#: A model file of each library's format, as the plugin would push it.
MODEL = {
    "tflite": f"{MODELS}/mobilenet_v2.tflite",
    "ncnn": f"{MODELS}/mobilenet_v2.param",
    "mnn": f"{MODELS}/mnn_mobilenet_v2/mobilenet_v2.mnn",
    "pytorch": f"{MODELS}/mobilenet_v2.pt",
    "executorch": f"{MODELS}/mobilenet_v2_xnnpack.pte",
    "mace": f"{MODELS}/mobilenet_v2.pb",
    "snpe": f"{MODELS}/mobilenet_v2.dlc",
    "onnxruntime": f"{MODELS}/mobilenet_v2.onnx",
}


def make_request(lib: str, **changes: Any) -> RunRequest:
    values: dict[str, Any] = {
        "binary": f"{RUNNERS}/{lib}/{SPECS[lib].binary}",
        "model": MODEL[lib],
        "work_dir": WORK,
        "backend": "cpu",
        "precision": "fp32",
        "threads": 4,
        "warmup": 1,
        "iterations": 50,
        "input_shapes": ((1, 3, 224, 224),),
        "input_names": ("input",),
        "output_names": ("output",),
        "output_shapes": ((1, 1000),),
        "host_runner_dir": "/home/me/mobiledl-runners",
        "host_dir": "/tmp/mobiledl-run",
    }
    values.update(changes)
    return RunRequest(**values)


def sample(lib: str, name: str) -> str:
    return (SAMPLES_ROOT / lib / "samples" / name).read_text()
