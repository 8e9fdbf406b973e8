"""TFLite / LiteRT ``benchmark_model``: gflags-style ``--name=value`` flags, latencies in µs.

Output shape (each line may carry an ``INFO: `` prefix in newer builds): a parameter echo,
``Initialized session in X ms.``, one ``count=… first=… curr=… min=… max=… avg=… std=…`` line
for the warm-up phase and one for the timed phase (µs; newer builds add ``p5= median= p95=``),
``Inference timings in us: Init: A, First inference: B, Warmup (avg): C, Inference (avg): D``
and, with ``--report_peak_memory_footprint``, a peak memory line in MB. Each phase is found
after its ``Running benchmark for at least N iterations`` header (N checked against the
request, as are ``Num threads``/``Min num runs``/``Min warmup runs``), so the op-profiling
tables of ``--enable_op_profiling`` (whose ``Timings (microseconds): count=…`` lines look like
results) can fall anywhere.
"""

from __future__ import annotations

import re

from pytest_mobiledl.native import scan
from pytest_mobiledl.native.spec import Command, RunPlan, RunRequest, ToolError, ToolOutput, ToolSpec

LIB = "tflite"

#: The delegate names benchmark_model prints in "Explicitly applied <name> delegate".
_DELEGATE = {"gpu": "GPU", "nnapi": "NNAPI", "dsp": "Hexagon"}

_PREFIX = r"^(?:(?:INFO|WARN|WARNING|ERROR|VERBOSE): )?"
_STAT = re.compile(_PREFIX + r"count=(\d+)(.*)$", re.MULTILINE)
#: One header per phase (warm-up, timed) echoing the run count asked of it.
_HEADER = re.compile(_PREFIX + r"Running benchmark for at least (\d+) iterations", re.MULTILINE)
#: TF 2.3+; before, ``Average inference timings in us: Warmup: …, no stats: …`` — but those
#: builds do not know --report_peak_memory_footprint (``Unconsumed cmdline flags`` → bad_flags).
_TIMINGS = re.compile(_PREFIX + r"Inference timings in us: (.*)$", re.MULTILINE)
_THREADS = _PREFIX + r"(?:Num threads|#threads used for CPU inference): \[(\d+)\]"


def build_plan(request: RunRequest) -> RunPlan:
    argv = [
        request.binary,
        f"--graph={request.model}",
        f"--num_threads={request.threads}",
        f"--warmup_runs={request.warmup}",
        # The default 0.5 s warm-up floor would silently add warm-up runs; the request decides.
        "--warmup_min_secs=0",
        f"--num_runs={request.iterations}",
        f"--min_secs={request.min_time_s:g}",
        "--report_peak_memory_footprint=true",
        *_backend_flags(request),
    ]
    env = (("LD_LIBRARY_PATH", request.lib_dir),)
    return RunPlan(stage=(), steps=(Command(tuple(argv), env),))


def _backend_flags(request: RunRequest) -> list[str]:
    backend, precision = request.backend, request.precision
    if backend == "cpu":
        return ["--use_xnnpack=true", *(["--xnnpack_force_fp16=true"] if precision == "fp16" else [])]
    if backend == "gpu":
        # The GPU delegate allows fp16 by default; fp32 must be asked for explicitly.
        flags = ["--use_gpu=true", f"--gpu_precision_loss_allowed={'false' if precision == 'fp32' else 'true'}"]
        return flags + (["--gpu_experimental_enable_quant=true"] if precision == "int8" else [])
    if backend == "nnapi":
        return ["--use_nnapi=true", *(["--nnapi_allow_fp16=true"] if precision == "fp16" else [])]
    return ["--use_hexagon=true", f"--hexagon_lib_path={request.lib_dir}"]


def parse(stdout: str, stderr: str, returncode: int, request: RunRequest) -> ToolOutput:
    text = scan.combined(stdout, stderr)
    scan.check_runner(LIB, text)
    _check_errors(text)
    _check_delegate(text, request)
    scan.check_exit(LIB, returncode, text)

    headers = list(_HEADER.finditer(text))
    if len(headers) != 2:
        raise ToolError(
            LIB,
            "missing_lines",
            f"{len(headers)} of 2 'Running benchmark for' lines (warm-up, timed) found",
            scan.tail(text),
        )
    _check_settings(text, request, headers)
    # Each phase's statistics are the first 'count=' line after its header, wherever
    # op-profiling tables or delegate logs fall around them.
    warmed = _stat(_phase(text, headers[0].end(), headers[1].start(), "warm-up"), text)
    timed = _stat(_phase(text, headers[1].end(), len(text), "timed"), text)
    if int(warmed["count"]) != request.warmup:
        raise ToolError(
            LIB,
            "settings_mismatch",
            f"asked {request.warmup} warm-up runs, the tool did {int(warmed['count'])} (warmup_min_secs ignored?)",
            scan.tail(text),
        )
    if request.min_time_s == 0 and timed["count"] > request.iterations:
        raise ToolError(
            LIB,
            "settings_mismatch",
            f"asked {request.iterations} runs, the tool did {int(timed['count'])}",
            scan.tail(text),
        )
    init_us, avg_us, first_us = _timings(text)
    if abs(avg_us - timed["avg"]) > 1e-3 * max(avg_us, 1.0):
        raise ToolError(
            LIB,
            "implausible",
            f"Inference (avg) {avg_us} us disagrees with the timed phase avg {timed['avg']} us",
            scan.tail(text),
        )
    summary = {_KEYS[k]: v / 1000.0 for k, v in timed.items() if k in _KEYS}
    return ToolOutput(
        lib=LIB,
        samples_ms=None,
        summary_ms=summary,
        count=int(timed["count"]),
        init_ms=init_us / 1000.0,
        # Without warm-up runs the tool prints 0 for the first inference: not a measurement.
        first_inference_ms=first_us / 1000.0 if request.warmup else None,
        peak_memory_mb=_peak_memory(text),
        flags=("min_max_avg_only", *_fallback_flags(text, request)),
        raw_tail=scan.tail(text),
    )


