"""The model zoo: source models defined in code, converted to each library's format, cached.

Every model is one file in ``models/`` (installed as ``pytest_mobiledl.models``) defining
``MODEL = ModelSpec(...)`` in PyTorch, with random seeded weights: latency depends on the
architecture, not on trained values, and nothing is ever downloaded. PyTorch is the one source
because every library here has a recommended route from it (see each engine's ``convert``).

Conversions run in a child process (``python -m pytest_mobiledl.zoo convert …``): converters
import torch and friends, which the pytest process never pays for. The same process runs the
new artifact once against the source model (``parity``) and writes the numbers, with the
artifact's input and output shapes, beside it (``<artifact>.meta.json``).
Artifacts are cached under a key of the model's source, the engine's code and the converter
versions; writes are atomic and locked, so a killed conversion leaves nothing a later run
trusts and two workers never convert the same artifact twice.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import json
import os
import pkgutil
import re
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_mobiledl import engines, parity, progress, usermodels
from pytest_mobiledl.digests import file_sha256
from pytest_mobiledl.errors import ConversionError, disk_full, no_space
from pytest_mobiledl.tensors import TensorSpec, random_inputs
from pytest_mobiledl.usermodels import UserModel

if TYPE_CHECKING:
    import torch

MODELS_PACKAGE = "pytest_mobiledl.models"
CONVERT_TIMEOUT_S = 1800


@dataclass(frozen=True)
class ModelSpec:
    name: str
    domain: str
    inputs: tuple[TensorSpec, ...]
    build: Callable[[], torch.nn.Module] | None = None
    seed: int = 0
    #: A user's own model file (static .onnx or .tflite) standing in for ``build``.
    source: Path | None = None
    #: A user's model runs with the weights ``build`` gives it; the zoo's are re-drawn.
    keep_weights: bool = False

    def instantiate(self, input_seed: int | None = None) -> tuple[torch.nn.Module, tuple[torch.Tensor, ...]]:
        """The module with its seeded weights, in eval mode, and its seeded example inputs."""
        import torch

        if self.build is None:
            raise ValueError(f"{self.name} is a model file, not a PyTorch model")
        torch.manual_seed(self.seed)
        module = self.build() if self.keep_weights else _variance_preserving(self.build())
        try:
            module.eval()
        except NotImplementedError:
            # A torch.export program's module refuses .eval(): its graph runs in the mode it was
            # exported in. The flag is still set, for tools that check it (torch.jit.freeze).
            for layer in module.modules():
                layer.training = False
        feeds = random_inputs(self.inputs, self.seed if input_seed is None else input_seed)
        return module, tuple(torch.from_numpy(feeds[t.name]) for t in self.inputs)


def _variance_preserving(module: torch.nn.Module) -> torch.nn.Module:
    """Re-draw weights so activations keep their scale through every layer.

    PyTorch's default init shrinks activations layer after layer: in a deep random network the
    output ends up equal to the last bias whatever the input, and parity would pass for any
    conversion. He init on fan-in and random batch-norm affines keep every layer in the output.
    """
    import torch
    from torch import nn

    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, (nn.Conv1d, nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(layer.weight, mode="fan_in", nonlinearity="relu")
                if layer.bias is not None:
                    nn.init.normal_(layer.bias, std=0.1)
            elif isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)):
                nn.init.uniform_(layer.weight, 0.5, 1.5)
                nn.init.normal_(layer.bias, std=0.1)
    return module


@dataclass(frozen=True)
class Artifact:
    model: str
    lib: str
    precision: str
    path: Path

    @cached_property
    def meta(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(meta_path(self.path).read_text())
        return result

    @property
    def parity(self) -> dict[str, Any]:
        """The artifact's numbers against its source model (see parity.py)."""
        return self.meta["parity"]  # type: ignore[no-any-return]

    @property
    def inputs(self) -> tuple[TensorSpec, ...]:
        """The inputs as the artifact declares them (what a native tool must be told)."""
        return tuple(TensorSpec(name, tuple(shape), dtype) for name, shape, dtype in self.meta["inputs"])


