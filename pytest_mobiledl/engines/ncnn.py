"""ncnn: ``torch.jit.trace`` → ``pnnx`` → ``.ncnn.param`` + ``.ncnn.bin``, run by the ``ncnn`` package.

The zoo caches one file per artifact, so the two files pnnx writes travel in one uncompressed
zip (``.ncnn.zip``) with a small manifest::

    model.ncnn.param   the graph, exactly as pnnx wrote it
    model.ncnn.bin     the weights (fp32 for an fp32 artifact, fp16 for an fp16 one)
    mobiledl.json      {"inputs": [{"name", "shape", "dtype"}, …]}: the source model's inputs

The manifest exists because an ncnn graph keeps neither input names nor shapes: pnnx names the
blobs ``in0``, ``in1``… in argument order (outputs ``out0``…), and the runner needs fixed shapes
to make inputs. ``unzip`` (or Python's ``zipfile``) gives a native ``benchncnn`` its ``.param``.

Precision is explicit on both sides, because ncnn's defaults are fp16 everywhere: pnnx stores
weights as fp16 unless told ``fp16=0``, and ``ncnn.Option`` turns fp16 storage, packing and
arithmetic on even on x86. An fp32 item converts with ``fp16=0`` and runs with all three off; an
fp16 item gets its own artifact (the precision is in the zoo's cache key) with pnnx's fp16
weights, as an app would ship it, and runs with all three on. Whether fp16 *arithmetic* then
happens is the CPU's business (ARMv8.2 yes; x86 without AVX512-FP16 no, only fp16 storage).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_mobiledl.tensors import TensorSpec

if TYPE_CHECKING:
    import numpy as np

    from pytest_mobiledl.modelspec import ModelSpec

LIB = "ncnn"
MODULE = "ncnn"
DIST = "ncnn"
EXTRA = "ncnn"
SUFFIX = ".ncnn.zip"
HOST_BACKENDS = ("cpu",)
PRECISIONS = ("fp32", "fp16")
CONVERTERS = ("torch", "pnnx")
RUNTIME = ("ncnn",)
FLAGS: tuple[str, ...] = ()

PARAM = "model.ncnn.param"
BIN = "model.ncnn.bin"
MANIFEST = "mobiledl.json"
PNNX_TIMEOUT_S = 600

_FP16_OPTIONS = ("use_fp16_packed", "use_fp16_storage", "use_fp16_arithmetic")
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed, so the same conversion gives the same bytes


FILE_ROUTES = (".onnx",)  # pnnx reads ONNX as well as TorchScript


def convert(model: ModelSpec, precision: str, out: Path) -> None:
    import torch

    _check_inputs(model, precision)
    module, example = model.instantiate()
    with tempfile.TemporaryDirectory(prefix="mobiledl-pnnx-") as tmp:
        with torch.no_grad():
            torch.jit.trace(module, example).save(str(Path(tmp) / "model.pt"))  # type: ignore[no-untyped-call]
        _pnnx(Path(tmp) / "model.pt", model, precision, out)


def convert_file(model: ModelSpec, precision: str, out: Path) -> None:
    assert model.source is not None
    _check_inputs(model, precision)
    _pnnx(model.source, model, precision, out)


def _check_inputs(model: ModelSpec, precision: str) -> None:
    _check_precision(precision)
    for spec in model.inputs:
        # ncnn tensors have no batch axis, and pnnx's graph takes float inputs.
        if spec.shape[0] != 1 or spec.dtype != "float32":
            raise ValueError(f"ncnn takes float32 inputs of batch 1; {model.name}'s {spec.name} is "
                             f"{spec.dtype} {list(spec.shape)}")


def _pnnx(source: Path, model: ModelSpec, precision: str, out: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="mobiledl-pnnx-") as tmp:
        work = Path(tmp)
        shutil.copy(source, work / f"model{source.suffix}")  # pnnx writes its side files next to it
        shapes = ",".join(f"[{','.join(map(str, s.shape))}]f32" for s in model.inputs)
        argv = [_pnnx_binary(), str(work / f"model{source.suffix}"), f"inputshape={shapes}",
                f"fp16={int(precision == 'fp16')}", "device=cpu",
                f"ncnnparam={work / PARAM}", f"ncnnbin={work / BIN}"]
        # cwd: pnnx writes its other outputs (.pnnx.param, .py, .onnx) next to where it runs.
        done = subprocess.run(argv, cwd=work, capture_output=True, text=True, timeout=PNNX_TIMEOUT_S, check=False)
        if done.returncode != 0 or not (work / PARAM).exists():
            lines = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
            raise RuntimeError(f"pnnx exited {done.returncode}: {lines[-1] if lines else 'no output'}")
        manifest = {"inputs": [{"name": s.name, "shape": list(s.shape), "dtype": s.dtype} for s in model.inputs]}
        with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
            for name, data in ((PARAM, (work / PARAM).read_bytes()), (BIN, (work / BIN).read_bytes()),
                               (MANIFEST, json.dumps(manifest, sort_keys=True).encode())):
                archive.writestr(zipfile.ZipInfo(name, _ZIP_DATE), data)


def open_session(path: str, threads: int, backend: str, precision: str) -> _Session:
    import ncnn

    _check_precision(precision)
    net = ncnn.Net()
    # Options must be set before loading: layers pick their kernels while the model loads.
    for name, value in _options(threads, precision).items():
        setattr(net.opt, name, value)
    with zipfile.ZipFile(path) as archive, tempfile.TemporaryDirectory(prefix="mobiledl-ncnn-") as tmp:
        archive.extract(PARAM, tmp)
        archive.extract(BIN, tmp)
        manifest = json.loads(archive.read(MANIFEST))
        # Loading reads both files whole, so the directory can go right after.
        if net.load_param(str(Path(tmp) / PARAM)) != 0 or net.load_model(str(Path(tmp) / BIN)) != 0:
            raise RuntimeError(f"ncnn cannot load {path}")
    specs = [TensorSpec(i["name"], tuple(i["shape"]), i["dtype"]) for i in manifest["inputs"]]
    blobs = _numbered(net.input_names(), "in")
    if len(blobs) != len(specs):
        raise RuntimeError(f"{path}: the graph has inputs {blobs}, the manifest {[s.name for s in specs]}")
    return _Session(net, specs, blobs, _numbered(net.output_names(), "out"))


def native_files(artifact: Path) -> tuple[Path, str]:
    """What benchncnn reads on a phone: the .param/.bin pair, unpacked once beside the artifact.

    Returns the folder to push and the model file's name inside it."""
    folder = artifact.with_name(artifact.name + ".native")
    if not folder.is_dir():
        staging = Path(tempfile.mkdtemp(prefix=folder.name, dir=artifact.parent))
        with zipfile.ZipFile(artifact) as archive:
            archive.extract(PARAM, staging)
            archive.extract(BIN, staging)
        try:
            staging.rename(folder)  # atomic; another process may have won, which is as good
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
    return folder, PARAM


