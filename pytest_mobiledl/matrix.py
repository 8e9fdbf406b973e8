"""The benchmark matrix: every device × lib × model × backend × precision × threads is one Case.

Cases a library or device cannot run are kept with the reason, so the plugin can skip them
visibly instead of dropping them. Ids read left to right, device first, and never hold the
library version, so ``--benchmark-compare`` matches an item across library versions. A
``--variant`` build of a library is part of its case: the id shows it as ``lib@label``, and the
variants of a case come out one after the other, so each round of repeats alternates them.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cache

from pytest_mobiledl import engines, routes, variants
from pytest_mobiledl.keys import build_name
from pytest_mobiledl.modelspec import format_of
from pytest_mobiledl.options import Selection


@dataclass(frozen=True, order=True)
class Case:
    device: str
    lib: str
    model: str
    backend: str
    precision: str
    threads: int
    #: A --variant label, or "" for the library as installed with this plugin.
    variant: str = ""

    @property
    def id(self) -> str:
        lib = build_name(self.lib, self.variant)
        return f"{self.device}-{lib}-{self.model}-{self.backend}-{self.precision}-t{self.threads}"


def repeat_id(case: Case, repeat: int, repeats: int) -> str:
    """A repeat's test id: the case's id, with ``-rK`` when the case runs more than once."""
    return case.id if repeats == 1 else f"{case.id}-r{repeat}"


def expand(selection: Selection, devices: Iterable[str],
           unsupported: Callable[[Case], str | None]) -> Iterator[tuple[Case, str | None]]:
    """Every selected case with the reason it cannot run (``unsupported`` asks the device), or None."""
    dims = (devices, selection.libs, selection.models, selection.backends, selection.precisions, selection.threads)
    for device, lib, model, backend, precision, threads in itertools.product(*dims):
        source = selection.user_models.get(model)
        reason = _lib_reason(lib, precision) or (_route_reason(lib, format_of(source.path))
                                                 if source else None)
        for label in variants.labels(selection.variants, lib):  # innermost: a case's variants are adjacent
            case = Case(device, lib, model, backend, precision, threads, label)
            yield case, reason or unsupported(case)


@cache
def _route_reason(lib: str, fmt: str) -> str | None:
    return routes.reason(lib, fmt)


@cache
def _lib_reason(lib: str, precision: str) -> str | None:
    engine = engines.get(lib)
    unavailable: str | None = getattr(engine, "UNAVAILABLE", None)
    if unavailable:
        return unavailable
    if precision not in engine.PRECISIONS:
        return f"{lib} has no {precision} conversion route (it has: {', '.join(engine.PRECISIONS)})"
    return None
