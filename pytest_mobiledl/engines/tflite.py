"""TFLite / LiteRT: ``litert_torch.convert`` → ``.tflite``, run by ai-edge-litert's Interpreter.

litert-torch is Google's converter for PyTorch models; it keeps the source's NCHW inputs and
inserts the transposes TFLite needs inside the graph. XNNPACK is TFLite's default CPU delegate.

Reduced precisions quantize that fp32 model with the AI Edge Quantizer (``ai-edge-quantizer``,
Google's post-training quantizer for LiteRT models, which litert-torch itself depends on):

- fp16: float16 weight-only (``FLOAT_CASTING``, weights stored fp16 with DEQUANTIZE ops,
  compute in fp32). XNNPACK dequantizes such weights once at init; it computes in fp16 only when
  forced (``xnnpack_force_fp16``), which the Python interpreter cannot ask for.
- int8: full-integer static quantization (the ``static_wi8_ai8`` recipe: int8 weights per
  channel, int8 asymmetric activations per tensor, ranges the min and max over
  ``CALIBRATION_SAMPLES`` seeded inputs, see ``_min_max``), with the model's inputs and outputs
  left float (the quantizer's INPUT/OUTPUT ops set to NO_QUANTIZE): a QUANTIZE and a DEQUANTIZE
  op in the graph, as TFLiteConverter's default float I/O had them. Without that the model takes
  and returns int8.

  litert-torch's own PT2E route (``PT2EQuantizer`` + ``QuantConfig``) was tried first: its
  quantizer has no pattern for conv + hardtanh (ReLU6), so MobileNetV2's clamps keep the
  pre-clamp output scales, and the converted model fails int8 parity (cosine ≈ 0.97 with 4 to 64
  calibration samples), while the same PT2E model run in torch passes (0.995).

Calibration inputs are ``random_inputs(model.inputs, seed)`` for ``model.seed + 1`` … ``+ N``:
never the input parity compares on (``model.seed``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_mobiledl.tensors import TensorSpec

if TYPE_CHECKING:
    import numpy as np

    from pytest_mobiledl.modelspec import ModelSpec

LIB = "tflite"
MODULE = "ai_edge_litert"
DIST = "ai-edge-litert"
EXTRA = "tflite"
SUFFIX = ".tflite"
HOST_BACKENDS = ("cpu",)
PRECISIONS = ("fp32", "fp16", "int8")
CONVERTERS = ("torch", "litert-torch", "ai-edge-quantizer", "ai-edge-litert")
RUNTIME = ("ai_edge_litert.interpreter",)
FLAGS: tuple[str, ...] = ()
#: Seeded inputs the int8 ranges are calibrated on (seeds model.seed + 1 … + N).
CALIBRATION_SAMPLES = 16


def convert(model: ModelSpec, precision: str, out: Path) -> None:
    import litert_torch

    _check_precision(precision)
    module, example = model.instantiate()
    converted = litert_torch.convert(module, example)
    if precision == "fp32":
        converted.export(str(out))
        return
    out.write_bytes(_quantize(model, converted.model_content(), precision))


FILE_ROUTES = (".tflite",)


def convert_file(model: ModelSpec, precision: str, out: Path) -> None:
    """A user's .tflite file: itself at fp32, through the same quantizer otherwise."""
    assert model.source is not None
    _check_precision(precision)
    content = model.source.read_bytes()
    out.write_bytes(content if precision == "fp32" else _quantize(model, content, precision))


def _quantize(model: ModelSpec, content: bytes, precision: str) -> bytes:
    from ai_edge_quantizer import quantizer, recipe_manager
    from ai_edge_quantizer.algorithm_manager import AlgorithmName
    from ai_edge_quantizer.qtyping import QuantGranularity, TFLOperationName

    recipe = recipe_manager.RecipeManager()
    if precision == "fp16":
        recipe.add_weight_only_config(regex=".*", operation_name=TFLOperationName.ALL_SUPPORTED, num_bits=16,
                                      granularity=QuantGranularity.TENSORWISE,
                                      algorithm_key=AlgorithmName.FLOAT_CASTING)
    else:
        # static_wi8_ai8, with the model's own inputs and outputs left float.
        recipe.add_static_config(regex=".*", operation_name=TFLOperationName.ALL_SUPPORTED,
                                 activation_num_bits=8, weight_num_bits=8)
        for boundary in (TFLOperationName.INPUT, TFLOperationName.OUTPUT):
            recipe.add_quantization_config(regex=".*", operation_name=boundary,
                                           algorithm_key=AlgorithmName.NO_QUANTIZE)
    qt = quantizer.Quantizer(content, recipe.get_quantization_recipe())
    calibration = _min_max(qt, _calibration_data(model, content)) if qt.need_calibration else None
    return bytes(qt.quantize(calibration, enable_progress_report=False).quantized_model)


