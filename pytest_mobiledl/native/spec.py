"""The types every native tool spec shares: what to run, how, and what came out.

A *native tool* is a library's own Android benchmark binary (TFLite's ``benchmark_model``,
``benchncnn``…). Each one gets a ``ToolSpec``: the files it needs under ``--runner-dir``, the
backends and precisions it can honour, the commands for one run, and a strict parser from its
text output to a ``ToolOutput``. Everything here is pure data and pure functions, so the specs
are tested on recorded outputs without a phone.

How a run is executed (the integrator's side, in order):

1. push every ``RunPlan.stage`` file (zero-filled inputs, input lists) to its device path;
2. run ``RunPlan.steps`` in order: a ``Command`` on the device (``where="device"``) or on the
   host, a ``Pull`` copies a device file to the host; stop at the first non-zero exit;
3. hand ``ToolSpec.parse`` the stdout of all commands concatenated in order, their stderr
   likewise, and the first non-zero exit status (0 when every command succeeded).
"""

from __future__ import annotations

import math
import posixpath
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from pytest_mobiledl.errors import MobiledlError
from pytest_mobiledl.record import FLAGS as RECORD_FLAGS

BACKENDS = ("cpu", "gpu", "nnapi", "dsp", "npu")
PRECISIONS = ("fp32", "fp16", "int8")
LAYOUTS = ("NCHW", "NHWC")

#: No real network on a real phone runs faster than this; a smaller number is a broken run
#: (a published benchmark stored a ResNet50 at 0.002 ms and nobody noticed).
MIN_LATENCY_MS = 0.01

#: Characters of raw output kept as evidence.
TAIL_CHARS = 2048

#: What a ToolOutput can say about itself. Anything a tool did not give, or did differently
#: from what was asked, is named here so a report never compares unlike numbers silently.
FLAGS: Mapping[str, str] = RECORD_FLAGS  # one vocabulary with the RunRecord

#: The kinds of failure a parser tells apart; ``ToolError.kind`` is one of these.
CAUSES: Mapping[str, str] = {
    "missing_runner": "the binary is absent or not executable on the device",
    "missing_library": "a shared library the binary needs is not on the device",
    "bad_flags": "the binary rejected a flag (a build older or newer than the spec expects)",
    "settings_mismatch": "the tool echoed threads, runs, warm-up or a backend other than the ones asked",
    "missing_model": "the model file could not be opened",
    "bad_input": "the model's inputs do not match the shapes or files given",
    "unsupported_op": "the library cannot run an operator of the model",
    "delegate_failed": "the accelerator could not be set up",
    "delegate_fallback": "the accelerator was asked but the whole graph ran on the CPU",
    "init_failed": "the engine could not be created",
    "crash": "the process died on a signal",
    "nonzero_exit": "the process exited non-zero for a reason the parser cannot name",
    "missing_lines": "an expected line is absent or malformed (truncated or unknown output)",
    "implausible": "the numbers cannot be right (too small, NaN, too few runs, min > max…)",
}


class Unsupported(MobiledlError):
    """A backend or precision the tool cannot honour; ``str()`` is a ready skip reason."""

    def __init__(self, lib: str, what: str, reason: str, supported: tuple[str, ...]) -> None:
        choices = ", ".join(supported) or "none"
        super().__init__(f"{lib} does not support {what}: {reason} (supported: {choices})")
        self.lib = lib
        self.what = what
        self.reason = reason


class ToolError(MobiledlError):
    """A native tool run that failed or printed something a parser cannot trust.

    ``cause`` is one line, parsed from the output where possible; ``raw_tail`` keeps the end of
    the raw output as evidence. ``str()`` is ``"<lib>: <cause>"``.
    """

    def __init__(self, lib: str, kind: str, cause: str, raw_tail: str = "") -> None:
        if kind not in CAUSES:
            raise ValueError(f"unknown ToolError kind {kind!r}")
        one_line = " ".join(cause.split())
        super().__init__(f"{lib}: {one_line}")
        self.lib = lib
        self.kind = kind
        self.cause = one_line
        self.raw_tail = raw_tail


