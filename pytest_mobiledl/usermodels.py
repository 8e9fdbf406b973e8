"""The user's own model files (``--models=path/to/model.onnx``): inspected, pinned, referenced.

A file replaces the zoo's PyTorch source: each library with a route from its format converts it
(``routes.py``), and parity compares every artifact with the file itself, run by its own
framework (ONNX Runtime for ``.onnx``, LiteRT for ``.tflite``, PyTorch for ``.py`` and ``.pt2``,
TensorFlow for Keras files and SavedModel folders).
Dynamic dimensions must be pinned (``--input-shape name=1,3,224,224``): a benchmark runs one
shape. An ONNX file is rewritten with its pins into a static copy that every route starts from.
A TensorFlow model's leading dynamic (batch) dimension is 1 unless pinned.

A ``.py`` file is the user's code: it is imported only in child processes (inspection,
conversion), never in pytest's. It defines either ``MODEL = ModelSpec(...)`` as the zoo's files do,
or the simple form::

    def build() -> torch.nn.Module: ...           # the model, with its own weights
    INPUTS = {"image": (1, 3, 224, 224)}          # float32 inputs by name (or TensorSpec entries)
    CHECKPOINT = "my_net.pt"                      # optional: a state_dict, relative to this file

Either way the model's weights are kept (the zoo's random re-draw is for the zoo only). A
``.pt2`` is ``torch.export.save``'s program: its module is the model.

The formats (``SUFFIXES``, ``format_of``, ``is_file_ref``, ``is_saved_model``) are defined with
``ModelSpec`` in ``modelspec``, the leaf of the model layer, and named here too, for the options
and the CLI.
"""

from __future__ import annotations

import functools
import json
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_mobiledl import tfmodels
from pytest_mobiledl.errors import MobiledlError, one_line
from pytest_mobiledl.modelspec import SUFFIXES as SUFFIXES
from pytest_mobiledl.modelspec import TF_FORMATS, TORCH_FORMATS, ModelSpec, suffix
from pytest_mobiledl.modelspec import format_of as format_of
from pytest_mobiledl.modelspec import is_file_ref as is_file_ref
from pytest_mobiledl.modelspec import is_saved_model as is_saved_model
from pytest_mobiledl.tensors import TensorSpec

if TYPE_CHECKING:
    import numpy as np

INSPECT_TIMEOUT_S = 1800.0


@dataclass(frozen=True)
class Inspection:
    """What the inspection process found: the pinned inputs, and where it can count them, the
    model's trainable parameters and multiply-accumulates (``counts``' definitions)."""

    inputs: tuple[TensorSpec, ...]
    params: int | None = None
    macs: int | None = None


@dataclass(frozen=True)
class UserModel:
    id: str
    path: Path
    pins: tuple[tuple[str, tuple[int, ...]], ...] = ()
    #: Seconds an inspection or a conversion of it may take (--mobiledl-build-timeout): a .py
    #: whose build() never returns is stopped and named.
    timeout: float = INSPECT_TIMEOUT_S

    def argv(self) -> list[str]:
        """How a child process is told about it."""
        pins = [f"--input-shape={name}={','.join(map(str, dims))}" for name, dims in self.pins]
        return [f"--file={self.path}", *pins]


def files(path: Path) -> list[Path]:
    """Every file whose bytes make the model (the cache key hashes them): a SavedModel's whole
    folder; a .py and its ``CHECKPOINT``, read from the source without running it."""
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file())
    found = [path]
    if suffix(path) == ".py":
        import ast

        try:
            tree = ast.parse(path.read_text())
        except (SyntaxError, UnicodeDecodeError):
            return found  # the inspection names that error
        for node in tree.body:
            if (isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "CHECKPOINT" for t in node.targets)
                    and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
                checkpoint = path.parent / node.value.value
                found += [checkpoint] if checkpoint.is_file() else []
    return found


def model_id(path: Path) -> str:
    """A test-id friendly name: ``My Net-v2.onnx`` → ``my_net_v2``."""
    return re.sub(r"[^a-z0-9]+", "_", path.stem.lower()).strip("_") or "model"


def parse_pins(values: Sequence[str]) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """``name=1,3,224,224`` entries; ValueError names the bad one."""
    pins = []
    for value in values:
        name, _, dims = value.partition("=")
        try:
            shape = tuple(int(d) for d in dims.split(","))
        except ValueError:
            shape = ()
        if not name or not shape or min(shape) < 1:
            raise ValueError(f"{value!r} is not name=d1,d2,… with positive dimensions (e.g. input=1,3,224,224)")
        pins.append((name, shape))
    return tuple(pins)


