"""MNN ``benchmark.out``: ``models_dir loop warmup forwardtype threads precision``, all positional.

It benchmarks *every* file in ``models_dir`` (not only ``*.mnn``; readdir order), one row per
file, so this spec passes the model's parent directory and picks the row named for the model
(a folder holding other models costs time, not correctness). Weights are re-randomised on load.
Output (stdout)::

    MNN benchmark
    Forward type: CPU thread=4 precision=1 sparsity=0 sparseBlockOC=1 testQuantizedModel=0 …
    --------> Benchmarking... loop = 50, warmup = 10
    [ - ] mobilenet_v2.mnn            max =   12.345 ms  min =   10.123 ms  avg =   11.000 ms
"""

from __future__ import annotations

import posixpath
import re

from pytest_mobiledl.native import scan
from pytest_mobiledl.native.spec import Command, RunPlan, RunRequest, ToolOutput, ToolSpec

LIB = "mnn"

#: MNNForwardType: 0 CPU, 3 OpenCL, 5 NN (NNAPI on Android), 7 Vulkan.
FORWARD = {"cpu": 0, "gpu": 3, "nnapi": 5}
#: What benchmark.out echoes for each forward type (NNAPI has no name there).
_FORWARD_NAME = {0: "CPU", 3: "OpenCL", 5: "N/A", 7: "Vulkan"}
#: BackendConfig::PrecisionMode: 1 High keeps fp32, 2 Low allows fp16 (needs MNN_ARM82 on CPU).
PRECISION = {"fp32": 1, "fp16": 2, "int8": 1}

#: ``[ - ] %-24s    max = %8.3f ms  min = … avg = …`` (``%8.3fms``, no space, before 1.1.5);
#: ``quant-<name>`` rows too when testQuantizedModel=1 (2.6.2+).
_ROW = re.compile(
    r"^\[ - \] (?P<name>.+?)\s+max =\s*(\S+?)\s*ms\s+min =\s*(\S+?)\s*ms\s+avg =\s*(\S+?)\s*ms$", re.MULTILINE
)


def build_plan(request: RunRequest) -> RunPlan:
    argv = (
        request.binary,
        posixpath.dirname(request.model),
        str(request.iterations),
        str(request.warmup),
        str(FORWARD[request.backend]),
        str(request.threads),
        str(PRECISION[request.precision]),
    )
    return RunPlan(stage=(), steps=(Command(argv, (("LD_LIBRARY_PATH", request.lib_dir),)),))


def parse(stdout: str, stderr: str, returncode: int, request: RunRequest) -> ToolOutput:
    text = scan.combined(stdout, stderr)
    scan.check_runner(LIB, text)
    rows = list(_ROW.finditer(text))
    name = posixpath.basename(request.model)
    mine = [r for r in rows if r.group("name") == name]
    # Each model's own messages come just before its row: another model's are not this item's.
    scope = scan.section(text, rows, mine)
    scan.fail_on(LIB, scope, _ERRORS)
    if request.backend == "cpu":
        scan.fail_on(LIB, scope, ((r"Don't support type", "unsupported_op", "an operator has no CPU kernel"),))
    scan.check_exit(LIB, returncode, text)
    _check_settings(text, request)
    row = scan.pick_row(LIB, rows, (name,), text)
    high, low, mean = (scan.number(LIB, v, "latency", text) for v in row.groups()[1:])
    flags = ["min_max_avg_only"]
    if request.backend != "cpu" and scan.optional(r"Don't support type", scope):
        flags.append("delegate_fallback_cpu")
    if request.min_time_s > 0:
        flags.append("min_time_ignored")
    return ToolOutput(
        lib=LIB,
        samples_ms=None,
        summary_ms={"min": low, "max": high, "mean": mean},
        count=int(scan.search(LIB, _LOOP, text, "'Benchmarking... loop ='").group(1)),
        flags=tuple(flags),
        raw_tail=scan.tail(text),
    )