def engine_options(backend: str, precision: str) -> dict[str, Any]:
    options = {k: v for k, v in _options(1, precision).items() if k != "num_threads"}
    return {"weights": precision, **options}


def _options(threads: int, precision: str) -> dict[str, Any]:
    fp16 = precision == "fp16"
    return {"num_threads": threads, "use_vulkan_compute": False, "use_bf16_storage": False,
            **{name: fp16 for name in _FP16_OPTIONS}}


def _pnnx_binary() -> str:
    import pnnx

    # The package's own path to its executable: the console script only wraps it.
    return str(pnnx.EXEC_PATH)


def _numbered(names: Sequence[str], prefix: str) -> list[str]:
    """pnnx's blobs in argument order: ``in0, in1, … in10`` (ncnn lists them in graph order)."""
    pattern = re.compile(rf"{prefix}(\d+)")
    if not all(pattern.fullmatch(n) for n in names):
        raise RuntimeError(f"blobs {list(names)} are not pnnx's {prefix}0, {prefix}1, …")
    return sorted(names, key=lambda n: int(n[len(prefix):]))


def _check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise ValueError(f"ncnn has no {precision} route (it has: {', '.join(PRECISIONS)})")


class _Session:
    def __init__(self, net: Any, specs: list[TensorSpec], inputs: list[str], outputs: list[str]) -> None:
        self._net = net
        self._specs = specs
        self._bindings = list(zip((s.name for s in specs), inputs, strict=True))
        self._outputs = outputs

    def inputs(self) -> Sequence[TensorSpec]:
        return self._specs

    def run(self, feeds: Mapping[str, np.ndarray]) -> Sequence[np.ndarray]:
        import ncnn
        import numpy as np

        # One inference as an app does it: a fresh Extractor, inputs copied in (ncnn.Mat copies),
        # outputs copied out. batch_index=0: ncnn has no batch axis, the source's is 1.
        results = []
        with self._net.create_extractor() as extractor:
            for name, blob in self._bindings:
                extractor.input(blob, ncnn.Mat(feeds[name], batch_index=0))
            for blob in self._outputs:
                status, mat = extractor.extract(blob)
                if status != 0:
                    raise RuntimeError(f"ncnn extract({blob!r}) returned {status}")
                results.append(np.array(mat.numpy(batch_index=0)))
        return results


#: ncnn's Python wheel is built without per-layer timing (NCNN_BENCHMARK): an approximation.
PROFILER = "ncnn Extractor, one extract() per layer in graph order (approximation: no per-layer timer in the wheel)"
#: Flags every profile of this engine carries: its op times are not the library's own timings.
PROFILE_FLAGS = ("approximation",)


def profile_ops(path: str, threads: int, backend: str, precision: str, feeds: Mapping[str, np.ndarray],
                warmup: int, runs: int) -> list[tuple[str, str, list[float], bool]]:
    """Per layer: (name, layer type, its ms in each profiled run, depthwise), from timed extracts.

    ncnn computes a blob on demand: extracting each layer's first output in graph order, with
    light mode off (so no blob is freed and recomputed) and ``type=1`` (no unpacking or fp16
    conversion on the way out), makes each call run that one layer. Each call adds the Python
    binding's own cost, so the sum is checked against the whole-net latency (coverage) and the
    profile is flagged an approximation. ``ConvolutionDepthWise`` names depthwise layers.
    """
    import time

    import ncnn

    session = open_session(path, threads, backend, precision)
    net = session._net
    layers = [(layer.name, layer.type, layer.tops[0]) for layer in net.layers() if layer.type != "Input" and layer.tops]
    times: list[list[float]] = [[] for _ in layers]
    for i in range(warmup + runs):
        with net.create_extractor() as extractor:
            extractor.set_light_mode(False)
            for name, blob in session._bindings:
                extractor.input(blob, ncnn.Mat(feeds[name], batch_index=0))
            for k, (_, _, top) in enumerate(layers):
                t0 = time.perf_counter_ns()
                status, _mat = extractor.extract(top, 1)
                if status != 0:
                    raise RuntimeError(f"ncnn extract(blob {top}) returned {status}")
                if i >= warmup:
                    times[k].append((time.perf_counter_ns() - t0) / 1e6)
    return [(name, kind, t, False) for (name, kind, _), t in zip(layers, times, strict=True)]