def inspect(model: UserModel) -> Inspection:
    """The file's inputs with their pinned shapes (and its counts), checked in a child process:
    libraries load there, and a .py runs there. MobiledlError, one line, for a file that is
    malformed, fails to import or build, or has unpinned dimensions."""
    argv = [sys.executable, "-m", "pytest_mobiledl.usermodels", *model.argv()]
    py = suffix(model.path) == ".py"
    what = "building it (its build()) and running it once" if py else "reading it"
    doing = f"building {model.path.name} (its build()) to read its inputs" if py else f"reading {model.path.name}"
    from pytest_mobiledl import progress

    try:  # a long inspection says what it is building every few seconds; a quick one stays silent
        with progress.step(doing, progress.stderr, quiet=True):
            done = subprocess.run(argv, capture_output=True, text=True, timeout=model.timeout, check=False,
                                  stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise MobiledlError(f"{model.path}: {what} took over {model.timeout:g} s and was stopped "
                            "(raise --mobiledl-build-timeout if it is only slow)") from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise MobiledlError(f"{model.path}: {lines[-1] if lines else f'inspection failed ({done.returncode})'}")
    found = json.loads(done.stdout.splitlines()[-1])
    specs = tuple(TensorSpec(name, tuple(shape), dtype) for name, shape, dtype in found["inputs"])
    return Inspection(specs, found["params"], found["macs"])


def inputs(path: Path, pins: Mapping[str, tuple[int, ...]]) -> tuple[TensorSpec, ...]:
    """In-process inspection (the child's side): raises ValueError with what is wrong."""
    fmt = format_of(path)
    declared = {".onnx": _onnx_inputs, ".tflite": _tflite_inputs, ".py": _py_inputs,
                ".pt2": _pt2_inputs}.get(fmt, tfmodels.declared_inputs)(path)
    specs = []  # pins naming no input here may be for another file: the plugin checks them all
    for name, dims, dtype in declared:
        if fmt in TF_FORMATS and dims and dims[0] == "?" and name not in pins:
            dims = (1, *dims[1:])  # Keras leaves the batch open: a benchmark runs batch 1
        shape = pins.get(name, dims)
        fixed = [isinstance(d, int) and d > 0 for d in dims]
        if len(shape) != len(dims) or any(f and d != s for f, d, s in zip(fixed, dims, shape, strict=True)):
            raise ValueError(f"--input-shape {name}={','.join(map(str, shape))} does not fit its dims {list(dims)}")
        if not all(isinstance(d, int) and d > 0 for d in shape):
            example = ",".join(str(d) if f else "N" for f, d in zip(fixed, dims, strict=True))
            raise ValueError(f"input {name!r} has dynamic dims {list(dims)}: pin them with "
                             f"--input-shape {name}={example}")
        specs.append(TensorSpec(name, tuple(shape), dtype))
    return tuple(specs)


def pinned_onnx(path: Path, specs: Sequence[TensorSpec], out: Path) -> Path:
    """A static copy of an ONNX file with every input's dims fixed: where every route starts."""
    import onnx

    model = onnx.load(str(path))
    fixed = {s.name: s.shape for s in specs}
    for value in model.graph.input:
        if value.name in fixed:
            for dim, size in zip(value.type.tensor_type.shape.dim, fixed[value.name], strict=True):
                dim.Clear()
                dim.dim_value = size
    onnx.save(model, str(out))
    return out


def torch_model(source: UserModel) -> ModelSpec:
    """The user's PyTorch model as a zoo ModelSpec, with its own weights (the child's side)."""
    specs = inputs(source.path, dict(source.pins))
    if suffix(source.path) == ".pt2":
        path = source.path
        return ModelSpec(source.id, "user", specs, lambda: _load_pt2(path).module(), keep_weights=True)
    spec, _ = _load_py(source.path)
    return ModelSpec(source.id, "user", specs, spec.build, seed=spec.seed, keep_weights=True)


def counts(source: UserModel, specs: tuple[TensorSpec, ...]) -> tuple[int | None, int | None]:
    """Parameters and MACs where the source framework can count them (not from .onnx/.tflite)."""
    fmt = format_of(source.path)
    if fmt in TORCH_FORMATS:
        from pytest_mobiledl.counts import count

        counted = count(torch_model(source))
        return counted.params, counted.macs
    if fmt in TF_FORMATS:
        return tfmodels.counts(source.path, specs)
    return None, None


def reference(path: Path, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    """The file's own outputs, run by its own runtime: what every artifact is compared with."""
    from pytest_mobiledl import engines

    lib = "onnxruntime" if suffix(path) == ".onnx" else "tflite"
    session = engines.get(lib).open_session(str(path), 1, "cpu", "fp32")
    return list(session.run(feeds))


def _onnx_inputs(path: Path) -> list[tuple[str, tuple[Any, ...], str]]:
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - protobuf raises several kinds for a bad file
        raise ValueError(f"not a readable ONNX model ({type(exc).__name__}: {exc})") from None
    initializers = {i.name for i in model.graph.initializer}
    found = []
    for value in model.graph.input:
        if value.name in initializers:
            continue
        tensor = value.type.tensor_type
        dims = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in tensor.shape.dim)
        found.append((value.name, dims, onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type).name))
    if not found:
        raise ValueError("not a readable ONNX model (no graph inputs)")
    return found