def _min_max(qt: Any, data: dict[str, list[dict[str, np.ndarray]]]) -> dict[str, Any]:
    """Each tensor's min and max over every calibration sample.

    ``Quantizer.calibrate`` merges samples by a moving average (weight 0.95 on the past), which
    keeps well inside the ranges the samples reach: on tiny_cnn that clipped activations and cost
    a max relative error of 0.34 (cosine 0.990) against 0.019 (0.99998) with the plain extremes.
    So each sample is calibrated on its own and the quantizer's ``min_max_update`` merges them.
    """
    from ai_edge_quantizer.utils.qsv_utils import min_max_update

    merged: dict[str, Any] = {}
    for key, samples in data.items():
        for sample in samples:
            for tensor, qsv in qt.calibrate({key: [sample]}).items():
                merged[tensor] = min_max_update(merged.get(tensor, {}), qsv)
    return merged


def _calibration_data(model: ModelSpec, content: bytes) -> dict[str, list[dict[str, np.ndarray]]]:
    """The seeded inputs, keyed as the quantizer's calibrator feeds the model's one signature."""
    from ai_edge_litert.interpreter import Interpreter

    from pytest_mobiledl.tensors import random_inputs

    signatures = Interpreter(model_content=content).get_signature_list()
    if len(signatures) != 1:
        raise ValueError(f"expected one signature in the converted model, got {sorted(signatures)}")
    (key, signature), = signatures.items()
    # litert-torch names positional inputs args_0, args_1, … in the source's order.
    names = [f"args_{i}" for i in range(len(model.inputs))]
    if sorted(signature["inputs"]) != sorted(names):
        raise ValueError(f"signature {key!r} has inputs {signature['inputs']}, expected {names}")
    samples = []
    for i in range(CALIBRATION_SAMPLES):
        feeds = random_inputs(model.inputs, model.seed + 1 + i)
        samples.append({name: feeds[spec.name] for name, spec in zip(names, model.inputs, strict=True)})
    return {key: samples}


def open_session(path: str, threads: int, backend: str, precision: str) -> _Session:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path, num_threads=threads)
    interpreter.allocate_tensors()
    return _Session(interpreter)


def engine_options(backend: str, precision: str) -> dict[str, Any]:
    options: dict[str, Any] = {"delegate": "xnnpack"}
    if precision == "fp16":
        options |= {"quantizer": "ai-edge-quantizer", "weights": "fp16 (weight-only, float casting)",
                    "compute": "fp32", "xnnpack_force_fp16": False, "io": "fp32"}
    elif precision == "int8":
        options |= {"quantizer": "ai-edge-quantizer", "quantization": "static (static_wi8_ai8)",
                    "weights": "int8 symmetric per-channel", "activations": "int8 asymmetric per-tensor",
                    "calibration": "minmax (extremes over all samples)", "calibration_samples": CALIBRATION_SAMPLES,
                    "io": "fp32"}
    return options


def _check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise ValueError(f"tflite has no {precision} route (it has: {', '.join(PRECISIONS)})")


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


#: Why a host profile of LiteRT is not made (``ops`` says it instead of inventing op times).
NO_PROFILE = ("ai-edge-litert's Python API has no op profiler: Interpreter and CompiledModel return no "
              "per-op events (experimental_force_delegate_node_profiling only acts on a profiler attached "
              "from C++; profiling_info_pb2 is a message definition with no Python producer). On a phone, "
              "benchmark_model --enable_op_profiling prints per-node tables, which native/tflite.py parses")
