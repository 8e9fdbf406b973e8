"""PyTorch Mobile ``speed_benchmark_torch`` (built from pytorch/binaries with BUILD_BINARY=ON).

Flags are gflags-style: ``--model --input_dims --input_type --warmup --iter --report_pep
[--vulkan]``. It prints only a mean (``Main run finished. Microseconds per iter: X. Iters per
second: Y``) unless ``--report_pep=true``, which adds one ``PyTorchObserver {... "value":
"N"}`` line per timed run (integer µs): this spec always asks for them, so PyTorch has samples.
"""

from __future__ import annotations

import json
import math
import re

from pytest_mobiledl.native import scan
from pytest_mobiledl.native.spec import Command, RunPlan, RunRequest, ToolError, ToolOutput, ToolSpec

LIB = "pytorch"

_PEP = re.compile(r"^PyTorchObserver (\{.*\})\s*$", re.MULTILINE)
_MEAN = r"Main run finished\. Microseconds per iter: (\S+)\. Iters per second: (\S+)"


def build_plan(request: RunRequest) -> RunPlan:
    if not request.input_shapes:
        raise ValueError("pytorch needs input_shapes: speed_benchmark_torch builds its inputs from --input_dims")
    argv = [
        request.binary,
        f"--model={request.model}",
        "--input_dims=" + ";".join(",".join(map(str, s)) for s in request.input_shapes),
        # Quantized models still take float inputs; the int8 is inside the graph.
        "--input_type=" + ";".join("float" for _ in request.input_shapes),
        f"--warmup={request.warmup}",
        f"--iter={request.iterations}",
        "--report_pep=true",
    ]
    if request.backend == "gpu":
        argv.append("--vulkan=true")
    return RunPlan(stage=(), steps=(Command(tuple(argv), (("LD_LIBRARY_PATH", request.lib_dir),)),))


def parse(stdout: str, stderr: str, returncode: int, request: RunRequest) -> ToolOutput:
    text = scan.combined(stdout, stderr)
    scan.check_runner(LIB, text)
    scan.fail_on(
        LIB,
        text,
        (
            (
                r"open file failed|No such file or directory, file path|PytorchStreamReader failed",
                "missing_model",
                "the model could not be opened",
            ),
            (
                r"Unknown builtin op|Following ops cannot be found|Could not run '[\w:.]+' with arguments",
                "unsupported_op",
                "an operator is not in this build or backend",
            ),
            (
                r"not linked with support for vulkan|Vulkan is not available|Vulkan backend is not available",
                "delegate_failed",
                "the Vulkan backend is not usable",
            ),
            (
                (
                    r"Expected \d+-dimensional input|size mismatch|Expected input batch_size|"
                    r"forward\(\) expected at most"
                ),
                "bad_input",
                "the inputs do not fit the model",
            ),
            (
                r"Failed to parse command line flags|Unknown command line flag",
                "bad_flags",
                "this speed_benchmark_torch does not know a flag",
            ),
        ),
    )
    scan.check_exit(LIB, returncode, text)
    for line in ("Starting benchmark.", "Running warmup runs.", "Main runs."):
        scan.search(LIB, "^" + re.escape(line), text, repr(line))
    mean_line = scan.search(LIB, _MEAN, text, "'Main run finished. Microseconds per iter'")
    mean_us = scan.number(LIB, mean_line.group(1), "Microseconds per iter", text)
    samples = tuple(_sample_us(m.group(1), text) / 1000.0 for m in _PEP.finditer(text))
    if not samples:
        raise ToolError(LIB, "missing_lines", "no PyTorchObserver lines (was --report_pep ignored?)", scan.tail(text))
    if len(samples) > request.iterations:
        raise ToolError(
            LIB,
            "settings_mismatch",
            f"asked {request.iterations} runs, the tool printed {len(samples)} PyTorchObserver lines",
            scan.tail(text),
        )
    sample_mean = math.fsum(samples) / len(samples)
    # The printed mean also times the loop itself; more than 10 % apart means lines are missing.
    if abs(mean_us / 1000.0 - sample_mean) > 0.1 * sample_mean:
        raise ToolError(
            LIB,
            "implausible",
            f"per-iter mean {mean_us} us disagrees with the {len(samples)} samples' mean ({sample_mean * 1000:.0f} us)",
            scan.tail(text),
        )
    flags = ["threads_not_set"]
    if request.min_time_s > 0:
        flags.append("min_time_ignored")
    return ToolOutput(
        lib=LIB,
        samples_ms=samples,
        summary_ms={"mean": mean_us / 1000.0},
        count=len(samples),
        flags=tuple(flags),
        raw_tail=scan.tail(text),
    )


def _sample_us(payload: str, text: str) -> float:
    try:
        event = json.loads(payload)
    except ValueError:
        raise ToolError(LIB, "missing_lines", f"unreadable PyTorchObserver line: {payload}", scan.tail(text)) from None
    if event.get("type") != "NET" or event.get("metric") != "latency" or event.get("unit") != "us":
        raise ToolError(LIB, "missing_lines", f"unexpected PyTorchObserver event: {payload}", scan.tail(text))
    return scan.number(LIB, str(event.get("value")), "PyTorchObserver value", text)


SPEC = ToolSpec(
    lib=LIB,
    binary="speed_benchmark_torch",
    files=("pytorch/speed_benchmark_torch",),
    optional_files=("pytorch/libc++_shared.so",),
    backends={"cpu": ("fp32", "int8"), "gpu": ("fp32",)},
    unsupported={
        "nnapi": "PyTorch Mobile's NNAPI path was a prototype needing a torch.backends._nnapi-converted model; "
        "speed_benchmark_torch has no switch for it",
        "dsp": "PyTorch Mobile has no DSP backend",
        "npu": "PyTorch Mobile has no NPU backend",
    },
    precision_notes={
        "fp16": "speed_benchmark_torch has no half-precision switch (Vulkan fp16 is a build option it cannot show)",
        "int8": "quantized (QNNPACK) kernels run on the CPU only",
    },
    reports=("per-run samples (integer µs)", "mean"),
    lacks=(
        "init time",
        "first inference",
        "memory",
        "library version",
        "a thread-count switch",
        "a minimum-time switch",
    ),
    build_plan=build_plan,
    parse_output=parse,
)