#: Printed statistic → ToolOutput.summary_ms key.
_KEYS = {"avg": "mean", "min": "min", "max": "max", "std": "std", "median": "median", "p5": "p5", "p95": "p95"}


def _check_settings(text: str, request: RunRequest, headers: list[re.Match[str]]) -> None:
    """The parameter echo and the phase headers say what ran; both must match the request.

    ``Num threads: [N]`` is echoed by every version (LiteRT: when set, as here), 2.x builds add
    ``#threads used for CPU inference: [N]``; ``Min num runs``/``Min warmup runs`` likewise.
    """
    scan.search(LIB, _THREADS, text, "'Num threads: [N]'")
    scan.check_echo(
        LIB,
        text,
        (
            ("threads", _THREADS, request.threads),
            ("runs", _PREFIX + r"Min num runs: \[(\d+)\]", request.iterations),
            ("warm-up runs", _PREFIX + r"Min warmup runs: \[(\d+)\]", request.warmup),
        ),
    )
    for header, what, asked in zip(
        headers, ("warm-up runs", "runs"), (request.warmup, request.iterations), strict=True
    ):
        if int(header.group(1)) != asked:
            line = scan.whole_line(text, header)
            raise ToolError(LIB, "settings_mismatch", f"asked {what} {asked}, the tool echoed: {line}", scan.tail(text))


def _phase(text: str, start: int, end: int, what: str) -> re.Match[str]:
    found = _STAT.search(text, start, end)
    if found is None:
        raise ToolError(LIB, "missing_lines", f"no 'count=' line for the {what} phase", scan.tail(text))
    return found


def _timings(text: str) -> tuple[float, float, float]:
    """Init, timed mean and first inference (µs) from
    ``Inference timings in us: Init: A, First inference: B, Warmup (avg): C, Inference (avg): D``."""
    line = scan.search(LIB, _TIMINGS, text, "'Inference timings in us'")
    fields = dict(part.split(": ", 1) for part in line.group(1).split(", ") if ": " in part)
    values = []
    for key in ("Init", "Inference (avg)", "First inference"):
        if key not in fields:
            raise ToolError(LIB, "missing_lines", f"no {key} in: {line.group(0)}", scan.tail(text))
        values.append(scan.number(LIB, fields[key].strip(), key, text))
    return values[0], values[1], values[2]


def _stat(line: re.Match[str], text: str) -> dict[str, float]:
    """One ``count=`` line; a phase whose runs were all equal prints only ``curr=X(all same)``."""
    values = {"count": float(line.group(1))}
    for key, raw in re.findall(r"(\w+)=([^\s(]+)", line.group(2)):
        values[key] = scan.number(LIB, raw, f"{key}=", text)
    if "avg" not in values and "curr" in values:
        values.update(min=values["curr"], max=values["curr"], avg=values["curr"], std=0.0)
    missing = {"min", "max", "avg"} - values.keys()
    if missing and values["count"] > 0:
        raise ToolError(LIB, "missing_lines", f"'count=' line lacks {', '.join(sorted(missing))}", scan.tail(text))
    return values


def _peak_memory(text: str) -> float | None:
    peak = scan.optional(r"Overall peak memory footprint \(MB\) via periodic monitoring: (\S+)", text)
    if peak is None:
        # Older builds print only the overall footprint of the whole run.
        peak = scan.optional(r"Peak memory footprint \(MB\): init=\S+ overall=(\S+)", text)
    return scan.number(LIB, peak.group(1), "peak memory", text) if peak else None


def _check_errors(text: str) -> None:
    scan.fail_on(
        LIB,
        text,
        (
            (r"Failed to mmap model|Could not open '", "missing_model", "the model could not be opened"),
            (r"Unconsumed cmdline flags", "bad_flags", "this benchmark_model build does not know a flag"),
            (
                (
                    r"Didn't find op for builtin opcode|Encountered unresolved custom op|"
                    r"Op builtin_code out of range"
                ),
                "unsupported_op",
                "an operator is not in this build",
            ),
            (
                (
                    r"Failed to apply \w+ delegate|Failed to create \w+ delegate|"
                    r"GPU acceleration is unsupported|Disallowed CPU fallback"
                ),
                "delegate_failed",
                "the delegate failed",
            ),
            (
                r"Failed to initialize the interpreter|Failed to allocate tensors",
                "init_failed",
                "the interpreter could not be created",
            ),
            (r"Input tensor #\d+ should have", "bad_input", "the input shapes do not match"),
        ),
    )


