"""Engines: one module per library, holding everything the plugin knows about it.

A module is an ``Engine`` (structural typing): its constants say what it supports, ``convert``
turns a source model into its format (run in a conversion process), ``open_session`` loads an
artifact for the host runner (run in the runner process). Library imports stay inside those
functions, so importing an engine module is free and collection never pays for torch.

Adding a library is one module here plus one line in ``LIBS``.

Optional, where they apply: ``UNAVAILABLE`` (why no item of the library can run here: MACE and
SNPE are listed so a team sees them, skipped with it); ``FILE_ROUTES`` (suffixes of user model
files it converts) with ``convert_file(model, precision, out)`` (``model.source`` is the static
file); ``native_files(artifact) -> (folder, model name)`` when its Android tool reads another
layout.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pytest_mobiledl.errors import MobiledlError

if TYPE_CHECKING:
    import numpy as np

    from pytest_mobiledl.modelspec import ModelSpec
    from pytest_mobiledl.tensors import TensorSpec

#: Library id -> engine module. Ids follow the conventions in docs/design.md.
LIBS: dict[str, str] = {
    "onnxruntime": "pytest_mobiledl.engines.onnxruntime",
    "tflite": "pytest_mobiledl.engines.tflite",
    "ncnn": "pytest_mobiledl.engines.ncnn",
    "mnn": "pytest_mobiledl.engines.mnn",
    "pytorch": "pytest_mobiledl.engines.pytorch",
    "executorch": "pytest_mobiledl.engines.executorch",
    "mace": "pytest_mobiledl.engines.mace",
    "snpe": "pytest_mobiledl.engines.snpe",
}


class Session(Protocol):
    """A loaded model, ready to run: what the host runner times."""

    def inputs(self) -> Sequence[TensorSpec]: ...

    def run(self, feeds: Mapping[str, np.ndarray]) -> Sequence[np.ndarray]: ...


class Engine(Protocol):
    LIB: str
    #: Module whose presence means the runtime is installed, and the distribution naming its version.
    MODULE: str
    DIST: str
    #: The pip extra of pytest-mobiledl that installs it.
    EXTRA: str
    #: Artifact file suffix.
    SUFFIX: str
    HOST_BACKENDS: tuple[str, ...]
    PRECISIONS: tuple[str, ...]
    #: Distributions whose versions key the artifact cache (a new converter means a new artifact).
    CONVERTERS: tuple[str, ...]
    #: Modules the runner imports before timing: importing a library is a process cost, not a
    #: model's load or init (ExecuTorch's runtime import alone takes ~8 s).
    RUNTIME: tuple[str, ...]
    #: Record flags every run of this engine carries (e.g. ``no_mobile_optimization``).
    FLAGS: tuple[str, ...]

    def convert(self, model: ModelSpec, precision: str, out: Path) -> None: ...

    def open_session(self, path: str, threads: int, backend: str, precision: str) -> Session: ...

    def engine_options(self, backend: str, precision: str) -> dict[str, Any]: ...


def get(lib: str) -> Engine:
    if lib not in LIBS:
        raise MobiledlError(f"unknown library {lib!r} (known: {', '.join(LIBS)})")
    module: Any = importlib.import_module(LIBS[lib])
    return module  # type: ignore[no-any-return]


def file_route(engine: Engine, suffix: str) -> Any:
    """The engine's converter from a user's ``suffix`` file; ValueError if it has none."""
    if suffix not in getattr(engine, "FILE_ROUTES", ()):
        routes = getattr(engine, "FILE_ROUTES", ())
        known = f"it converts {', '.join(routes)} files" if routes else "it converts only the zoo's PyTorch models"
        raise ValueError(f"{engine.LIB} has no route from {suffix} files ({known})")
    return engine.convert_file  # type: ignore[attr-defined]


def installed(engine: Engine) -> bool:
    return bool(engine.MODULE) and importlib.util.find_spec(engine.MODULE) is not None


def version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not-installed"
