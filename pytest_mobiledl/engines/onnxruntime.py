"""ONNX Runtime: ``torch.onnx.export`` → ``.onnx``, run by ``onnxruntime.InferenceSession``.

Every precision starts from the same fp32 export; the reduced ones use ONNX Runtime's own tools:

- fp16: ``onnxruntime.transformers.float16.convert_float_to_float16`` (ONNX Runtime's copy of
  onnxconverter-common's converter, so no extra package), inputs and outputs kept fp32. On x86
  the CPU execution provider has no fp16 kernels for these ops: it inserts casts at load and
  computes in fp32, so there an fp16 item measures the fp32 kernels (slower than fp32 on
  MobileNetV2: the casts also stop conv + clip fusion). Its arm64 builds have fp16 convolution
  kernels (not measured here). Importing
  ``onnxruntime.transformers`` (``quant_pre_process`` does too) appends its folder to
  ``sys.path`` (top-level names such as ``float16``, ``benchmark``): only the conversion process
  pays that.
- int8: static quantization (``quantize_static``) after ``quant_pre_process``: QDQ format, uint8
  activations and int8 weights per channel (what the quantizer's guidance names for x86 and works
  on arm64 too), MinMax ranges from ``CALIBRATION_SAMPLES`` seeded inputs. Inputs and outputs stay
  float: QuantizeLinear/DequantizeLinear sit inside the graph.

Calibration inputs are ``random_inputs(model.inputs, seed)`` for ``model.seed + 1`` … ``+ N``:
never the input parity compares on (``model.seed``).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_mobiledl.tensors import TensorSpec

if TYPE_CHECKING:
    import numpy as np

    from pytest_mobiledl.modelspec import ModelSpec

LIB = "onnxruntime"
MODULE = "onnxruntime"
DIST = "onnxruntime"
EXTRA = "onnxruntime"
SUFFIX = ".onnx"
HOST_BACKENDS = ("cpu",)
PRECISIONS = ("fp32", "fp16", "int8")
#: onnxruntime too: its float16 converter and quantizer write the reduced-precision artifacts.
CONVERTERS = ("torch", "onnx", "onnxscript", "onnxruntime")
RUNTIME = ("onnxruntime",)
FLAGS: tuple[str, ...] = ()
OPSET = 18  # the dynamo exporter writes 18; asking lower makes it try (and fail) to down-convert
#: Seeded inputs the int8 ranges are calibrated on (seeds model.seed + 1 … + N).
CALIBRATION_SAMPLES = 16

_DTYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(int64)": "int64",
           "tensor(int32)": "int32", "tensor(int8)": "int8", "tensor(uint8)": "uint8"}


def convert(model: ModelSpec, precision: str, out: Path) -> None:
    _check_precision(precision)
    if precision == "fp32":
        _export(model, out)
        return
    with tempfile.TemporaryDirectory(prefix="mobiledl-ort-") as tmp:
        fp32 = Path(tmp) / "model.onnx"
        _export(model, fp32)
        if precision == "fp16":
            _to_fp16(fp32, out)
        else:
            _to_int8(model, fp32, Path(tmp) / "preprocessed.onnx", out)


FILE_ROUTES = (".onnx",)


def convert_file(model: ModelSpec, precision: str, out: Path) -> None:
    """A user's (static) ONNX file: itself at fp32, through the same tools otherwise."""
    assert model.source is not None
    _check_precision(precision)
    if precision == "fp32":
        shutil.copyfile(model.source, out)
    elif precision == "fp16":
        _to_fp16(model.source, out)
    else:
        with tempfile.TemporaryDirectory(prefix="mobiledl-ort-") as tmp:
            _to_int8(model, model.source, Path(tmp) / "preprocessed.onnx", out)


def _export(model: ModelSpec, out: Path) -> None:
    import torch

    module, example = model.instantiate()
    # The dynamo exporter is torch's recommended one since 2.9; it writes out in one file.
    program = torch.onnx.export(module, example, input_names=[t.name for t in model.inputs],
                                opset_version=OPSET, dynamo=True, external_data=False)
    assert program is not None  # dynamo=True always returns the program
    program.save(str(out), external_data=False)


def _to_fp16(fp32: Path, out: Path) -> None:
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    onnx.save(convert_float_to_float16(onnx.load(str(fp32)), keep_io_types=True), str(out))