@dataclass(frozen=True)
class RunRequest:
    """One run of one native tool. Paths are device paths unless named ``host_*``.

    ``binary`` is the device path of the tool; the directory holding it also holds its shared
    libraries (it becomes ``LD_LIBRARY_PATH``). ``work_dir`` is a scratch directory on the device
    that the integrator creates and empties. Model metadata (``input_*``, ``output_*``) is needed
    only by tools that cannot read it from the model (PyTorch, ncnn, MACE, SNPE).
    """

    binary: str
    model: str
    work_dir: str
    backend: str
    precision: str
    threads: int
    warmup: int
    iterations: int
    min_time_s: float = 0.0
    input_shapes: tuple[tuple[int, ...], ...] = ()
    input_names: tuple[str, ...] = ()
    output_names: tuple[str, ...] = ()
    output_shapes: tuple[tuple[int, ...], ...] = ()
    layout: str = "NCHW"
    host_runner_dir: str | None = None
    host_dir: str | None = None
    #: --cores: the command runs under taskset with them; a tool that pins its own threads
    #: (benchncnn's powersave) is told the same.
    cores: str = "all"

    def __post_init__(self) -> None:
        for name in ("binary", "model", "work_dir"):
            value = getattr(self, name)
            if not (isinstance(value, str) and posixpath.isabs(value)):
                raise ValueError(f"RunRequest.{name} must be an absolute device path, got {value!r}")
        if self.backend not in BACKENDS:
            raise ValueError(f"backend {self.backend!r} is not one of {', '.join(BACKENDS)}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision {self.precision!r} is not one of {', '.join(PRECISIONS)}")
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout {self.layout!r} is not one of {', '.join(LAYOUTS)}")
        if self.threads < 1 or self.warmup < 0 or self.iterations < 1:
            raise ValueError(
                f"threads ≥ 1, warmup ≥ 0, iterations ≥ 1 (got {self.threads}, {self.warmup}, {self.iterations})"
            )
        if not (math.isfinite(self.min_time_s) and self.min_time_s >= 0):
            raise ValueError(f"min_time_s must be finite and ≥ 0, got {self.min_time_s!r}")
        for shape in self.input_shapes + self.output_shapes:
            if not shape or any((not isinstance(d, int)) or d < 1 for d in shape):
                raise ValueError(f"shapes are non-empty tuples of positive ints, got {shape!r}")
        if self.input_names and self.input_shapes and len(self.input_names) != len(self.input_shapes):
            raise ValueError(f"{len(self.input_names)} input names for {len(self.input_shapes)} input shapes")
        if self.output_names and self.output_shapes and len(self.output_names) != len(self.output_shapes):
            raise ValueError(f"{len(self.output_names)} output names for {len(self.output_shapes)} output shapes")

    @property
    def lib_dir(self) -> str:
        return posixpath.dirname(self.binary)


@dataclass(frozen=True)
class Command:
    """One process to start: an argv list (never a shell string) and the variables it needs.

    ``where="host"`` commands run on the machine driving the phone (SNPE's diag viewer).
    """

    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()
    where: Literal["device", "host"] = "device"

    def __post_init__(self) -> None:
        if not self.argv or not all(isinstance(a, str) and a for a in self.argv):
            raise ValueError(f"argv must be non-empty strings, got {self.argv!r}")
        if self.where not in ("device", "host"):
            raise ValueError(f"where must be 'device' or 'host', got {self.where!r}")

    def with_env_prefix(self) -> list[str]:
        """The argv with ``env K=V`` in front: one list for an ``adb shell`` that takes argv."""
        if not self.env:
            return list(self.argv)
        return ["env", *(f"{k}={v}" for k, v in self.env), *self.argv]


@dataclass(frozen=True)
class Pull:
    """Copy a file the tool wrote on the device to the host before the next step."""

    device_path: str
    host_path: str


@dataclass(frozen=True)
class StagedFile:
    """A file to push before the run (zero-filled raw inputs, an input list)."""

    device_path: str
    content: bytes


Step = Command | Pull


@dataclass(frozen=True)
class RunPlan:
    stage: tuple[StagedFile, ...]
    steps: tuple[Step, ...]

    def __post_init__(self) -> None:
        if not any(isinstance(s, Command) and s.where == "device" for s in self.steps):
            raise ValueError("a plan runs at least one command on the device")

    @property
    def main(self) -> Command:
        """The device command that does the timed runs (the first device command)."""
        return next(s for s in self.steps if isinstance(s, Command) and s.where == "device")