def names() -> list[str]:
    """Model ids, read from file names: listing models imports none of them."""
    package = importlib.import_module(MODELS_PACKAGE)
    return sorted(m.name for m in pkgutil.iter_modules(package.__path__) if not m.name.startswith("_"))


def load(name: str) -> ModelSpec:
    spec: ModelSpec = importlib.import_module(f"{MODELS_PACKAGE}.{name}").MODEL
    return spec


def artifact(model: str, lib: str, precision: str, cache_dir: Path, rebuild: bool = False,
             source: UserModel | None = None, say: progress.Say | None = None) -> Artifact:
    """The model converted for ``lib`` at ``precision``: from the zoo, or from the user's file.

    A cached artifact is used only if its sha256 is the one its metadata recorded: a damaged
    one (bits flipped, truncated, metadata unreadable) is rebuilt once, with a warning. A
    conversion says what it does and how long it took through ``say``; a full disk is a
    DiskFullError (the machine's problem), anything else a ConversionError (the library's)."""
    path = artifact_path(model, lib, precision, cache_dir, source)
    if complete(path) and not rebuild and damage(path) is None:
        return Artifact(model, lib, precision, path)
    from filelock import FileLock

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(f"{path}.lock")
        lock.acquire()
    except OSError as exc:
        if disk_full(exc):
            raise no_space(path.parent) from None
        raise ConversionError(f"cannot write the model cache {cache_dir}: {exc.strerror or exc} "
                              "(choose another with --model-cache)") from None
    try:
        # Another process may have built it while we waited.
        problem = damage(path) if complete(path) else None
        if problem:
            warnings.warn(CacheWarning(f"cached {path.name} {problem}: rebuilding it"), stacklevel=2)
        if rebuild or not complete(path) or problem:
            what = f"converting {model} for {lib} ({precision}) and checking its parity"
            with progress.step(what, say or (lambda line: None),
                               done=" (before the runner started: in this item's duration, not in its latencies)"):
                _convert_or_full(model, lib, precision, path, source)
    finally:
        lock.release()
    return Artifact(model, lib, precision, path)


def ran_other(artifact: Artifact, ran_sha256: str) -> str | None:
    """Why a record cannot be the artifact's (its runner hashed other bytes), or None.

    Checked after every repeat: a cached file damaged mid-session would otherwise be measured,
    and given the parity computed for the bytes it replaced. A damaged cache file is removed,
    so the next repeat rebuilds it."""
    verified = artifact.meta.get("sha256")
    if not ran_sha256 or ran_sha256 == verified:
        return None
    damaged = damage(artifact.path) is not None or file_sha256(artifact.path) != verified
    if damaged:
        _VERIFIED.clear()
        artifact.path.unlink(missing_ok=True)  # incomplete now: the next use converts it again
    return (f"the runner ran {artifact.path.name} with sha256 {ran_sha256[:12]}…, not the verified "
            f"{str(verified)[:12]}…: " + ("the cached file was damaged during the session; it is rebuilt for the next "
                                          "repeat" if damaged else "the device's copy differs from the host's"))


class CacheWarning(UserWarning):
    """A cached artifact was damaged and has been rebuilt."""


#: (path, size, mtime, inode) of artifacts already checked by this process: a cached file is
#: hashed once per session, not once per item; a file written since has another mtime.
_VERIFIED: set[tuple[str, int, int, int]] = set()


def damage(path: Path) -> str | None:
    """What is wrong with a cached artifact and its metadata, or None if they agree."""
    try:
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns, stat.st_ino)
        if key in _VERIFIED:
            return None
        meta = json.loads(meta_path(path).read_text())
        recorded = meta.get("sha256") if isinstance(meta, dict) else None
        if not isinstance(recorded, str) or not all(k in meta for k in ("parity", "inputs", "outputs")):
            return f"has malformed metadata ({meta_path(path).name} lacks its checksum or fields)"
        actual = file_sha256(path)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return f"has unreadable metadata ({type(exc).__name__}: {exc})"
    if actual != recorded:
        return f"does not match its metadata (sha256 {actual[:12]}…, recorded {recorded[:12]}…; truncated or corrupt)"
    _VERIFIED.add(key)
    return None



