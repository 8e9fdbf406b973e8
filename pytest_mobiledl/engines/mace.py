"""MACE (Xiaomi): Android binaries only, and a converter that no package registry serves.

It appears in the matrix so a team sees it, skipped with the reason; its Android tool
(``mace_run``) has a spec and parser in ``native/mace.py`` for models converted with MACE's own
tools outside this plugin.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from pytest_mobiledl.zoo import ModelSpec

LIB = "mace"
MODULE = ""  # no Python runtime
DIST = "mace"
EXTRA = ""
SUFFIX = ".pb"
HOST_BACKENDS: tuple[str, ...] = ()
PRECISIONS = ("fp32", "fp16", "int8")
CONVERTERS: tuple[str, ...] = ()
RUNTIME: tuple[str, ...] = ()
FLAGS: tuple[str, ...] = ()
UNAVAILABLE = ("mace has no conversion route here: its converter (tools/converter.py in the MACE repository, "
               "TensorFlow 1.x era) is not on any package registry; it runs on phones only (native_runners/mace)")


def convert(model: ModelSpec, precision: str, out: Path) -> NoReturn:
    raise RuntimeError(UNAVAILABLE)


def open_session(path: str, threads: int, backend: str, precision: str) -> NoReturn:
    raise RuntimeError(UNAVAILABLE)


def engine_options(backend: str, precision: str) -> dict[str, Any]:
    return {}
