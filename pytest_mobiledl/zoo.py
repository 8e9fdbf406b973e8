"""Artifacts, the parent's side: where each is cached, under which key, whether it is intact, and
the conversion process that makes it.

A model converted for a library at a precision is an artifact. It is made by a child process
(``conversion.py``): converters import torch and friends, which the pytest process never pays
for. Artifacts are cached under a key of everything that shapes them (the model's source, the
conversion module and what it imports, the engine's code, the converter versions); writes are
atomic and locked, so a killed conversion leaves nothing a later run trusts and two workers never
convert the same artifact twice. A cached artifact is used only if its bytes are the ones its
metadata recorded.

``ModelSpec``, ``names`` and ``load`` (defined in ``modelspec``) are named here too: users'
model files import ``ModelSpec`` from here, as the README shows.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import warnings
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from pytest_mobiledl import conversion, engines, progress, usermodels
from pytest_mobiledl.conversion import meta_path as meta_path
from pytest_mobiledl.digests import feed, file_sha256, known_sha256
from pytest_mobiledl.errors import ConversionError, disk_full, no_space
from pytest_mobiledl.modelspec import MODELS_PACKAGE, TF_FORMATS, format_of
from pytest_mobiledl.modelspec import ModelSpec as ModelSpec
from pytest_mobiledl.modelspec import load as load
from pytest_mobiledl.modelspec import names as names
from pytest_mobiledl.tensors import TensorSpec
from pytest_mobiledl.usermodels import UserModel

CONVERT_TIMEOUT_S = 1800


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
        actual = known_sha256(path)  # the one reading the record and the push use too
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


def _cache_key(model: str, engine: Any, precision: str, source: UserModel | None) -> str:
    h = hashlib.sha256(precision.encode())
    if source is not None:
        h.update(repr(source.pins).encode())
        for file in usermodels.files(source.path):  # a .py's own imports are not: --mobiledl-rebuild
            h.update(str(file.relative_to(source.path) if source.path.is_dir() else file.name).encode())
            feed(h, file)
    tf_source = source is not None and format_of(source.path) in TF_FORMATS
    for part in _code_parts(None if source else model, engine.__name__, tuple(engine.CONVERTERS), tf_source):
        h.update(part)
    return h.hexdigest()[:16]


@functools.cache
def _code_parts(model: str | None, engine: str, converters: tuple[str, ...], tf_source: bool) -> tuple[bytes, ...]:
    """What the key hashes of code and converters, read once per process (~40 ms a read, per item).

    The model (and the zoo files it imports), the conversion process and every module of the
    package it runs (how a model is instantiated, converted, checked and described), and the
    engine's module: whole files, so no change to what shapes an artifact goes unkeyed."""
    model_modules = imported(f"{MODELS_PACKAGE}.{model}", MODELS_PACKAGE) if model else ()
    code = dict.fromkeys([*imported(conversion.__name__, "pytest_mobiledl"), *imported(engine, "pytest_mobiledl")])
    parts = [chunk for module in (*model_modules, *code) for chunk in (module.encode(), _origin(module).read_bytes())]
    dists = (*converters, *(("tensorflow-cpu", "tf2onnx") if tf_source else ()))
    return (*parts, *(f"{dist}={engines.version(dist)}".encode() for dist in dists))


def source_key(model: str) -> str:
    """A digest of a zoo model's source files."""
    h = hashlib.sha256()
    for module in imported(f"{MODELS_PACKAGE}.{model}", MODELS_PACKAGE):
        h.update(_origin(module).read_bytes())
    return h.hexdigest()[:16]


@functools.cache
def imported(module: str, within: str) -> tuple[str, ...]:
    """``module`` and, transitively, every module under ``within`` it imports, wherever in its code
    (an import inside a function runs too): what a process running ``module`` runs of them."""
    found = [module]
    for name in found:  # grows as it is walked
        for node in ast.walk(ast.parse(_origin(name).read_text())):
            if isinstance(node, ast.Import):
                candidates = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                # ``from package import submodule`` imports the submodule; ``from module import name``, the module.
                candidates = [f"{node.module}.{alias.name}" for alias in node.names if _under(node.module, within)]
                candidates = [c if _is_module(c) else node.module for c in candidates]
            else:
                continue
            found += [c for c in dict.fromkeys(candidates) if _under(c, within) and c not in found]
    return tuple(found)


def _under(module: str, package: str) -> bool:
    return module == package or module.startswith(f"{package}.")


def _origin(module: str) -> Path:
    return Path(importlib.util.find_spec(module).origin)  # type: ignore[arg-type,union-attr]


def _is_module(name: str) -> bool:
    """Whether ``name`` is a submodule, asked without importing its parent unless that is a
    package (a zoo model's module imports torch)."""
    parent = importlib.util.find_spec(name.rpartition(".")[0])
    return parent is not None and parent.submodule_search_locations is not None and (
        importlib.util.find_spec(name) is not None)


def _convert(model: str, lib: str, precision: str, path: Path, source: UserModel | None) -> None:
    partial = path.with_name(f"{path.name}.{os.getpid()}.part")
    argv = [sys.executable, "-m", conversion.__name__, "convert", model, lib, precision, str(partial),
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