def artifact_path(model: str, lib: str, precision: str, cache_dir: Path, source: UserModel | None = None) -> Path:
    """Where that artifact is (or will be) cached: its name changes with anything that changes it."""
    engine = engines.get(lib)
    return cache_dir / model / f"{lib}-{precision}-{_cache_key(model, engine, precision, source)}{engine.SUFFIX}"


def _zoo_modules(module: str) -> list[str]:
    """A zoo module and, transitively, the zoo modules it imports (ssd uses mobilenet_v2's blocks)."""
    import ast

    origin = importlib.util.find_spec(module).origin  # type: ignore[union-attr]
    tree = ast.parse(Path(origin).read_text())  # type: ignore[arg-type]
    found = [module]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(f"{MODELS_PACKAGE}."):
            found += [m for m in _zoo_modules(node.module) if m not in found]  # type: ignore[arg-type]
    return found


def source_key(model: str) -> str:
    """A digest of a zoo model's source files."""
    h = hashlib.sha256()
    for module in _zoo_modules(f"{MODELS_PACKAGE}.{model}"):
        h.update(Path(importlib.util.find_spec(module).origin).read_bytes())  # type: ignore[arg-type,union-attr]
    return h.hexdigest()[:16]


def _convert(model: str, lib: str, precision: str, path: Path, source: UserModel | None) -> None:
    partial = path.with_name(f"{path.name}.{os.getpid()}.part")
    argv = [sys.executable, "-m", "pytest_mobiledl.zoo", "convert", model, lib, precision, str(partial),
            *(source.argv() if source else [])]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=CONVERT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        done = None
    try:
        if done is None:
            raise ConversionError(f"{lib} conversion of {model} ({precision}) exceeded {CONVERT_TIMEOUT_S} s")
        if done.returncode != 0 or not partial.exists() or not meta_path(partial).exists():
            cause = failure(done.stderr, done.returncode)
            raise ConversionError(f"{lib} cannot convert {model} ({precision}): {cause}")
        # The artifact's checksum, so a later session trusts only the bytes that were checked.
        meta = json.loads(meta_path(partial).read_text())
        meta["sha256"] = file_sha256(partial)
        meta_path(partial).write_text(json.dumps(meta))
        # Metadata first, artifact last and atomically: an artifact that exists is complete.
        os.replace(meta_path(partial), meta_path(path))
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
        meta_path(partial).unlink(missing_ok=True)


def _convert_or_full(model: str, lib: str, precision: str, path: Path, source: UserModel | None) -> None:
    """``_convert``, with a full disk told apart from a library that cannot convert (whose error
    the child reports in the same words). ``_convert`` cleans its partial files either way."""
    try:
        _convert(model, lib, precision, path, source)
    except ConversionError as exc:
        if _NO_SPACE.search(str(exc)):
            raise no_space(path.parent) from None
        raise
    except OSError as exc:
        if disk_full(exc):
            raise no_space(path.parent) from None
        raise


#: How a converter's failed write says the disk is full (errno 28 ENOSPC, 122 EDQUOT, 27 EFBIG).
_NO_SPACE = re.compile(r"No space left on device|Disk quota exceeded|File too large|\[Errno (28|122|27)\]")


