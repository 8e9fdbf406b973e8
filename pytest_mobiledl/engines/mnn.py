"""MNN: ``torch.onnx.export`` → ``.onnx`` → MNN's converter, in-process → ``.mnn``, run by ``MNN.nn``.

Never the ``mnnconvert`` console script, nor anything under ``MNN.tools``: importing
``MNN.tools`` imports its usage logger, which runs ``pip install`` at import time and uploads
conversion details to a remote endpoint. The converter itself is the C++ extension ``_tools``
that the same wheel installs at top level; ``_tools.mnnconvert(argv)`` is what the console
script calls before it logs. A test checks that a conversion opens no connection.

Precision: fp32 converts plainly and runs with ``PrecisionMode.High`` (fp32 on every backend;
on the CPU MNN's default Normal means the same). fp16 converts with ``--fp16`` (weights stored
as fp16) and runs with ``PrecisionMode.Low``, which computes in fp16 where the CPU can (ARMv8.2)
and in fp32 elsewhere (x86). ``--weightQuantBits 8`` only compresses weights (they are
dequantized to float at load), so it is not offered as int8.

int8 is MNN's offline quantization tool (``quantized.out``, ``mnnquant``), which the same
``_tools`` extension holds: it calibrates the fp32 ``.mnn`` on sample inputs and writes int8
weights and feature scales, which MNN's docs say turn float convolutions into int8 ones; inputs
and outputs stay float. Calibration: ``CALIBRATION_SAMPLES`` seeded inputs written as its
"sequence" input type (one folder per sample, one text file per input), features by EMA
(asymmetric), weights by MAX_ABS. Not KL, its default: with sequence inputs MNN 3.6.1's KL path
crashes the process (SIGSEGV). EMA is a moving average of each sample's range, so it stays
inside the extremes: on tiny_cnn the max relative error is 0.27 (cosine 0.992, a pass), more
samples make it worse (128: 0.989), and ADMM is worse still there (cosine 0.973).
``_tools.mnnquant`` takes an argv list like ``mnnconvert``; MNN's own Python wrapper passes three
strings and aborts (std::length_error). It runs with ``PrecisionMode.High``, as the native runner
asks ``benchmark.out``. Calibration inputs are ``random_inputs(model.inputs, seed)`` for
``model.seed + 1`` … ``+ N``: never the input parity compares on (``model.seed``).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_mobiledl.tensors import TensorSpec

if TYPE_CHECKING:
    import numpy as np

    from pytest_mobiledl.modelspec import ModelSpec

LIB = "mnn"
MODULE = "MNN"
DIST = "MNN"
EXTRA = "mnn"
SUFFIX = ".mnn"
HOST_BACKENDS = ("cpu",)
PRECISIONS = ("fp32", "fp16", "int8")
CONVERTERS = ("torch", "onnx", "onnxscript", "MNN")
RUNTIME = ("MNN", "MNN.expr")
FLAGS: tuple[str, ...] = ()
#: 18: the dynamo exporter's own opset (asking for 17 makes it try, and fail, to down-convert).
OPSET = 18
#: Seeded inputs the int8 feature ranges are calibrated on (seeds model.seed + 1 … + N).
CALIBRATION_SAMPLES = 16
#: The offline quantizer's settings (its JSON config, besides the data).
QUANTIZER = {"feature_quantize_method": "EMA", "weight_quantize_method": "MAX_ABS", "quant_bits": 8}

_PRECISION_MODE = {"fp32": "High", "fp16": "Low", "int8": "High"}
#: MNN.expr dtype name -> numpy dtype name.
_DTYPES = {"float": "float32", "double": "float64", "int": "int32", "int64": "int64", "uint8": "uint8", "int8": "int8"}


def convert(model: ModelSpec, precision: str, out: Path) -> None:
    import torch

    _check_precision(precision)
    module, example = model.instantiate()
    with tempfile.TemporaryDirectory(prefix="mobiledl-mnn-") as tmp:
        onnx_path = Path(tmp) / "model.onnx"
        program = torch.onnx.export(module, example, input_names=[t.name for t in model.inputs],
                                    opset_version=OPSET, dynamo=True, external_data=False)
        if program is None:
            raise RuntimeError("torch.onnx.export returned no program")
        program.save(str(onnx_path), external_data=False)
        _from_file(onnx_path, model, precision, out, Path(tmp))


# Not .tflite yet: MNN converts litert-torch's files, but the module it loads has no outputs.
FILE_ROUTES = (".onnx",)


def convert_file(model: ModelSpec, precision: str, out: Path) -> None:
    """A user's (static) ONNX file, through the same converter and quantizer."""
    assert model.source is not None
    _check_precision(precision)
    with tempfile.TemporaryDirectory(prefix="mobiledl-mnn-") as tmp:
        _from_file(model.source, model, precision, out, Path(tmp))


