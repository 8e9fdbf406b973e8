"""PyTorch Mobile: ``torch.jit.trace`` → ``torch.jit.freeze`` → ``_save_for_lite_interpreter`` → ``.ptl``.

Run by the lite interpreter (``torch.jit.mobile._load_for_lite_interpreter``), the runtime the
Android/iOS ``pytorch_android_lite`` libraries embed. ``optimize_for_mobile`` is not applied:
with the CPU torch wheel its XNNPACK rewrite fails, so no mobile optimization pass ran on the
artifact and every record of this engine carries ``FLAGS`` (``no_mobile_optimization``).

A lite module keeps neither input names nor shapes, so the artifact carries the source model's
inputs as an extra file, ``extra/mobiledl.json`` inside the ``.ptl`` zip (``_extra_files``, the
lite format's own place for app metadata): ``{"inputs": [{"name", "shape", "dtype"}, …]}``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_mobiledl.tensors import TensorSpec

if TYPE_CHECKING:
    import numpy as np

    from pytest_mobiledl.modelspec import ModelSpec

LIB = "pytorch"
MODULE = "torch"
DIST = "torch"
EXTRA = "pytorch"
SUFFIX = ".ptl"
HOST_BACKENDS = ("cpu",)
PRECISIONS = ("fp32",)
CONVERTERS = ("torch",)
RUNTIME = ("torch", "torch.jit.mobile")
#: Record flags every run of this engine carries (see record.FLAGS).
FLAGS = ("no_mobile_optimization",)

MANIFEST = "mobiledl.json"


def convert(model: ModelSpec, precision: str, out: Path) -> None:
    import torch

    _check_precision(precision)
    module, example = model.instantiate()
    with torch.no_grad():
        frozen = torch.jit.freeze(torch.jit.trace(module, example))  # type: ignore[no-untyped-call]
    manifest = {"inputs": [{"name": s.name, "shape": list(s.shape), "dtype": s.dtype} for s in model.inputs]}
    # Saved under a fixed name, then moved: the zip's top folder is named after the file.
    with tempfile.TemporaryDirectory(prefix="mobiledl-ptl-") as tmp:
        saved = Path(tmp) / "model.ptl"
        frozen._save_for_lite_interpreter(str(saved), _extra_files={MANIFEST: json.dumps(manifest, sort_keys=True)})
        shutil.move(saved, out)


def open_session(path: str, threads: int, backend: str, precision: str) -> _Session:
    import torch
    from torch.jit.mobile import _load_for_lite_interpreter

    _check_precision(precision)
    torch.set_num_threads(threads)
    module = _load_for_lite_interpreter(path)  # type: ignore[no-untyped-call]
    return _Session(module, _read_manifest(path))


def engine_options(backend: str, precision: str) -> dict[str, Any]:
    return {"interpreter": "lite", "frozen": True, "optimize_for_mobile": False}


def _read_manifest(path: str) -> list[TensorSpec]:
    # A .ptl is a zip with one top folder (named after the file it was saved as).
    with zipfile.ZipFile(path) as archive:
        found = [n for n in archive.namelist() if n.endswith(f"/extra/{MANIFEST}")]
        if len(found) != 1:
            raise RuntimeError(f"{path} holds no extra/{MANIFEST}: not converted by pytest-mobiledl")
        manifest = json.loads(archive.read(found[0]))
    return [TensorSpec(i["name"], tuple(i["shape"]), i["dtype"]) for i in manifest["inputs"]]


def _check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise ValueError(f"pytorch has no {precision} route (it has: {', '.join(PRECISIONS)})")


class _Session:
    def __init__(self, module: Any, specs: list[TensorSpec]) -> None:
        self._module = module
        self._specs = specs

    def inputs(self) -> Sequence[TensorSpec]:
        return self._specs

    def run(self, feeds: Mapping[str, np.ndarray]) -> Sequence[np.ndarray]:
        import torch

        # from_numpy shares the feed's memory: the lite interpreter reads tensors in place, as an
        # app's Tensor.fromBlob does. Outputs are copied out, like every other engine's.
        outputs = self._module(*(torch.from_numpy(feeds[s.name]) for s in self._specs))
        if isinstance(outputs, torch.Tensor):
            outputs = (outputs,)
        return [o.detach().numpy().copy() for o in outputs]


#: What ``profile_ops`` reads: torch's own profiler around the lite interpreter's calls.
PROFILER = "torch.profiler (CPU activities, top-level aten ops of the lite interpreter)"


def profile_ops(path: str, threads: int, backend: str, precision: str, feeds: Mapping[str, np.ndarray],
                warmup: int, runs: int) -> list[tuple[str, str, list[float], bool]]:
    """Per aten op the interpreter calls: (name, op, its ms in each profiled run, depthwise).

    Profiler events nest (``aten::_convolution`` → ``aten::mkldnn_convolution`` → …): only the
    top-level ones count, each once. The interpreter has no node names, so an op's name is its
    position in the inference (``#k aten::…``). ``aten::_convolution``'s ``groups`` argument
    (recorded with the shapes) tells depthwise convolutions apart.
    """
    from torch.profiler import ProfilerActivity, profile

    session = open_session(path, threads, backend, precision)
    for _ in range(warmup):
        session.run(feeds)
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        for _ in range(runs):
            session.run(feeds)
    top = [e for e in prof.events() if e.cpu_parent is None and e.name.startswith(("aten::", "prepacked::",
                                                                                     "quantized::"))]
    per_run = len(top) // runs
    if per_run * runs != len(top):
        raise RuntimeError(f"torch.profiler saw {len(top)} top-level ops over {runs} runs: not one graph per run")
    out = []
    for k in range(per_run):
        calls = top[k::per_run]
        out.append((f"#{k} {calls[0].name}", calls[0].name, [e.cpu_time_total / 1000 for e in calls],
                    _depthwise(calls[0])))
    return out


def _depthwise(event: Any) -> bool:
    if "conv" not in event.name:
        return False
    shapes, concrete = event.input_shapes, getattr(event, "concrete_inputs", None) or []
    groups = concrete[8] if event.name == "aten::_convolution" and len(concrete) > 8 else None
    if len(shapes) < 2 or len(shapes[0]) != 4 or len(shapes[1]) != 4:
        return False
    return bool(shapes[1][1] == 1 and shapes[0][1] > 1 and (groups is None or groups == shapes[0][1]))