def failure(stderr: str, returncode: int) -> str:
    """The one line that says why a conversion process failed.

    Python errors end stderr with ``Type: message``; a converter that aborts in C++ ends it with
    whatever it printed last (often a warning), so the last error-like line is preferred."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if re.search(r"error|exception|what\(\)|abort|fault", line, re.IGNORECASE)]
    cause = (errors or lines or [f"exit status {returncode}"])[-1]
    if returncode < 0:
        cause += f" (the converter died of {signal.Signals(-returncode).name})"
    return cause


def complete(path: Path) -> bool:
    return path.exists() and meta_path(path).exists()


def meta_path(artifact: Path) -> Path:
    return artifact.with_name(artifact.name + ".meta.json")


def build(model: ModelSpec, lib: str, precision: str, out: Path) -> dict[str, Any]:
    """Convert, run the artifact once against the source, and describe it: the child's work."""
    import torch

    engine = engines.get(lib)
    engine.convert(model, precision, out)
    module, example = model.instantiate()
    _, other = model.instantiate(input_seed=model.seed + 1)
    with torch.no_grad():
        references, others = _outputs(module(*example)), _outputs(module(*other))
    from pytest_mobiledl.modelstats import stats

    # MACs travel with the artifact: the plausibility floor of every latency measured on it.
    return {**_describe(engine, out, precision, [x.numpy() for x in example], references, others),
            "macs": stats(model).macs}


def build_file(source: UserModel, lib: str, precision: str, out: Path) -> dict[str, Any]:
    """The same for a user's file: converted along the library's route from its format, and
    compared with the file run by its own framework."""
    import tempfile

    from pytest_mobiledl import routes

    engine, fmt = engines.get(lib), usermodels.format_of(source.path)
    if fmt in usermodels.TORCH_FORMATS:  # the zoo's own routes, with the user's weights
        routes.route(lib, fmt)
        return build(usermodels.torch_model(source), lib, precision, out)
    if fmt in usermodels.TF_FORMATS:
        return _build_tf(source, lib, precision, out)
    specs = usermodels.inputs(source.path, dict(source.pins))
    with tempfile.TemporaryDirectory(prefix="mobiledl-user-") as tmp:
        start = (usermodels.pinned_onnx(source.path, specs, Path(tmp) / "pinned.onnx")
                 if usermodels.suffix(source.path) == ".onnx" else source.path)
        convert = routes.converter(lib, fmt)
        convert(ModelSpec(source.id, "user", specs, source=start), precision, out)
        example, other = (list(random_inputs(specs, seed).values()) for seed in (0, 1))
        references = usermodels.reference(start, dict(zip([s.name for s in specs], example, strict=True)))
        others = usermodels.reference(start, dict(zip([s.name for s in specs], other, strict=True)))
        from pytest_mobiledl.modelstats import file_macs

        return {**_describe(engine, out, precision, example, references, others), "macs": file_macs(start)}


def _build_tf(source: UserModel, lib: str, precision: str, out: Path) -> dict[str, Any]:
    """A TensorFlow model: TensorFlow's converter for LiteRT, tf2onnx then the .onnx route otherwise."""
    import tempfile

    from pytest_mobiledl import routes, tfmodels

    engine = engines.get(lib)
    routes.route(lib, usermodels.format_of(source.path))
    if precision not in engine.PRECISIONS:
        raise ValueError(f"{lib} has no {precision} route (it has: {', '.join(engine.PRECISIONS)})")
    if lib == "tflite":
        pinned = usermodels.inputs(source.path, dict(source.pins))
        tfmodels.to_tflite(source.path, pinned, precision, out)
        example, other = (list(random_inputs(pinned, seed).values()) for seed in (0, 1))
        references, others = tfmodels.run(source.path, pinned, example), tfmodels.run(source.path, pinned, other)
        macs = tfmodels.stats(source.path, pinned)[1]
        return {**_describe(engine, out, precision, example, references, others), "macs": macs}
    with tempfile.TemporaryDirectory(prefix="mobiledl-tf-") as tmp:
        # TensorFlow never loads here: MNN's converter aborts beside it (see tfmodels).
        onnx_file, specs, (references, others), macs = tfmodels.to_onnx_apart(source.path, source.pins, Path(tmp))
        # tf2onnx may rename inputs; the ONNX route takes the file's own names and the same shapes.
        onnx_specs = usermodels.inputs(onnx_file, {})
        engines.file_route(engine, ".onnx")(ModelSpec(source.id, "user", onnx_specs, source=onnx_file), precision, out)
    example, other = (list(random_inputs(specs, seed).values()) for seed in (0, 1))
    return {**_describe(engine, out, precision, example, references, others), "macs": macs}