def _to_int8(model: ModelSpec, fp32: Path, preprocessed: Path, out: Path) -> None:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quant_pre_process, quantize_static

    # Shape inference and graph optimization first, as the quantizer's documentation recommends.
    quant_pre_process(str(fp32), str(preprocessed))
    quantize_static(str(preprocessed), str(out), _Calibration(model), quant_format=QuantFormat.QDQ,
                    per_channel=True, reduce_range=False, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax)


class _Calibration:
    """onnxruntime.quantization.CalibrationDataReader (structurally): the seeded calibration inputs."""

    def __init__(self, model: ModelSpec) -> None:
        self._feeds = _calibration_inputs(model)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._feeds, None)


def _calibration_inputs(model: ModelSpec) -> Iterator[dict[str, np.ndarray]]:
    from pytest_mobiledl.tensors import random_inputs

    for i in range(CALIBRATION_SAMPLES):
        yield random_inputs(model.inputs, model.seed + 1 + i)


def open_session(path: str, threads: int, backend: str, precision: str) -> _Session:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    return _Session(ort.InferenceSession(path, options, providers=["CPUExecutionProvider"]))


def engine_options(backend: str, precision: str) -> dict[str, Any]:
    options: dict[str, Any] = {"provider": "CPUExecutionProvider", "graph_optimization": "all"}
    if precision == "fp16":
        options |= {"weights": "fp16", "activations": "fp16", "io": "fp32",
                    "converter": "onnxruntime.transformers.float16 (keep_io_types)"}
    elif precision == "int8":
        options |= {"quantization": "static", "format": "QDQ", "activations": "uint8 per-tensor",
                    "weights": "int8 per-channel", "reduce_range": False, "calibration": "minmax",
                    "calibration_samples": CALIBRATION_SAMPLES, "preprocess": "quant_pre_process", "io": "fp32"}
    return options


def _check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise ValueError(f"onnxruntime has no {precision} route (it has: {', '.join(PRECISIONS)})")


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


#: What ``profile_ops`` reads: ONNX Runtime's own profiler (Chrome-trace JSON, one event per node run).
PROFILER = "onnxruntime SessionOptions.enable_profiling (node kernel_time events)"


def profile_ops(path: str, threads: int, backend: str, precision: str, feeds: Mapping[str, np.ndarray],
                warmup: int, runs: int) -> list[tuple[str, str, list[float], bool]]:
    """Per node: (name, op type, its ms in each of the ``runs`` profiled inferences, depthwise).

    A session of its own with the profiler on (the same options as ``open_session`` otherwise),
    in a profiling process: its overhead never reaches a latency run. Warm-up runs are profiled
    too (the profiler is a session option) and dropped by their ``model_run`` windows.
    """
    import json
    import os

    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    with tempfile.TemporaryDirectory(prefix="mobiledl-ort-prof-") as tmp:
        options.enable_profiling = True
        options.profile_file_prefix = os.path.join(tmp, "profile")
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        for _ in range(warmup + runs):
            session.run(None, dict(feeds))
        with open(session.end_profiling()) as f:
            events = json.load(f)
    windows = [(e["ts"], e["ts"] + e["dur"]) for e in events if e.get("name") == "model_run"][-runs:]
    found: dict[str, tuple[str, bool]] = {}
    per_run: dict[str, list[float]] = {}
    for e in events:
        if e.get("cat") != "Node" or not e.get("name", "").endswith("_kernel_time"):
            continue
        run = next((k for k, (start, end) in enumerate(windows) if start <= e["ts"] <= end), None)
        if run is None:
            continue
        name, args = e["name"].removesuffix("_kernel_time"), e.get("args", {})
        found.setdefault(name, (args.get("op_name", "?"), _depthwise(args)))
        times = per_run.setdefault(name, [0.0] * len(windows))
        times[run] += e["dur"] / 1000  # µs
    return [(name, kind, per_run[name], dw) for name, (kind, dw) in found.items()]


def _depthwise(args: Mapping[str, Any]) -> bool:
    """A Conv whose weight has one input channel per group and as many groups as input channels."""
    shapes: list[list[int]] = [next(iter(s.values()), []) for s in args.get("input_type_shape", [])]
    if args.get("op_name") not in ("Conv", "FusedConv", "QLinearConv") or len(shapes) < 2:
        return False
    x, w = shapes[0], shapes[3] if args.get("op_name") == "QLinearConv" and len(shapes) > 3 else shapes[1]
    return len(x) == 4 and len(w) == 4 and w[1] == 1 and x[1] > 1 and w[0] % x[1] == 0