_ERRORS = (
    (r"^open \S+ failed", "missing_model", "the models directory could not be opened"),
    (r"Can't Find type=\d+ backend", "delegate_fallback", "this MNN build lacks the backend, it ran on the CPU"),
    (r"Invalid Model|Create Session Error|Error for Create", "init_failed", "the session could not be created"),
)

_FORWARD = r"^Forward type: \**([\w/]+)\**\s"
_LOOP = r"Benchmarking\.\.\. loop = (\d+)"


def _check_settings(text: str, request: RunRequest) -> None:
    """The echo says what ran: ``Forward type: **CPU** thread=4** precision=2`` until 2.6.2
    (precision since 0.1.1.2), without asterisks since; ``, warmup = N`` since 0.2.2.2.
    A build whose positional arguments differ (before 0.2.2.2 the third was the forward type)
    shows up here as a contradiction."""
    scan.check_echo(
        LIB,
        text,
        (
            ("forward type", _FORWARD, _FORWARD_NAME[FORWARD[request.backend]]),
            ("threads", r"^Forward type: .*?\bthread=(\d+)", request.threads),
            ("precision", r"^Forward type: .*?\bprecision=(\d+)", PRECISION[request.precision]),
            ("loop", r"Benchmarking\.\.\. loop = ([^,\s]+)", request.iterations),
            ("warmup", r"Benchmarking\.\.\. loop = [^,\s]+, warmup = (\d+)", request.warmup),
        ),
    )
    scan.search(LIB, r"^Forward type: .*?\bthread=\d+.*?\bprecision=\d+", text, "'Forward type: … precision='")
    scan.search(LIB, _LOOP + r", warmup = \d+", text, "'Benchmarking... loop = N, warmup = N'")


SPEC = ToolSpec(
    lib=LIB,
    binary="benchmark.out",
    files=("mnn/benchmark.out", "mnn/libMNN.so"),
    optional_files=(
        "mnn/libMNN_Express.so",
        "mnn/libMNN_CL.so",
        "mnn/libMNN_Vulkan.so",
        "mnn/libMNN_Arm82.so",
        "mnn/libc++_shared.so",
    ),
    backends={"cpu": ("fp32", "fp16", "int8"), "gpu": ("fp32", "fp16", "int8"), "nnapi": ("fp32", "fp16", "int8")},
    unsupported={
        "dsp": "benchmark.out has no forward type for a DSP in standard MNN builds",
        "npu": "MNN's NPU backends (HiAI, QNN) are not reachable through benchmark.out's forward types",
    },
    precision_notes={},
    reports=("count", "min", "max", "mean"),
    lacks=(
        "per-run samples",
        "std/percentiles",
        "init time",
        "first inference",
        "memory",
        "library version",
        "a minimum-time switch",
    ),
    build_plan=build_plan,
    parse_output=parse,
)


def parse_layers(text: str) -> list[tuple[str, str, float, bool]]:
    """Per op: (name, type, ms per inference, depthwise) from MNN's ``timeProfile.out`` output.

    Its "Sort by node name !" table (Profiler::printTable: tab-separated padded cells; newer
    versions add columns, found here by the header's names) holds each op's average over the
    loops. ``ConvolutionDepthwise`` names depthwise ops. ValueError when the table is missing.
    """
    lines = text.splitlines()
    at = next((i for i, line in enumerate(lines) if line.strip() == "Sort by node name !"), None)
    if at is None or at + 1 >= len(lines):
        raise ValueError("no 'Sort by node name !' table: not timeProfile.out's output")
    header = [h.strip() for h in lines[at + 1].split("\t")]
    try:
        name, kind, avg = header.index("Node Name"), header.index("Op Type"), header.index("Avg(ms)")
    except ValueError:
        raise ValueError(f"the table's header is not timeProfile's: {lines[at + 1].strip()!r}") from None
    rows = []
    for line in lines[at + 2:]:
        cells = [c.strip() for c in line.split("\t")]
        if len(cells) < len(header) - 1 or not cells[avg]:
            break  # "Print <=20 slowest Op…" or a blank line ends the table
        rows.append((cells[name], cells[kind], float(cells[avg]), False))
    if not rows:
        raise ValueError("timeProfile's table has no rows")
    return rows
