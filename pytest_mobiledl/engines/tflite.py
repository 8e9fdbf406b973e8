"""TFLite / LiteRT: ``litert_torch.convert`` → ``.tflite``, run by ai-edge-litert's Interpreter.

litert-torch is Google's converter for PyTorch models; it keeps the source's NCHW inputs and
inserts the transposes TFLite needs inside the graph. XNNPACK is TFLite's default CPU delegate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_mobiledl.tensors import TensorSpec

if TYPE_CHECKING:
    import numpy as np

    from pytest_mobiledl.zoo import ModelSpec

LIB = "tflite"
MODULE = "ai_edge_litert"
DIST = "ai-edge-litert"
EXTRA = "tflite"
SUFFIX = ".tflite"
HOST_BACKENDS = ("cpu",)
PRECISIONS = ("fp32",)
CONVERTERS = ("torch", "litert-torch")
RUNTIME = ("ai_edge_litert.interpreter",)
FLAGS: tuple[str, ...] = ()


def convert(model: ModelSpec, precision: str, out: Path) -> None:
    import litert_torch

    module, example = model.instantiate()
    litert_torch.convert(module, example).export(str(out))


def open_session(path: str, threads: int, backend: str, precision: str) -> _Session:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path, num_threads=threads)
    interpreter.allocate_tensors()
    return _Session(interpreter)


def engine_options(backend: str, precision: str) -> dict[str, Any]:
    return {"delegate": "xnnpack"}


class _Session:
    def __init__(self, interpreter: Any) -> None:
        self._interpreter = interpreter
        self._inputs = interpreter.get_input_details()
        self._outputs = interpreter.get_output_details()

    def inputs(self) -> Sequence[TensorSpec]:
        return [TensorSpec(d["name"], tuple(int(x) for x in d["shape"]), d["dtype"].__name__) for d in self._inputs]

    def run(self, feeds: Mapping[str, np.ndarray]) -> Sequence[np.ndarray]:
        # One inference as an app does it: copy inputs in, invoke, copy outputs out.
        for detail in self._inputs:
            self._interpreter.set_tensor(detail["index"], feeds[detail["name"]])
        self._interpreter.invoke()
        return [self._interpreter.get_tensor(d["index"]) for d in self._outputs]
