"""MNN ``benchmark.out``: ``models_dir loop warmup forwardtype threads precision``, all positional.

It benchmarks *every* file in ``models_dir`` (not only ``*.mnn``), so this spec passes the
model's parent directory and the integrator must put the model alone in it. Weights are
re-randomised on load. Output (stdout)::

    MNN benchmark
    Forward type: CPU thread=4 precision=1 sparsity=0 sparseBlockOC=1 testQuantizedModel=0 …
    --------> Benchmarking... loop = 50, warmup = 10
    [ - ] mobilenet_v2.mnn            max =   12.345 ms  min =   10.123 ms  avg =   11.000 ms
"""

from __future__ import annotations

import posixpath
import re

from pytest_mobiledl.native import scan
from pytest_mobiledl.native.spec import Command, RunPlan, RunRequest, ToolError, ToolOutput, ToolSpec

LIB = "mnn"

#: MNNForwardType: 0 CPU, 3 OpenCL, 5 NN (NNAPI on Android), 7 Vulkan.
FORWARD = {"cpu": 0, "gpu": 3, "nnapi": 5}
#: What benchmark.out echoes for each forward type (NNAPI has no name there).
_FORWARD_NAME = {0: "CPU", 3: "OpenCL", 5: "N/A", 7: "Vulkan"}
#: BackendConfig::PrecisionMode: 1 High keeps fp32, 2 Low allows fp16 (needs MNN_ARM82 on CPU).
PRECISION = {"fp32": 1, "fp16": 2, "int8": 1}

_RESULT = r"^\[ - \] (\S+)\s+max =\s*(\S+) ms\s+min =\s*(\S+) ms\s+avg =\s*(\S+) ms\s*$"


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
    scan.fail_on(
        LIB,
        text,
        (
            (r"^open \S+ failed", "missing_model", "the models directory could not be opened"),
            (
                r"Can't Find type=\d+ backend",
                "delegate_fallback",
                "this MNN build lacks the backend, it ran on the CPU",
            ),
            (r"Invalid Model|Create Session Error|Error for Create", "init_failed", "the session could not be created"),
        ),
    )
    if request.backend == "cpu":
        scan.fail_on(LIB, text, ((r"Don't support type", "unsupported_op", "an operator has no CPU kernel"),))
    scan.check_exit(LIB, returncode, text)
    _check_settings(text, request)
    rows = list(re.finditer(_RESULT, text, re.MULTILINE))
    name = posixpath.basename(request.model)
    if len(rows) != 1 or rows[0].group(1) != name:
        found = ", ".join(r.group(1) for r in rows) or "none"
        raise ToolError(
            LIB,
            "missing_model" if not rows else "missing_lines",
            f"expected one result line for {name}, found {found} (the model must be alone in its directory)",
            scan.tail(text),
        )
    high, low, mean = (scan.number(LIB, v, "latency", text) for v in rows[0].groups()[1:])
    flags = ["min_max_avg_only"]
    if request.backend != "cpu" and scan.optional(r"Don't support type", text):
        flags.append("delegate_fallback_cpu")
    if request.min_time_s > 0:
        flags.append("min_time_ignored")
    return ToolOutput(
        lib=LIB,
        samples_ms=None,
        summary_ms={"min": low, "max": high, "mean": mean},
        count=int(scan.search(LIB, r"Benchmarking\.\.\. loop = (\d+)", text, "'Benchmarking... loop ='").group(1)),
        flags=tuple(flags),
        raw_tail=scan.tail(text),
    )


def _check_settings(text: str, request: RunRequest) -> None:
    echo = scan.search(
        LIB, r"^Forward type: \**([\w/]+)\**\s+thread=(\d+)\**\s+precision=(\d+)", text, "'Forward type:'"
    )
    expected = (_FORWARD_NAME[FORWARD[request.backend]], request.threads, PRECISION[request.precision])
    got = (echo.group(1), int(echo.group(2)), int(echo.group(3)))
    if got != expected:
        raise ToolError(
            LIB,
            "bad_flags",
            f"benchmark.out ran {got}, asked {expected} (forward, threads, precision)",
            scan.tail(text),
        )
    warmup = scan.search(LIB, r"Benchmarking\.\.\. loop = \d+, warmup = (\d+)", text, "'warmup ='").group(1)
    if int(warmup) != request.warmup:
        raise ToolError(
            LIB, "bad_flags", f"benchmark.out warmed up {warmup} times, asked {request.warmup}", scan.tail(text)
        )


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
