"""OpProfile: one case's per-operator times from its library's own profiler. A versioned contract.

A profile is made by a profiling run, a process of its own (``python -m pytest_mobiledl.ops``),
never by a latency run: a profiler's overhead must never reach the latency figures. The same
process also times the session unprofiled (``latency_ms``), so every profile says how much of
the real latency its ops account for (``coverage``).

Format history (a reader per version; the writer writes the newest only):

- 1: this module's fields.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from pytest_mobiledl.keys import build_name
from pytest_mobiledl.ops.taxonomy import CLASSES, classify

SCHEMA = 1
#: Flag of a profile whose op times are not the library's own per-op timing (ncnn's extractor).
APPROXIMATION = "approximation"


@dataclass(frozen=True)
class Op:
    #: The node's or layer's own name in the library's graph (may repeat across calls).
    name: str
    #: The library's op type, as its profiler printed it (``Conv``, ``ConvolutionDepthwise``…).
    type: str
    op_class: str
    #: Time per inference, ms: every call of this node in one inference, the mean over the typical
    #: profiled runs (a run preempted on a shared core is left out whole: ``ops.run.typical``).
    ms: float
    #: Whether ``type`` maps to a class; unmapped ops are ``other`` and listed, never dropped.
    mapped: bool = True

    def __post_init__(self) -> None:
        if self.op_class not in CLASSES:
            raise ValueError(f"op class {self.op_class!r} is none of {', '.join(CLASSES)}")
        if not (math.isfinite(self.ms) and self.ms >= 0):
            raise ValueError(f"op {self.name!r} has time {self.ms!r} ms: must be finite and >= 0")


def op(name: str, type_: str, ms: float, depthwise: bool = False) -> Op:
    cls, mapped = classify(type_, depthwise)
    return Op(name, type_, cls, ms, mapped)


@dataclass(frozen=True)
class OpProfile:
    lib: str
    lib_version: str
    model: str
    backend: str
    precision: str
    threads: int
    #: What produced the times: the library's API or tool, in its own words.
    profiler: str
    #: Profiled inferences (0 when there is no profile).
    runs: int
    #: Median latency of the same session, unprofiled, in the same process: the coverage reference.
    latency_ms: float | None
    ops: tuple[Op, ...] = ()
    #: Why there is no profile, or what limits it (empty when the profile is plain).
    note: str = ""
    flags: tuple[str, ...] = ()
    device: Mapping[str, Any] = field(default_factory=dict)
    #: A --variant's label ("" for the library as installed with the plugin).
    variant: str = ""
    schema: int = SCHEMA

    def __post_init__(self) -> None:
        if self.schema != SCHEMA:
            raise ValueError(f"OpProfile writes schema {SCHEMA}, not {self.schema}")
        if not self.ops and not self.note:
            raise ValueError(f"{self.lib} {self.model}: a profile without ops must say why (note)")
        if self.latency_ms is not None and not (math.isfinite(self.latency_ms) and self.latency_ms > 0):
            raise ValueError(f"latency_ms must be finite and > 0, not {self.latency_ms!r}")

    @property
    def total_ms(self) -> float:
        return sum(o.ms for o in self.ops)

    @property
    def coverage(self) -> float | None:
        """The ops' sum against the unprofiled latency (1.0 = every millisecond accounted for)."""
        return self.total_ms / self.latency_ms if self.ops and self.latency_ms else None

    def by_class(self) -> dict[str, float]:
        """ms per op class, every class present (0.0 where none ran)."""
        out = dict.fromkeys(CLASSES, 0.0)
        for o in self.ops:
            out[o.op_class] += o.ms
        return out

    def unmapped(self) -> list[str]:
        return sorted({o.type for o in self.ops if not o.mapped})

    @property
    def label(self) -> str:
        """How tables name the build: ``lib`` or ``lib@variant``."""
        return build_name(self.lib, self.variant)

    def case_key(self) -> tuple[str, str, str, str, str, int]:
        """The case without its build: what two builds' (or two runs') profiles are paired on."""
        return (str(self.device.get("serial", "host")), self.lib, self.model, self.backend, self.precision,
                self.threads)

    def with_(self, **changes: Any) -> OpProfile:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["device"] = dict(self.device)
        return data


def from_dict(data: Mapping[str, Any]) -> OpProfile:
    """A profile from its JSON form, whatever version wrote it; an unknown version is a clear error."""
    version = data.get("schema")
    reader = _READERS.get(version)  # type: ignore[arg-type]
    if reader is None:
        raise ValueError(f"op profile schema {version!r} is not one this version reads "
                         f"({', '.join(map(str, _READERS))}): upgrade pytest-mobiledl")
    return reader(data)


def _read_v1(data: Mapping[str, Any]) -> OpProfile:
    fields = dict(data)
    try:
        fields["ops"] = tuple(Op(**o) for o in data.get("ops", ()))
        fields["flags"] = tuple(data.get("flags", ()))
        return OpProfile(**fields)
    except TypeError as exc:
        raise ValueError(f"op profile v1 is malformed: {exc}") from None


_READERS = {1: _read_v1}


#: The phone tools that print per-layer times, and the module whose ``parse_layers`` reads them.
NATIVE_TOOLS = {"tflite": "benchmark_model --enable_op_profiling=true", "ncnn": "benchncnn (NCNN_BENCHMARK build)",
                "mnn": "timeProfile.out", "snpe": "snpe-diagview (--profiling_level detailed)"}


def from_tool(lib: str, text: str, model: str, backend: str, precision: str, threads: int,
              latency_ms: float | None = None, lib_version: str = "unknown") -> OpProfile:
    """A profile from a phone tool's per-layer output (``native/<lib>.py``'s ``parse_layers``)."""
    import importlib

    if lib not in NATIVE_TOOLS:
        raise ValueError(f"{lib} has no per-layer tool parser (these have: {', '.join(NATIVE_TOOLS)})")
    parse = importlib.import_module(f"pytest_mobiledl.native.{lib}").parse_layers
    ops = tuple(op(name, kind, ms, dw) for name, kind, ms, dw in parse(text))
    return OpProfile(lib, lib_version, model, backend, precision, threads, profiler=NATIVE_TOOLS[lib], runs=0,
                     latency_ms=latency_ms, ops=ops)