def _from_file(source: Path, model: ModelSpec, precision: str, out: Path, tmp: Path) -> None:
    import _tools  # MNN's converter; see the module docstring for why not MNN.tools

    mnn_path = tmp / "model.mnn" if precision == "int8" else out
    argv = ["mnnconvert", "-f", "ONNX", "--modelFile", str(source), "--MNNModel", str(mnn_path),
            "--bizCode", "mobiledl"]
    if precision == "fp16":
        argv.append("--fp16")
    if not _tools.mnnconvert(argv) or not mnn_path.exists():
        raise RuntimeError(f"MNN's converter rejected {source.name} (argv {argv[1:]})")
    if precision == "int8":
        # The quantizer also writes its scales beside its output (``<output>.json``): keep both in tmp.
        config, quantized = _calibration_config(model, tmp / "calibration"), tmp / "int8.mnn"
        if not _tools.mnnquant(["mnnquant", str(mnn_path), str(quantized), str(config)]) or not quantized.exists():
            raise RuntimeError(f"MNN's quantizer rejected the model (config {json.loads(config.read_text())})")
        shutil.copyfile(quantized, out)


def _calibration_config(model: ModelSpec, folder: Path) -> Path:
    """The quantizer's JSON config, and its data: one folder per sample, ``<input>.txt`` in each."""
    import numpy as np

    from pytest_mobiledl.tensors import random_inputs

    inputs = [{"name": spec.name, "shape": list(spec.shape)} for spec in model.inputs]
    for i in range(CALIBRATION_SAMPLES):
        sample = folder / "samples" / f"{i:04d}"
        sample.mkdir(parents=True)
        feeds = random_inputs(model.inputs, model.seed + 1 + i)
        for spec in model.inputs:
            np.savetxt(sample / f"{spec.name}.txt", feeds[spec.name].reshape(-1), fmt="%.9g")
        (sample / "input.json").write_text(json.dumps({"inputs": inputs}))
    config = folder / "config.json"
    config.write_text(json.dumps({"input_type": "sequence", "path": str(folder / "samples"),
                                  "used_sample_num": CALIBRATION_SAMPLES, "inputs": inputs, **QUANTIZER}))
    return config


def open_session(path: str, threads: int, backend: str, precision: str) -> _Session:
    import MNN

    _check_precision(precision)
    # The thread count goes through a runtime manager: load_module_from_file's own thread_num is
    # ignored (MNN 3.6.1), and the module then runs on the global executor's pool, using every
    # core at "1 thread" (CPU ÷ wall 2.0 on 2 cores; twice as fast as one core, and bimodal
    # whenever the other core is busy).
    runtime = MNN.nn.create_runtime_manager(
        ({"backend": "CPU", "numThread": threads, "precision": _PRECISION_MODE[precision].lower()},))
    # Fixed shapes (shape_mutable=False) let MNN plan memory once, as its Session API does;
    # rearrange=True lets it repack weights for its kernels at load.
    module = MNN.nn.load_module_from_file(path, [], [], runtime_manager=runtime, shape_mutable=False,
                                          rearrange=True)
    info = module.get_info()
    specs = [TensorSpec(name, tuple(int(d) for d in var.shape), _DTYPES[str(var.dtype).rpartition(".")[2]])
             for name, var in zip(info["inputNames"], info["inputs"], strict=True)]
    return _Session(module, specs, runtime)