@dataclass(frozen=True)
class ToolOutput:
    """What one run of a native tool reported, in milliseconds and megabytes.

    ``None`` means the tool did not report it — never zero. ``flags`` says what the tool did
    not give or did differently (vocabulary: ``FLAGS``). Construction validates the numbers,
    so an instance that exists holds numbers that can be right.
    """

    lib: str
    samples_ms: tuple[float, ...] | None
    summary_ms: Mapping[str, float]
    count: int
    init_ms: float | None = None
    first_inference_ms: float | None = None
    load_ms: float | None = None
    peak_memory_mb: float | None = None
    lib_version: str | None = None
    flags: tuple[str, ...] = ()
    raw_tail: str = ""

    def __post_init__(self) -> None:
        unknown = sorted(set(self.flags) - FLAGS.keys())
        if unknown:
            raise ValueError(f"unknown ToolOutput flags {unknown}")
        self._require(self.count >= 1, f"the tool ran {self.count} timed runs")
        if self.samples_ms is not None:
            self._require(len(self.samples_ms) == self.count, f"{len(self.samples_ms)} samples for count {self.count}")
            for value in self.samples_ms:
                self._latency("sample", value)
        else:
            self._require("mean" in self.summary_ms, "neither per-run samples nor a mean")
        for key, value in self.summary_ms.items():
            if key == "std":
                self._require(math.isfinite(value) and value >= 0, f"std = {value!r}")
            else:
                self._latency(key, value)
        low, mean, high = (self.summary_ms.get(k) for k in ("min", "mean", "max"))
        if low is not None and high is not None:
            self._require(low <= high, f"min {low} ms > max {high} ms")
            if mean is not None:
                # Tools print rounded values; allow the last printed digit to disagree.
                slack = 0.011 + 1e-6 * high
                self._require(low - slack <= mean <= high + slack, f"mean {mean} ms outside [{low}, {high}] ms")
        for name in ("init_ms", "first_inference_ms", "load_ms", "peak_memory_mb"):
            value = getattr(self, name)
            self._require(value is None or (math.isfinite(value) and value >= 0), f"{name} = {value!r}")

    @property
    def mean_ms(self) -> float:
        if self.samples_ms is not None:
            return math.fsum(self.samples_ms) / len(self.samples_ms)
        return self.summary_ms["mean"]

    def _latency(self, name: str, value: float) -> None:
        self._require(
            isinstance(value, (int, float)) and math.isfinite(value) and value >= MIN_LATENCY_MS,
            f"{name} latency {value!r} ms is not a finite number ≥ {MIN_LATENCY_MS} ms",
        )

    def _require(self, condition: bool, message: str) -> None:
        if not condition:
            raise ToolError(self.lib, "implausible", message, self.raw_tail)


PlanFn = Callable[[RunRequest], RunPlan]
ParseFn = Callable[[str, str, int, RunRequest], ToolOutput]


@dataclass(frozen=True)
class ToolSpec:
    """One library's benchmark tool: its files, what it can run, its commands and its parser.

    ``backends`` maps each supported backend to the precisions it honours there;
    ``unsupported`` gives the reason for every other backend. ``files`` are relative to the
    user's ``--runner-dir`` (``required`` always, ``optional`` only for some backends).
    """

    lib: str
    binary: str
    files: tuple[str, ...]
    optional_files: tuple[str, ...]
    backends: Mapping[str, tuple[str, ...]]
    unsupported: Mapping[str, str]
    precision_notes: Mapping[str, str]
    reports: tuple[str, ...]
    lacks: tuple[str, ...]
    build_plan: PlanFn = field(repr=False)
    parse_output: ParseFn = field(repr=False)

    def __post_init__(self) -> None:
        covered = set(self.backends) | set(self.unsupported)
        if covered != set(BACKENDS) or set(self.backends) & set(self.unsupported):
            raise ValueError(f"{self.lib}: every backend is either supported or has a reason")
        for backend, precisions in self.backends.items():
            if not precisions or set(precisions) - set(PRECISIONS):
                raise ValueError(f"{self.lib}: bad precisions {precisions!r} for {backend}")
        if f"{self.lib}/{self.binary}" not in self.files:
            raise ValueError(f"{self.lib}: files must include {self.lib}/{self.binary}")

    @property
    def precisions(self) -> tuple[str, ...]:
        """Every precision the tool honours on at least one backend."""
        return tuple(p for p in PRECISIONS if any(p in ps for ps in self.backends.values()))

    def supports(self, backend: str, precision: str) -> str | None:
        """``None`` when the tool can run this combination, else the reason it cannot."""
        try:
            self.check(backend, precision)
        except Unsupported as exc:
            return str(exc)
        return None

    def check(self, backend: str, precision: str) -> None:
        if backend not in self.backends:
            reason = self.unsupported.get(backend, f"{backend!r} is not a backend id")
            raise Unsupported(self.lib, f"backend {backend!r}", reason, tuple(self.backends))
        if precision not in self.backends[backend]:
            reason = self.precision_notes.get(precision, "the tool has no switch for it")
            raise Unsupported(self.lib, f"precision {precision!r} on {backend}", reason, self.backends[backend])

    def plan(self, request: RunRequest) -> RunPlan:
        self.check(request.backend, request.precision)
        return self.build_plan(request)

    def argv(self, request: RunRequest) -> list[str]:
        """The argv of the device command that does the timed runs."""
        return list(self.plan(request).main.argv)

    def parse(self, stdout: str, stderr: str, returncode: int, request: RunRequest) -> ToolOutput:
        """Strictly parse one run's output; a ToolError for anything that cannot be trusted."""
        output = self.parse_output(stdout, stderr, returncode, request)
        if output.count < request.iterations:
            raise ToolError(
                self.lib,
                "implausible",
                f"ran {output.count} timed runs, fewer than the {request.iterations} requested",
                output.raw_tail,
            )
        return output