def _check_delegate(text: str, request: RunRequest) -> None:
    name = _DELEGATE.get(request.backend)
    if name is None:
        return
    if scan.optional(rf"Though {name} delegate is explicitly applied", text):
        raise ToolError(
            LIB, "delegate_fallback", f"{name} delegate took no node: the whole graph ran on the CPU", scan.tail(text)
        )
    if scan.optional(rf"Explicitly applied {name} delegate", text) is None and scan.optional(_TIMINGS, text):
        raise ToolError(
            LIB,
            "delegate_fallback",
            f"no 'Explicitly applied {name} delegate' line: the run used the CPU",
            scan.tail(text),
        )


def _fallback_flags(text: str, request: RunRequest) -> tuple[str, ...]:
    name = _DELEGATE.get(request.backend)
    partial = name and scan.optional(
        rf"Explicitly applied {name} delegate, and the model graph will be partially", text
    )
    return ("delegate_fallback_cpu",) if partial else ()


SPEC = ToolSpec(
    lib=LIB,
    binary="benchmark_model",
    files=("tflite/benchmark_model",),
    optional_files=(
        "tflite/libhexagon_interface.so",
        "tflite/libhexagon_nn_skel.so",
        "tflite/libhexagon_nn_skel_v65.so",
        "tflite/libhexagon_nn_skel_v66.so",
    ),
    backends={
        "cpu": ("fp32", "fp16", "int8"),
        "gpu": ("fp32", "fp16", "int8"),
        "nnapi": ("fp32", "fp16", "int8"),
        "dsp": ("int8",),
    },
    unsupported={
        "npu": "benchmark_model reaches NPUs only through NNAPI (backend 'nnapi') or a vendor external delegate",
    },
    precision_notes={
        "fp32": "the Hexagon delegate runs quantized (8-bit) models only",
        "fp16": "the Hexagon delegate runs quantized (8-bit) models only",
    },
    reports=(
        "count",
        "min",
        "max",
        "mean",
        "std",
        "median/p5/p95 (newer builds)",
        "init_ms",
        "first_inference_ms",
        "peak_memory_mb",
    ),
    lacks=("per-run samples", "library version"),
    build_plan=build_plan,
    parse_output=parse,
)


#: The per-node table ``benchmark_model --enable_op_profiling=true`` prints (stats_calculator.cc's
#: "Run Order" table, under profiling_listener.cc's header): the regular runs only, not the
#: initialization's table above it.
_OPS_HEADER = "Operator-wise Profiling Info for Regular Benchmark Runs:"


def parse_layers(text: str) -> list[tuple[str, str, float, bool]]:
    """Per node: (name, node type, ms per inference, depthwise) from an op-profiling run's output.

    Columns are found by the header's names (``[start]`` came and went between versions); a
    node's time per inference is its average per call × its calls per run. Where the table of
    "Delegate internal" ops follows, the delegate's own node (``TfLiteXNNPackDelegate``…) is
    replaced by the ops it ran, so nothing counts twice. ValueError when no table is there.
    """
    start = text.find(_OPS_HEADER)
    if start < 0:
        raise ValueError(f"no '{_OPS_HEADER}' table: was --enable_op_profiling=true given?")
    body = text[start:]
    primary = _run_order(body)
    internal_at = body.find("Delegate internal:")
    if internal_at < 0:
        return primary
    internal = _run_order(body[internal_at:])
    return [row for row in primary if not re.search(r"delegate", row[1], re.IGNORECASE)] + internal


def _run_order(text: str) -> list[tuple[str, str, float, bool]]:
    lines = text.splitlines()
    at = next((i for i, line in enumerate(lines) if "== Run Order ==" in line), None)
    if at is None or at + 1 >= len(lines):
        raise ValueError("no 'Run Order' table after the op-profiling header")
    header = [h.strip() for h in lines[at + 1].split("\t") if h.strip()]
    try:
        kind, avg, calls = header.index("[node type]"), header.index("[avg ms]"), header.index("[times called]")
        name = header.index("[Name]")
    except ValueError:
        raise ValueError(f"the Run Order table's header is not benchmark_model's: {lines[at + 1].strip()!r}") from None
    rows = []
    for line in lines[at + 2:]:
        cells = [c.strip() for c in line.split("\t") if c.strip()]
        if len(cells) != len(header):
            break  # the blank line that ends the table
        label = re.sub(r"^\[(.*)\](:\d+)?$", r"\1", cells[name])
        rows.append((label, cells[kind], float(cells[avg]) * int(cells[calls]), False))
    if not rows:
        raise ValueError("the op-profiling table has no rows")
    return rows