def _describe(engine: Any, out: Path, precision: str, example: list[Any], references: list[Any],
              others: list[Any]) -> dict[str, Any]:
    import numpy as np

    # The runtime must take the artifact: if it cannot (a missing op), that is the finding.
    session = engine.open_session(str(out), 1, "cpu", precision)
    feeds = {spec.name: x.reshape(spec.shape).astype(spec.dtype)
             for spec, x in zip(session.inputs(), example, strict=True)}
    outputs = session.run(feeds)
    return {
        "parity": parity.compare(references, outputs, precision, parity.sensitivity(references, others)),
        "inputs": [[spec.name, list(spec.shape), spec.dtype] for spec in session.inputs()],
        "outputs": [list(np.shape(o)) for o in outputs],
    }


def _cache_key(model: str, engine: Any, precision: str, source: UserModel | None) -> str:
    h = hashlib.sha256(precision.encode())
    if source is not None:
        h.update(repr(source.pins).encode())
        for file in usermodels.files(source.path):  # a .py's own imports are not: --mobiledl-rebuild
            h.update(str(file.relative_to(source.path) if source.path.is_dir() else file.name).encode())
            with file.open("rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
    # The model (and the zoo files it imports), how it is instantiated, converted and checked
    # (this module's functions that shape an artifact, not its cache plumbing), and its route.
    model_module = [] if source else _zoo_modules(f"{MODELS_PACKAGE}.{model}")
    for module in (*model_module, "pytest_mobiledl.parity", "pytest_mobiledl.usermodels",
                   "pytest_mobiledl.tensors", "pytest_mobiledl.tfmodels", "pytest_mobiledl.routes", engine.__name__):
        origin = importlib.util.find_spec(module).origin  # type: ignore[union-attr]
        h.update(Path(origin).read_bytes())  # type: ignore[arg-type]
    # _convert: what the metadata records (its sha256); caches of an older layout are not reused.
    for function in (ModelSpec.instantiate, _variance_preserving, build, build_file, _build_tf, _describe, _outputs,
                     _convert):
        h.update(inspect.getsource(function).encode())
    tf_source = source is not None and usermodels.format_of(source.path) in usermodels.TF_FORMATS
    for dist in (*engine.CONVERTERS, *(("tensorflow-cpu", "tf2onnx") if tf_source else ())):
        h.update(f"{dist}={engines.version(dist)}".encode())
    return h.hexdigest()[:16]


def _outputs(result: Any) -> list[Any]:
    import numpy as np

    tensors = list(result) if isinstance(result, (tuple, list)) else [result]
    return [np.asarray(t.detach()) for t in tensors]


def main(argv: list[str]) -> int:
    """``convert MODEL LIB PRECISION OUT [--file=PATH --input-shape=…]``: the child's side of ``artifact``."""
    positional = [a for a in argv if not a.startswith("--")]
    if len(positional) != 5 or positional[0] != "convert":
        print("usage: python -m pytest_mobiledl.zoo convert MODEL LIB PRECISION OUT [--file=PATH]", file=sys.stderr)
        return 2
    _, model, lib, precision, out = positional
    files = [a.partition("=")[2] for a in argv if a.startswith("--file=")]
    pins = usermodels.parse_pins([a.partition("=")[2] for a in argv if a.startswith("--input-shape=")])
    started = time.perf_counter()
    try:
        if files:
            result = build_file(UserModel(model, Path(files[0]), pins), lib, precision, Path(out))
        else:
            result = build(load(model), lib, precision, Path(out))
    except Exception as exc:  # noqa: BLE001 - any converter or runtime error is the finding, in its own words
        print(f"{type(exc).__name__}: {exc}".replace("\n", " ")[:500], file=sys.stderr)
        return 1
    # Which process built it and how long conversion plus parity took (imports included).
    result["build"] = {"pid": os.getpid(), "seconds": round(time.perf_counter() - started, 2)}
    meta_path(Path(out)).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
