"""ONNX Runtime: ``torch.onnx.export`` → ``.onnx``, run by ``onnxruntime.InferenceSession``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_mobiledl.tensors import TensorSpec

if TYPE_CHECKING:
    import numpy as np

    from pytest_mobiledl.zoo import ModelSpec

LIB = "onnxruntime"
MODULE = "onnxruntime"
DIST = "onnxruntime"
EXTRA = "onnxruntime"
SUFFIX = ".onnx"
HOST_BACKENDS = ("cpu",)
PRECISIONS = ("fp32",)
CONVERTERS = ("torch", "onnx", "onnxscript")
RUNTIME = ("onnxruntime",)
FLAGS: tuple[str, ...] = ()
OPSET = 18  # the dynamo exporter writes 18; asking lower makes it try (and fail) to down-convert

_DTYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(int64)": "int64",
           "tensor(int32)": "int32", "tensor(int8)": "int8", "tensor(uint8)": "uint8"}


def convert(model: ModelSpec, precision: str, out: Path) -> None:
    import torch

    module, example = model.instantiate()
    # The dynamo exporter is torch's recommended one since 2.9; it writes out in one file.
    program = torch.onnx.export(module, example, input_names=[t.name for t in model.inputs],
                                opset_version=OPSET, dynamo=True, external_data=False)
    assert program is not None  # dynamo=True always returns the program
    program.save(str(out), external_data=False)


def open_session(path: str, threads: int, backend: str, precision: str) -> _Session:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    return _Session(ort.InferenceSession(path, options, providers=["CPUExecutionProvider"]))


def engine_options(backend: str, precision: str) -> dict[str, Any]:
    return {"provider": "CPUExecutionProvider", "graph_optimization": "all"}


class _Session:
    def __init__(self, session: Any) -> None:
        self._session = session

    def inputs(self) -> Sequence[TensorSpec]:
        specs = []
        for arg in self._session.get_inputs():
            if not all(isinstance(d, int) for d in arg.shape):
                raise ValueError(f"input {arg.name!r} has dynamic shape {arg.shape}")
            specs.append(TensorSpec(arg.name, tuple(arg.shape), _DTYPES.get(arg.type, "float32")))
        return specs

    def run(self, feeds: Mapping[str, np.ndarray]) -> Sequence[np.ndarray]:
        return self._session.run(None, dict(feeds))  # type: ignore[no-any-return]