def engine_options(backend: str, precision: str) -> dict[str, Any]:
    options: dict[str, Any] = {"backend": "CPU", "precision_mode": _PRECISION_MODE[precision].lower(),
                               "weights": precision, "api": "MNN.nn.Module"}
    if precision == "int8":
        options |= {"quantizer": "mnnquant (offline, in-process)", "features": "int8 (EMA, asymmetric)",
                    "calibration_samples": CALIBRATION_SAMPLES, "io": "fp32", **QUANTIZER}
    return options


def _check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise ValueError(f"MNN has no {precision} route here (it has: {', '.join(PRECISIONS)})")


class _Session:
    def __init__(self, module: Any, specs: list[TensorSpec], runtime: Any) -> None:
        import MNN.expr as F

        self._module = module
        self._runtime = runtime  # the module runs on it: it lives as long as the session
        self._specs = specs
        self._dtypes = {numpy_name: getattr(F.dtype, name) for name, numpy_name in _DTYPES.items()}

    def inputs(self) -> Sequence[TensorSpec]:
        return self._specs

    def run(self, feeds: Mapping[str, np.ndarray]) -> Sequence[np.ndarray]:
        import MNN.expr as F
        import numpy as np

        # One inference as an app does it: inputs copied into MNN variables, forward, outputs
        # converted out of MNN's packed NC4HW4 layout where a kernel left them in it, and copied.
        args = [F.const(feeds[s.name], list(s.shape), F.NCHW, self._dtypes[s.dtype]) for s in self._specs]
        results = []
        for var in self._module.forward(args):
            if var.data_format == F.NC4HW4:
                var = F.convert(var, F.NCHW)
            results.append(np.array(var.read()))
        return results


#: What ``profile_ops`` reads: MNN's per-op callbacks around its Session API (as its timeProfile tool).
PROFILER = "MNN Interpreter.runSessionWithCallBackInfo (per-op begin/end callbacks, Session API)"


def profile_ops(path: str, threads: int, backend: str, precision: str, feeds: Mapping[str, np.ndarray],
                warmup: int, runs: int) -> list[tuple[str, str, list[float], bool]]:
    """Per op: (name, type, its ms in each profiled run, depthwise), timed between MNN's own callbacks.

    MNN's Python API gives per-op callbacks only on its Session API (``Interpreter``), not on the
    ``MNN.nn`` module the latency runs use; both run the same CPU kernels, and the coverage
    (against the module's unprofiled latency) shows what the difference costs. The callbacks
    are Python calls between ops: their own cost lands between the op timings, not inside them.
    ``type`` tells depthwise convolutions apart (``ConvolutionDepthwise``).
    """
    import time

    import MNN
    import numpy as np

    _check_precision(precision)
    interpreter = MNN.Interpreter(path)
    session = interpreter.createSession({"backend": "CPU", "numThread": threads,
                                         "precision": _PRECISION_MODE[precision].lower()})
    for name, value in feeds.items():
        tensor = interpreter.getSessionInput(session, name)
        host = MNN.Tensor(tuple(value.shape), MNN.Halide_Type_Float, np.ascontiguousarray(value, np.float32),
                          MNN.Tensor_DimensionType_Caffe)
        tensor.copyFrom(host)
    started: list[int] = [0]
    kinds: dict[str, str] = {}
    times: dict[str, list[float]] = {}
    run = [-1]

    def begin(tensors: Any, info: Any) -> bool:
        started[0] = time.perf_counter_ns()
        return True

    def end(tensors: Any, info: Any) -> bool:
        elapsed = (time.perf_counter_ns() - started[0]) / 1e6
        if run[0] >= 0:
            kinds.setdefault(info.getName(), info.getType())
            times.setdefault(info.getName(), [0.0] * runs)[run[0]] += elapsed
        return True

    for i in range(warmup + runs):
        run[0] = i - warmup
        interpreter.runSessionWithCallBackInfo(session, begin, end)
    return [(name, kinds[name], t, False) for name, t in times.items()]
