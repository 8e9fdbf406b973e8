"""Which route each library takes from each format of the user's model, or why it has none.

PyTorch sources (``.py``, ``.pt2``) take the zoo's own route of every library (each engine's
``convert``). TensorFlow models reach LiteRT through TensorFlow's converter and the ONNX-reading
libraries through tf2onnx (``tfmodels``). ``.onnx`` and ``.tflite`` files take the engines'
``FILE_ROUTES``. What ``mobiledl models --models=FILE`` lists and the matrix skips by.
"""

from __future__ import annotations

from typing import Any

from pytest_mobiledl import engines
from pytest_mobiledl.modelspec import SAVED_MODEL, TF_FORMATS, TORCH_FORMATS

#: Each library's route from a PyTorch module (the zoo's, see each engine's docstring).
TORCH = {
    "onnxruntime": "torch.onnx.export (dynamo) → .onnx",
    "tflite": "litert-torch → .tflite",
    "ncnn": "torch.jit.trace → pnnx → .ncnn.param/.bin",
    "mnn": "torch.onnx.export (dynamo) → .onnx → MNN converter → .mnn",
    "pytorch": "torch.jit.trace → freeze → .ptl (lite interpreter)",
    "executorch": "torch.export → XNNPACK lowering → .pte",
}
#: TorchScript routes start from a traced module: a program's module may not trace.
PT2_TRACED = {"ncnn", "pytorch"}
#: Each library's route from a TensorFlow model.
TF = {
    "tflite": "tf.lite.TFLiteConverter → .tflite",
    "onnxruntime": "tf2onnx → .onnx",
    "ncnn": "tf2onnx → .onnx → pnnx → .ncnn.param/.bin",
    "mnn": "tf2onnx → .onnx → MNN converter → .mnn",
}
#: Each library's route from the user's .onnx or .tflite file.
FILES = {
    (".onnx", "onnxruntime"): "the file itself (fp16/int8: ONNX Runtime's tools)",
    (".onnx", "ncnn"): "pnnx → .ncnn.param/.bin",
    (".onnx", "mnn"): "MNN converter → .mnn",
    (".tflite", "tflite"): "the file itself (fp16/int8: AI Edge Quantizer)",
}
NAMES = {".onnx": "ONNX", ".tflite": "TFLite", ".py": "PyTorch", ".pt2": "torch.export", ".keras": "Keras",
         ".h5": "Keras", SAVED_MODEL: "TensorFlow SavedModel"}


def route(lib: str, fmt: str) -> str:
    """How ``lib`` converts a model of format ``fmt``; ValueError saying why it has no route."""
    engine = engines.get(lib)
    unavailable: str | None = getattr(engine, "UNAVAILABLE", None)
    if unavailable:
        raise ValueError(unavailable)
    if fmt in TORCH_FORMATS and lib in TORCH:
        traced = fmt == ".pt2" and lib in PT2_TRACED
        return TORCH[lib] + (" (of the program's module; skipped if it does not trace)" if traced else "")
    if fmt in TF_FORMATS and lib in TF:
        return TF[lib]
    if (fmt, lib) in FILES:
        return FILES[(fmt, lib)]
    takes = [f for f in NAMES if _has(lib, f)]
    known = f"it converts {', '.join(dict.fromkeys(NAMES[f] for f in takes))} models" if takes else "none"
    raise ValueError(f"{lib} has no route from {NAMES.get(fmt, fmt)} models ({fmt}; {known})")


def reason(lib: str, fmt: str) -> str | None:
    try:
        route(lib, fmt)
    except ValueError as exc:
        return str(exc)
    return None


def converter(lib: str, fmt: str) -> Any:
    """The engine's converter for a format that reaches it in one step (not TensorFlow's)."""
    route(lib, fmt)
    engine = engines.get(lib)
    return engine.convert if fmt in TORCH_FORMATS else engines.file_route(engine, fmt)


def _has(lib: str, fmt: str) -> bool:
    return (fmt in TORCH_FORMATS and lib in TORCH) or (fmt in TF_FORMATS and lib in TF) or (fmt, lib) in FILES
