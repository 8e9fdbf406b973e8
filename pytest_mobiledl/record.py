"""RunRecord: the one contract between whatever ran a model and everything that reads results.

Host runners, emulated devices and the libraries' own Android tools all end in a RunRecord, so
storage and reports never care where a number came from. It is immutable and validated on
construction: a record that exists is a record that can be right.

Schema history (the writer writes only the newest; readers exist for every version listed):

1. First version. Latencies in milliseconds, as measured where the model ran.
2. A record is one *repeat*: ``repeat`` numbers it within its item (an item runs its case in
   several fresh processes, see ``--repeats``), and ``conditions`` holds what the device was
   like while it ran (cores, frequencies, temperatures…). A version-1 record reads as repeat 1
   with no conditions.
3. ``block``: the lockstep block the repeat ran in (the cases a verdict compares, run together
   close in time; see docs/statistics.md). Versions 1 and 2 read with an empty block.

Fields of version 3 (``None`` means "the runner could not tell", never zero):

=====================  =====================================================================
schema                 3
repeat                 which repeat of its item this record is, from 1
lib, lib_version       library id (``onnxruntime``) and the version that ran
model                  model id (``mobilenet_v2``) or the user's file name
artifact_sha256        sha256 of the model file that ran
backend, precision     ``cpu``/``gpu``/``nnapi``/``dsp``/``npu``; ``fp32``/``fp16``/``int8``
threads                threads the library was asked to use
warmup, iterations     warm-up runs done, timed runs requested
samples_ms             every timed run's latency, in order; ``None`` when the tool prints
                       only a summary (then ``flags`` says so, e.g. ``mean_only``)
summary_ms             what a summary-only tool printed (``mean``, ``min``, ``max``, ``std``, ``p50``…);
                       empty when ``samples_ms`` is given (statistics derive from samples)
count                  timed runs actually done (≥ ``iterations``)
load_ms, init_ms       reading the model / preparing the interpreter (allocation, delegates)
first_inference_ms     the first run after init: the cold-start cost a user sees
peak_rss_mb            peak resident memory of the process that ran the model (its own VmHWM;
                       a host run forked from a server leaves out import-only code pages)
load_avg_1m            1-minute load average where the model ran, just before it ran
output_sha256          digest of the raw output bytes of the last run
parity                 comparison against the source framework (filled by the zoo)
device                 static facts of the device (serial, model, CPU, cores…)
engine_options         library settings that change the numbers (e.g. ncnn fp16 arithmetic)
conditions             the device's state around the run (cores used, frequencies,
                       temperatures, battery…); empty when not observed. Its keys are listed
                       in docs/design.md ("A phone at a steady state")
flags                  what is unusual about this record, from ``FLAGS``
block                  the block this repeat ran in: ``id`` (the same for every case of the
                       block within a session), ``mode`` (``lockstep``: processes alive
                       together, timed runs taking turns; ``sequence``: one tool invocation
                       per case, back to back), ``size`` (cases in it); in lockstep also
                       ``slot`` (its place in the block) and ``turns`` (when each of its turns
                       began, CLOCK_MONOTONIC seconds of the device); empty when unknown
=====================  =====================================================================
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from pytest_mobiledl.errors import RecordError

SCHEMA = 3

#: Latency floor: no real network on a real device runs faster; a smaller number is a broken run.
MIN_LATENCY_MS = 0.001

BACKENDS = ("cpu", "gpu", "nnapi", "dsp", "npu")
PRECISIONS = ("fp32", "fp16", "int8")

#: What is unusual about a record: the one vocabulary of runners, native tool parsers and reports.
FLAGS = {
    "mean_only": "the tool printed a mean and no per-run samples",
    "min_max_avg_only": "the tool printed min/max/avg (maybe std), no per-run samples",
    "percentiles_only": "the tool printed a distribution (min/max/mean/percentiles), no samples",
    "delegate_fallback_cpu": "part of the graph ran on the CPU although an accelerator was asked",
    "warmup_fixed": "the tool ignores the requested warm-up count (it does its own)",
    "warmup_included": "the summary includes the warm-up runs (the tool cannot separate them)",
    "threads_not_set": "the tool has no thread-count switch; the library chose",
    "min_time_ignored": "a minimum run time was asked but the tool has no such switch",
    "backend_unverified": "the output does not prove which backend ran (it is fixed in the model)",
    "count_unreported": "the tool does not print its run count; count is what the plan asked",
    "settings_mismatch": "the tool ignored part of the request (e.g. benchncnn ran its built-in list, "
    "ignoring param=); the row was picked by the model's name",
    "no_mobile_optimization": "no mobile optimization pass ran on the artifact",
    "injected_delay": "a test-only delay was added to every run",
    "hot_start": "the phone's CPU was above --cooldown-temp when the run began (--cooldown-timeout passed)",
    "throttled": "the busiest used core ran ≥ 10 % below its max clock during the run",
    "usb_powered": "the phone drew external (USB) power: its charging current masks the energy drain",
    "saved_summary": "read back from a run saved before per-run samples were kept (its median and spread)",
}
#: One of these stands in for per-run samples when a tool prints only a summary.
SUMMARY_FLAGS = ("mean_only", "min_max_avg_only", "percentiles_only", "saved_summary")


@dataclass(frozen=True)
class RunRecord:
    lib: str
    lib_version: str
    model: str
    artifact_sha256: str
    backend: str
    precision: str
    threads: int
    warmup: int
    iterations: int
    count: int
    samples_ms: tuple[float, ...] | None = None
    summary_ms: Mapping[str, float] = field(default_factory=dict)
    load_ms: float | None = None
    init_ms: float | None = None
    first_inference_ms: float | None = None
    peak_rss_mb: float | None = None
    load_avg_1m: float | None = None
    output_sha256: str | None = None
    parity: Mapping[str, Any] | None = None
    device: Mapping[str, Any] = field(default_factory=dict)
    engine_options: Mapping[str, Any] = field(default_factory=dict)
    flags: tuple[str, ...] = ()
    repeat: int = 1
    conditions: Mapping[str, Any] = field(default_factory=dict)
    block: Mapping[str, Any] = field(default_factory=dict)
    schema: int = SCHEMA

    def __post_init__(self) -> None:
        if self.schema != SCHEMA:
            raise RecordError(f"record schema {self.schema!r}: this writer only makes {SCHEMA}")
        _check(bool(self.lib and self.model and self.lib_version), "lib, lib_version and model are required")
        _check(self.backend in BACKENDS, f"backend {self.backend!r} is not one of {', '.join(BACKENDS)}")
        _check(self.precision in PRECISIONS, f"precision {self.precision!r} is not one of {', '.join(PRECISIONS)}")
        _check(self.threads >= 1, f"threads must be ≥ 1, got {self.threads}")
        _check(isinstance(self.repeat, int) and self.repeat >= 1, f"repeat must be ≥ 1, got {self.repeat!r}")
        _check(self.count >= 1, "no timed runs (count is 0)")
        _check(self.count >= self.iterations, f"{self.count} timed runs, fewer than the {self.iterations} requested")
        unknown = set(self.flags) - FLAGS.keys()
        _check(not unknown, f"unknown flags {sorted(unknown)}")
        if self.samples_ms is not None:
            _check(len(self.samples_ms) == self.count, f"{len(self.samples_ms)} samples for count {self.count}")
            _check_latencies("samples_ms", self.samples_ms)
            _check(not self.summary_ms, "summary_ms must be empty when samples_ms is given")
        else:
            _check("mean" in self.summary_ms, "neither samples_ms nor a summary mean")
            _check(bool(set(SUMMARY_FLAGS) & set(self.flags)), "a summary-only record needs its flag")
            _check_latencies("summary_ms", [v for k, v in self.summary_ms.items() if k != "std"])
        for name in ("load_ms", "init_ms", "first_inference_ms", "peak_rss_mb"):
            value = getattr(self, name)
            _check(value is None or (math.isfinite(value) and value >= 0), f"{name} = {value!r}")

    @property
    def median_ms(self) -> float:
        """The central value reports compare; a summary-only tool's mean stands in for it."""
        if self.samples_ms is None:
            return float(self.summary_ms.get("median", self.summary_ms.get("p50", self.summary_ms["mean"])))
        ordered = sorted(self.samples_ms)
        mid = len(ordered) // 2
        return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2

    def with_(self, **changes: Any) -> RunRecord:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["samples_ms"] = list(self.samples_ms) if self.samples_ms is not None else None
        data["flags"] = list(self.flags)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, allow_nan=False)


