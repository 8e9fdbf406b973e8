"""The user's TensorFlow models (``.keras``, ``.h5``, SavedModel folders): read, converted and run by TensorFlow.

Every use goes through one ``tf.function`` with a fixed input signature (the pinned shapes, named
as the model names its inputs), which returns the outputs as a tuple: a Keras model in the order
it declares them, a SavedModel signature's by output name. The same function feeds every route:

- LiteRT: ``tf.lite.TFLiteConverter.from_concrete_functions``, of the function with its
  variables frozen into constants (TensorFlow's own converter: NHWC
  as the model is, no PAD or TRANSPOSE ops added). fp16 is its float16 weight quantization; int8
  its full-integer quantization (``TFLITE_BUILTINS_INT8``) calibrated by its own
  ``representative_dataset`` on ``CALIBRATION_SAMPLES`` seeded inputs (seeds 1 … N, never the
  parity input, seed 0), inputs and outputs left float.
- ONNX (for ONNX Runtime, ncnn, MNN): tf2onnx's ``from_function`` at ``OPSET``; each library then
  takes that file along its ``.onnx`` route. tf2onnx keeps the model's NHWC inputs (it adds
  the transposes).

TensorFlow loads only in conversion and inspection processes. Imported lazily everywhere. The
ONNX routes run tf2onnx and the reference in a process of their own (``conversion.to_onnx_apart``):
MNN's converter carries its own copy of TensorFlow's protobuf descriptors, and loading both in one
process aborts it (``Symbol name "tensorflow.ResourceHandleProto" conflicts``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from pytest_mobiledl.tensors import TensorSpec

SIGNATURE = "serving_default"
CALIBRATION_SAMPLES = 16
OPSET = 18
#: The ops that are multiply-accumulates, as FlopCounterMode counts them for a PyTorch model.
MAC_OPS = ("Conv2D", "DepthwiseConv2dNative", "MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3")
INSTALL = "TensorFlow models need the tensorflow extra: pip install -c constraints.txt 'pytest-mobiledl[tensorflow]'"


def _tf() -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # its start-up banner is not the user's business
    try:
        import tensorflow as tf
    except ModuleNotFoundError:
        raise ValueError(INSTALL) from None
    return tf


def declared_inputs(path: Path) -> list[tuple[str, tuple[Any, ...], str]]:
    """Name, dims (``"?"`` where dynamic) and dtype of each input, in the model's order."""
    if path.is_dir():
        signature = _signature(_saved_model(path))
        specs = signature.structured_input_signature[1]
        return [(name, _dims(spec.shape), spec.dtype.name) for name, spec in sorted(specs.items())]
    model = _keras(path)
    return [(t.name, _dims(t.shape), str(t.dtype)) for t in model.inputs]


def function(path: Path, specs: Sequence[TensorSpec]) -> tuple[Any, Any]:
    """A ``tf.function`` of the model at the pinned shapes, and the object holding its variables."""
    tf = _tf()
    signature = [tf.TensorSpec(s.shape, s.dtype, name=s.name) for s in specs]
    if path.is_dir():
        holder = _saved_model(path)
        serve, names = _signature(holder), [s.name for s in specs]

        def call(*xs: Any) -> tuple[Any, ...]:
            out = serve(**dict(zip(names, xs, strict=True)))
            return tuple(out[k] for k in sorted(out))
    else:
        holder = _keras(path)

        def call(*xs: Any) -> tuple[Any, ...]:
            out = holder(list(xs) if len(xs) > 1 else xs[0], training=False)
            if isinstance(out, dict):
                return tuple(out[k] for k in sorted(out))
            return tuple(out) if isinstance(out, (list, tuple)) else (out,)
    return tf.function(call, input_signature=signature), holder


