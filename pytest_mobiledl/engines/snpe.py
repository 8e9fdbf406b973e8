"""SNPE (Qualcomm): Android binaries only, from a licensed SDK that no package registry serves.

It appears in the matrix so a team sees it, skipped with the reason; its Android tool
(``snpe-net-run``) has a spec and parser in ``native/snpe.py`` for models converted with the SDK's own
tools outside this plugin.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from pytest_mobiledl.zoo import ModelSpec

LIB = "snpe"
MODULE = ""  # no Python runtime
DIST = "snpe"
EXTRA = ""
SUFFIX = ".dlc"
HOST_BACKENDS: tuple[str, ...] = ()
PRECISIONS = ("fp32", "fp16", "int8")
CONVERTERS: tuple[str, ...] = ()
RUNTIME: tuple[str, ...] = ()
FLAGS: tuple[str, ...] = ()
UNAVAILABLE = ("snpe has no conversion route here: its converters (snpe-onnx-to-dlc, …) ship only in "
               "Qualcomm's licensed SDK; it runs on phones only (native_runners/snpe)")


def convert(model: ModelSpec, precision: str, out: Path) -> NoReturn:
    raise RuntimeError(UNAVAILABLE)


def open_session(path: str, threads: int, backend: str, precision: str) -> NoReturn:
    raise RuntimeError(UNAVAILABLE)


def engine_options(backend: str, precision: str) -> dict[str, Any]:
    return {}