def from_dict(data: Mapping[str, Any]) -> RunRecord:
    """Read a record of any supported schema version; anything else is a RecordError."""
    if not isinstance(data, Mapping):
        raise RecordError(f"a record is a JSON object, got {type(data).__name__}")
    version = data.get("schema")
    reader = _READERS.get(version)  # type: ignore[arg-type]
    if reader is None:
        raise RecordError(
            f"record schema {version!r} is not one this pytest-mobiledl reads ({', '.join(map(str, _READERS))})"
        )
    return reader(data)


def from_json(text: str) -> RunRecord:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise RecordError(f"not a JSON record: {exc}") from None
    return from_dict(data)


def _read_v1(data: Mapping[str, Any]) -> RunRecord:
    if {"repeat", "conditions"} & data.keys():
        raise RecordError("record has unknown fields for schema 1: " + ", ".join(sorted({"repeat", "conditions"}
                                                                                       & data.keys())))
    return _read_v2({**data, "schema": 2})


def _read_v2(data: Mapping[str, Any]) -> RunRecord:
    if "block" in data:
        raise RecordError("record has unknown fields for schema 2: block")
    return _read_v3({**data, "schema": 3})


def _read_v3(data: Mapping[str, Any]) -> RunRecord:
    names = set(RunRecord.__dataclass_fields__)
    missing = {"lib", "lib_version", "model", "artifact_sha256", "backend", "precision", "threads",
               "warmup", "iterations", "count"} - data.keys()
    if missing:
        raise RecordError(f"record lacks {', '.join(sorted(missing))}")
    unknown = data.keys() - names
    if unknown:
        raise RecordError(f"record has unknown fields {', '.join(sorted(unknown))}")
    values = dict(data)
    samples = values.get("samples_ms")
    try:
        values["samples_ms"] = tuple(float(s) for s in samples) if samples is not None else None
        values["flags"] = tuple(values.get("flags", ()))
        return RunRecord(**values)
    except (TypeError, ValueError) as exc:
        raise RecordError(f"malformed record: {exc}") from None


_READERS = {1: _read_v1, 2: _read_v2, 3: _read_v3}


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise RecordError(message)


def _check_latencies(name: str, values: Sequence[float]) -> None:
    for value in values:
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= MIN_LATENCY_MS):
            raise RecordError(f"{name} holds {value!r}: latencies are finite and ≥ {MIN_LATENCY_MS} ms")