def run(path: Path, specs: Sequence[TensorSpec], feeds: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The model's outputs, run by TensorFlow itself: what every artifact is compared with."""
    fn, _ = function(path, specs)
    return [t.numpy() for t in fn(*feeds)]


def to_tflite(path: Path, specs: Sequence[TensorSpec], precision: str, out: Path) -> None:
    tf = _tf()
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    fn, _ = function(path, specs)
    # Frozen first: given a Keras 3 model's variables (the model as trackable object), TF 2.21's
    # converter wrote a model whose outputs were all NaN.
    frozen = convert_variables_to_constants_v2(fn.get_concrete_function())
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
    if precision == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif precision == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: _calibration(specs)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    elif precision != "fp32":
        raise ValueError(f"TensorFlow's converter has no {precision} route here (fp32, fp16, int8)")
    out.write_bytes(converter.convert())


def to_onnx(path: Path, specs: Sequence[TensorSpec], out: Path) -> None:
    tf = _tf()
    import tf2onnx

    fn, _ = function(path, specs)
    signature = [tf.TensorSpec(s.shape, s.dtype, name=s.name) for s in specs]
    tf2onnx.convert.from_function(fn, input_signature=signature, opset=OPSET, output_path=str(out))


def counts(path: Path, specs: Sequence[TensorSpec]) -> tuple[int, int]:
    """Trainable parameters and multiply-accumulates of one forward pass at the pinned shapes.

    MACs are counted from the model's own graph, frozen (function calls inlined) so every op has
    static shapes: convolutions, depthwise convolutions and matrix products (``MAC_OPS``), as
    ``counts.count`` does for a PyTorch model; element-wise work counts as nothing."""
    import numpy as np
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    fn, holder = function(path, specs)
    graph = convert_variables_to_constants_v2(fn.get_concrete_function()).graph
    macs = sum(_macs(op) for op in graph.get_operations() if op.type in MAC_OPS)
    params = sum(int(np.prod(v.shape)) for v in getattr(holder, "trainable_variables", ()))
    return params, macs


def _macs(op: Any) -> int:
    import numpy as np

    out = [int(d) for d in op.outputs[0].shape]
    kernel = [int(d) for d in op.inputs[1].shape]
    if op.type == "Conv2D":  # kernel (kh, kw, cin, cout): each output element sums kh·kw·cin
        return int(np.prod(out)) * kernel[0] * kernel[1] * kernel[2]
    if op.type == "DepthwiseConv2dNative":  # kernel (kh, kw, cin, multiplier)
        return int(np.prod(out)) * kernel[0] * kernel[1]
    # Matrix products: every output element sums over the contracted dimension.
    a = [int(d) for d in op.inputs[0].shape]
    transposed = op.get_attr("transpose_a" if op.type == "MatMul" else "adj_x")
    return int(np.prod(out)) * (a[-2] if transposed else a[-1])


def _calibration(specs: Sequence[TensorSpec]) -> Iterator[list[np.ndarray]]:
    from pytest_mobiledl.tensors import random_inputs

    for seed in range(1, CALIBRATION_SAMPLES + 1):
        feeds = random_inputs(specs, seed)
        yield [feeds[s.name] for s in specs]


def _keras(path: Path) -> Any:
    _tf()
    import keras

    try:
        return keras.models.load_model(str(path), compile=False)
    except Exception as exc:  # noqa: BLE001 - Keras raises several kinds for a bad file
        raise ValueError(f"not a readable Keras model ({type(exc).__name__}: {exc})".replace("\n", " ")) from None


def _saved_model(path: Path) -> Any:
    tf = _tf()
    try:
        return tf.saved_model.load(str(path))
    except Exception as exc:  # noqa: BLE001 - TensorFlow raises several kinds for a bad folder
        raise ValueError(f"not a readable SavedModel ({type(exc).__name__}: {exc})".replace("\n", " ")) from None


def _signature(loaded: Any) -> Any:
    if SIGNATURE not in loaded.signatures:
        raise ValueError(f"the SavedModel has no {SIGNATURE!r} signature (it has: {', '.join(loaded.signatures)})")
    return loaded.signatures[SIGNATURE]


def _dims(shape: Any) -> tuple[Any, ...]:
    return tuple(int(d) if d is not None else "?" for d in shape)
