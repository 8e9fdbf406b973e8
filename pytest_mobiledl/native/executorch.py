"""ExecuTorch ``executor_runner`` (examples/portable/executor_runner, built for arm64-v8a).

Flags: ``--model_path --num_executions --cpu_threads`` (gflags). The backend is fixed when the
``.pte`` is exported (XNNPACK, Vulkan…), so the argv is the same for every backend and the
output cannot prove which one ran. There is no warm-up switch: the spec asks for
``warmup + iterations`` executions and drops the first ``warmup`` per-run times.

Output: ET_LOG lines on stderr, ``I 00:00:00.004817 executorch:executor_runner.cpp:233] msg``
(only with the posix PAL; the android PAL sends them to logcat and the parser sees nothing).
v1.3+ (2026-04) log ``Model loaded in X ms.`` and ``Iteration i of N: X ms`` per run; v0.6+
log ``Model executed successfully N time(s) in X ms.`` (the total); older builds log no time.
Thread-pool builds echo ``Resetting threadpool with num threads = N`` (checked).
"""

from __future__ import annotations

import re

from pytest_mobiledl.native import scan
from pytest_mobiledl.native.spec import Command, RunPlan, RunRequest, ToolError, ToolOutput, ToolSpec

LIB = "executorch"

_LOG = r"^[IWEFD] [\d:.]+ executorch:[^\]]*\] "
_ITERATION = re.compile(_LOG + r"Iteration (\d+) of (\d+): (\S+) ms\s*$", re.MULTILINE)
#: ``… N time(s) in X ms.`` since v0.6 (2025-03); ``… N time(s).`` before, with no time at all.
_TOTAL = _LOG + r"Model executed successfully (\d+) time\(s\)(?: in (\S+) ms)?\."


def build_plan(request: RunRequest) -> RunPlan:
    argv = (
        request.binary,
        f"--model_path={request.model}",
        f"--num_executions={request.warmup + request.iterations}",
        f"--cpu_threads={request.threads}",
    )
    return RunPlan(stage=(), steps=(Command(argv, (("LD_LIBRARY_PATH", request.lib_dir),)),))


def parse(stdout: str, stderr: str, returncode: int, request: RunRequest) -> ToolOutput:
    text = scan.combined(stdout, stderr)
    scan.check_runner(LIB, text)
    scan.fail_on(
        LIB,
        text,
        (
            (r"unknown command line flag", "bad_flags", "this executor_runner does not know a flag"),
            (
                r"FileDataLoader::from\(\) failed|Failed to open \S+\.pte",
                "missing_model",
                "the .pte could not be opened",
            ),
            (r"Failed to parse model file", "init_failed", "the file is not a loadable program"),
            (r"Missing operator", "unsupported_op", "an operator kernel is not linked into this runner"),
            (
                r"Backend \w+ is not registered|Init failed for backend|Failed to init delegate",
                "delegate_failed",
                "the .pte's delegate is not usable in this runner",
            ),
            (r"Loading of method \w+ failed", "init_failed", "the method could not be loaded"),
            (r"Could not prepare inputs|input_shapes has \d+ entries", "bad_input", "the inputs could not be prepared"),
            (r"Execution of method \w+ failed", "crash", "execution failed"),
        ),
    )
    scan.check_exit(LIB, returncode, text)
    scan.search(LIB, _LOG + r"Model file \S+ is loaded\.", text, "'Model file … is loaded'")
    asked = request.warmup + request.iterations
    scan.check_echo(
        LIB,
        text,
        (
            # ET_USE_THREADPOOL builds since v0.6 (2025-03) echo the --cpu_threads they applied.
            ("threads", _LOG + r"Resetting threadpool with num threads = (\d+)", request.threads),
            ("executions", _LOG + r"Iteration \d+ of (\d+):", asked),
            ("executions", _TOTAL, asked),
        ),
    )
    total = scan.search(LIB, _TOTAL, text, "'Model executed successfully'")
    executions = int(total.group(1))
    if total.group(2) is None and not _ITERATION.search(text):
        raise ToolError(
            LIB,
            "missing_lines",
            "this executor_runner prints no time (before v0.6 'Model executed successfully N time(s).' "
            "had none): build v0.6 or later",
            scan.tail(text),
        )
    loaded = scan.optional(_LOG + r"Model loaded in (\S+) ms\.", text)
    init_ms = scan.number(LIB, loaded.group(1), "load time", text) if loaded else None
    flags = ["backend_unverified"] + (["min_time_ignored"] if request.min_time_s > 0 else [])
    per_run = [scan.number(LIB, m.group(3), "iteration time", text) for m in _ITERATION.finditer(text)]
    if per_run:
        if len(per_run) != executions:
            raise ToolError(
                LIB, "missing_lines", f"{len(per_run)} 'Iteration' lines for {executions} executions", scan.tail(text)
            )
        samples = tuple(per_run[request.warmup :])
        return ToolOutput(
            lib=LIB,
            samples_ms=samples,
            summary_ms={},
            count=len(samples),
            init_ms=init_ms,
            first_inference_ms=per_run[0],
            flags=tuple(flags),
            raw_tail=scan.tail(text),
        )
    # Older builds print only the total over every execution, warm-up included.
    mean = scan.number(LIB, total.group(2), "total time", text) / executions
    return ToolOutput(
        lib=LIB,
        samples_ms=None,
        summary_ms={"mean": mean},
        count=executions,
        init_ms=init_ms,
        flags=tuple(flags + ["mean_only"] + (["warmup_included"] if request.warmup else [])),
        raw_tail=scan.tail(text),
    )


SPEC = ToolSpec(
    lib=LIB,
    binary="executor_runner",
    files=("executorch/executor_runner",),
    optional_files=("executorch/libc++_shared.so",),
    backends={"cpu": ("fp32", "fp16", "int8"), "gpu": ("fp32", "fp16")},
    unsupported={
        "nnapi": "ExecuTorch has no NNAPI delegate",
        "dsp": "Qualcomm QNN .pte files run under qnn_executor_runner, a different binary this spec does not cover",
        "npu": "ExecuTorch's NPU delegates (MediaTek, Samsung) ship their own runners",
    },
    precision_notes={"int8": "the Vulkan delegate runs float graphs; quantized graphs are lowered to XNNPACK (cpu)"},
    reports=("per-run samples (recent builds) or the total", "init_ms (recent builds)", "first run time"),
    lacks=("memory", "library version", "a warm-up switch (emulated)", "proof of the backend", "a minimum-time switch"),
    build_plan=build_plan,
    parse_output=parse,
)
