"""What a library without a host runtime or converter here answers if asked to convert or run.

The matrix skips such a library with its ``UNAVAILABLE`` reason before either is reached.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from pytest_mobiledl.modelspec import ModelSpec

HOST_BACKENDS: tuple[str, ...] = ()
CONVERTERS: tuple[str, ...] = ()
RUNTIME: tuple[str, ...] = ()
FLAGS: tuple[str, ...] = ()


def convert(model: ModelSpec, precision: str, out: Path) -> NoReturn:
    raise RuntimeError("this library has no converter here (see its UNAVAILABLE reason)")


def open_session(path: str, threads: int, backend: str, precision: str) -> NoReturn:
    raise RuntimeError("this library has no host runtime (see its UNAVAILABLE reason)")


def engine_options(backend: str, precision: str) -> dict[str, Any]:
    return {}
