"""The user's own model files (``--models=path/to/model.onnx``): inspected, pinned, referenced.

A file replaces the zoo's PyTorch source: each library with a route from its format converts it
(``FILE_ROUTES`` and ``convert_file`` of an engine), and parity compares every artifact with the
file itself, run by its own runtime (ONNX Runtime for ``.onnx``, LiteRT for ``.tflite``).
Dynamic dimensions must be pinned (``--input-shape name=1,3,224,224``): a benchmark runs one
shape. An ONNX file is rewritten with its pins into a static copy that every route starts from.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_mobiledl.errors import MobiledlError
from pytest_mobiledl.tensors import TensorSpec

if TYPE_CHECKING:
    import numpy as np

SUFFIXES = (".onnx", ".tflite")
INSPECT_TIMEOUT_S = 120


@dataclass(frozen=True)
class UserModel:
    id: str
    path: Path
    pins: tuple[tuple[str, tuple[int, ...]], ...] = ()

    def argv(self) -> list[str]:
        """How a child process is told about it."""
        pins = [f"--input-shape={name}={','.join(map(str, dims))}" for name, dims in self.pins]
        return [f"--file={self.path}", *pins]


def is_file_ref(value: str) -> bool:
    return suffix(Path(value)) in SUFFIXES


def suffix(path: Path) -> str:
    """A model file's format, case-insensitively: ``NET.ONNX`` is an .onnx file."""
    return path.suffix.lower()


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


def inspect(model: UserModel) -> tuple[TensorSpec, ...]:
    """The file's inputs with their pinned shapes, checked in a child process (libraries load
    there). MobiledlError, one line, for a file that is malformed or has unpinned dimensions."""
    argv = [sys.executable, "-m", "pytest_mobiledl.usermodels", *model.argv()]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=INSPECT_TIMEOUT_S, check=False)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise MobiledlError(f"{model.path}: {lines[-1] if lines else f'inspection failed ({done.returncode})'}")
    return tuple(TensorSpec(name, tuple(shape), dtype) for name, shape, dtype in json.loads(done.stdout))


def inputs(path: Path, pins: Mapping[str, tuple[int, ...]]) -> tuple[TensorSpec, ...]:
    """In-process inspection (the child's side): raises ValueError with what is wrong."""
    declared = _onnx_inputs(path) if suffix(path) == ".onnx" else _tflite_inputs(path)
    specs = []  # pins naming no input here may be for another file: the plugin checks them all
    for name, dims, dtype in declared:
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
    try:
        specs = inputs(Path(files[0]), pins)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(json.dumps([[s.name, list(s.shape), s.dtype] for s in specs]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