@functools.cache
def _load_py(path: Path) -> tuple[ModelSpec, Any]:
    """The file's ModelSpec (its ``MODEL``, or one made from ``build``/``INPUTS``/``CHECKPOINT``).

    Runs the user's code, once per process, and only ever in a child process. ValueError, one
    line, if it fails."""
    import importlib.util

    name = f"mobiledl_user_{model_id(path)}"
    loader_spec = importlib.util.spec_from_file_location(name, path)
    if loader_spec is None or loader_spec.loader is None:
        raise ValueError("not an importable Python file")
    module = importlib.util.module_from_spec(loader_spec)
    sys.modules[name] = module  # dataclasses and pickling look modules up by name
    try:
        loader_spec.loader.exec_module(module)
    except BaseException as exc:  # noqa: BLE001 - the user's code may raise anything, even SystemExit
        raise ValueError(f"importing it failed: {one_line(exc)}") from None
    spec = getattr(module, "MODEL", None)
    if spec is None:
        build, declared = getattr(module, "build", None), getattr(module, "INPUTS", None)
        if not callable(build) or not isinstance(declared, (dict, list, tuple)):
            raise ValueError("it defines neither MODEL = ModelSpec(...) nor build() with INPUTS "
                             "(e.g. INPUTS = {'image': (1, 3, 224, 224)}); see the README's 'Your own model'")
        try:
            specs = tuple(declared) if not isinstance(declared, dict) else tuple(
                TensorSpec(str(k), tuple(v)) for k, v in declared.items())
        except (TypeError, ValueError) as exc:
            raise ValueError(f"INPUTS: {exc}") from None
        spec = ModelSpec(model_id(path), "user", specs, build)
    if not isinstance(spec, ModelSpec) or spec.build is None:
        raise ValueError("MODEL is not a ModelSpec with a build function")
    checkpoint = getattr(module, "CHECKPOINT", None)
    if checkpoint is not None:
        weights = path.parent / str(checkpoint)
        if not weights.is_file():
            raise ValueError(f"CHECKPOINT {checkpoint!r}: no file {weights}")
        spec = replace(spec, build=_with_checkpoint(spec.build, weights))
    return spec, module


def _with_checkpoint(build: Any, weights: Path) -> Any:
    def load() -> Any:
        import torch

        module = build()
        try:
            module.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        except Exception as exc:  # noqa: BLE001 - a wrong file or mismatched keys, in torch's words
            raise ValueError(f"CHECKPOINT {weights.name}: {one_line(exc)}") from None
        return module
    return load


def _py_inputs(path: Path) -> list[tuple[str, tuple[Any, ...], str]]:
    spec, _ = _load_py(path)
    return [(t.name, t.shape, t.dtype) for t in spec.inputs]


def _load_pt2(path: Path) -> Any:
    import torch

    try:
        return torch.export.load(str(path))
    except Exception as exc:  # noqa: BLE001 - a bad archive raises several kinds
        raise ValueError(f"not a readable torch.export program ({one_line(exc)})") from None


def _pt2_inputs(path: Path) -> list[tuple[str, tuple[Any, ...], str]]:
    program = _load_pt2(path)
    user = set(program.graph_signature.user_inputs)
    found = []
    for node in program.graph.nodes:
        if node.op == "placeholder" and node.name in user:
            value = node.meta.get("val")
            if value is None or not hasattr(value, "shape"):
                raise ValueError(f"input {node.name!r} is not a tensor: only tensor inputs can be benchmarked")
            dims = tuple(d if isinstance(d, int) else "?" for d in value.shape)
            found.append((node.name, dims, str(value.dtype).removeprefix("torch.")))
    return found


def _tflite_inputs(path: Path) -> list[tuple[str, tuple[Any, ...], str]]:
    from ai_edge_litert.interpreter import Interpreter

    try:
        details = Interpreter(model_path=str(path)).get_input_details()
    except ValueError as exc:
        raise ValueError(f"not a readable TFLite model ({exc})") from None
    return [(d["name"], tuple(int(x) if x > 0 else "?" for x in d["shape_signature"]), d["dtype"].__name__)
            for d in details]


def main(argv: list[str]) -> int:
    """``--file=PATH [--input-shape=name=dims]…``: print the pinned inputs as JSON, or one error line."""
    files = [a.partition("=")[2] for a in argv if a.startswith("--file=")]
    pins = dict(parse_pins([a.partition("=")[2] for a in argv if a.startswith("--input-shape=")]))
    source = UserModel(model_id(Path(files[0])), Path(files[0]), tuple(pins.items()))
    try:
        specs = inputs(source.path, pins)
        params, macs = counts(source, specs)  # for a .py: builds and runs it once
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - the user's model failing its first forward pass, in its words
        print(f"building or running it failed: {one_line(exc)}", file=sys.stderr)
        return 2
    print(json.dumps({"inputs": [[s.name, list(s.shape), s.dtype] for s in specs], "params": params, "macs": macs}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
