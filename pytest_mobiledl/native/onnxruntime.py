"""ONNX Runtime ``onnxruntime_perf_test``: ``[options] model_path [result_file]``.

This spec runs ``-m times -r N`` (a fixed run count) with ``-I`` (generate inputs, so no
``test_data_set_*`` folder is needed) and ``-s`` with no result file, so the statistics are
printed: ``Total inference requests: N``, ``Average inference time cost[ total]: X ms`` (the
``total`` word came with later releases), ``Min/Max/P50/P90/P95/P99/P999 Latency: X s``,
``Session creation time cost: X s``, ``First inference time cost: N ms`` (whole ms) and
``Peak working set size: N bytes``. It always does exactly one warm-up run. Since about 1.8
it echoes ``Setting intra_op_num_threads to N`` (for ``-x`` > 0) and, without a result file,
``Runs:N``: both are checked against the request, as is the request count (``-r`` is exact).
"""

from __future__ import annotations

from pytest_mobiledl.native import scan
from pytest_mobiledl.native.spec import Command, RunPlan, RunRequest, ToolError, ToolOutput, ToolSpec

LIB = "onnxruntime"

#: perf_test's one built-in warm-up run.
WARMUP = 1

_PERCENTILES = {"Min": "min", "Max": "max", "P50": "p50", "P90": "p90", "P95": "p95", "P99": "p99", "P999": "p999"}


def build_plan(request: RunRequest) -> RunPlan:
    argv = [
        request.binary,
        *_provider(request),
        "-m",
        "times",
        "-r",
        str(request.iterations),
        "-x",
        str(request.threads),
        "-s",
        "-I",
        request.model,
    ]
    return RunPlan(stage=(), steps=(Command(tuple(argv), (("LD_LIBRARY_PATH", request.lib_dir),)),))


def _provider(request: RunRequest) -> list[str]:
    if request.backend == "cpu":
        return ["-e", "cpu"]
    if request.backend == "nnapi":
        # CPU_DISABLED keeps NNAPI off its reference CPU device: the point is the accelerator.
        keys = ["NNAPI_FLAG_CPU_DISABLED"] + (["NNAPI_FLAG_USE_FP16"] if request.precision == "fp16" else [])
        return ["-e", "nnapi", "-i", " ".join(keys)]
    options = ["backend_path|libQnnHtp.so"]
    if request.precision == "fp16":
        options.append("enable_htp_fp16_precision|1")
    return ["-e", "qnn", "-i", " ".join(options)]


def parse(stdout: str, stderr: str, returncode: int, request: RunRequest) -> ToolOutput:
    text = scan.combined(stdout, stderr)
    scan.check_runner(LIB, text)
    scan.fail_on(
        LIB,
        text,
        (
            (r"Protobuf parsing failed|INVALID_PROTOBUF", "init_failed", "the model file is not a valid model"),
            (
                r"NO_SUCHFILE|File doesn't exist|Load model from \S+ failed",
                "missing_model",
                "the model could not be loaded",
            ),
            (r"Could not find an implementation for|NOT_IMPLEMENTED", "unsupported_op", "an operator has no kernel"),
            (
                (
                    r"(?:nnapi|qnn|NNAPI|QNN) (?:execution provider )?is not supported in this build|"
                    r"Failed to load (?:library|backend)|Unable to load backend|QNN EP.*failed|"
                    r"NnapiExecutionProvider.*(?:failed|error)"
                ),
                "delegate_failed",
                "the execution provider failed",
            ),
            (
                (
                    r"there is no test data for model|there is no test input data|Invalid input name|"
                    r"Got invalid dimensions"
                ),
                "bad_input",
                "the inputs do not fit the model",
            ),
            (
                r"See 'onnxruntime_perf_test --help'|unknown option|invalid option",
                "bad_flags",
                "onnxruntime_perf_test rejected a flag",
            ),
            (r"^Run failed:", "nonzero_exit", "the run failed"),
        ),
    )
    scan.check_exit(LIB, returncode, text)
    scan.check_echo(
        LIB,
        text,
        (
            ("threads", r"^Setting intra_op_num_threads to (\d+)$", request.threads),
            ("runs", r"^Total inference requests: (\d+)$", request.iterations),
            ("runs", r"^Runs:\s*(\d+)$", request.iterations),
        ),
    )
    fallback = _partition(text, request)
    count = int(scan.search(LIB, r"^Total inference requests: (\d+)", text, "'Total inference requests'").group(1))
    mean = scan.search(LIB, r"^Average inference time cost(?: total)?: (\S+) ms", text, "'Average inference time cost'")
    summary = {"mean": scan.number(LIB, mean.group(1), "average", text)}
    for label, key in _PERCENTILES.items():
        found = scan.search(LIB, rf"^{label} Latency: (\S+) s", text, f"'{label} Latency' (-s)")
        summary[key] = scan.number(LIB, found.group(1), f"{label} latency", text) * 1000.0
    # Older releases print neither; they are extras, so their absence is None, not an error.
    session = scan.optional(r"Session creation time cost: (\S+) s", text)
    first = scan.optional(r"^First inference time cost: (\S+) ms", text)
    peak = scan.optional(r"^Peak working set size: (\d+) bytes", text)
    flags = ["percentiles_only", *fallback]
    if request.warmup != WARMUP:
        flags.append("warmup_fixed")
    if request.min_time_s > 0:
        flags.append("min_time_ignored")
    return ToolOutput(
        lib=LIB,
        samples_ms=None,
        summary_ms=summary,
        count=count,
        init_ms=scan.number(LIB, session.group(1), "session creation", text) * 1000.0 if session else None,
        first_inference_ms=scan.number(LIB, first.group(1), "first inference", text) if first else None,
        peak_memory_mb=int(peak.group(1)) / 2**20 if peak else None,
        flags=tuple(flags),
        raw_tail=scan.tail(text),
    )


def _partition(text: str, request: RunRequest) -> tuple[str, ...]:
    """EPs log how many nodes they took (NNAPI at info level, QNN at warning): use it if shown."""
    if request.backend == "cpu":
        return ()
    found = scan.optional(
        r"number of nodes in the graph: (\d+),? number of nodes supported by (?:NNAPI|QNN): (\d+)", text
    )
    if found is None:
        return ()
    total, taken = int(found.group(1)), int(found.group(2))
    if taken == 0:
        raise ToolError(
            LIB,
            "delegate_fallback",
            f"the {request.backend} EP took 0 of {total} nodes: all ran on the CPU",
            scan.tail(text),
        )
    return ("delegate_fallback_cpu",) if taken < total else ()


SPEC = ToolSpec(
    lib=LIB,
    binary="onnxruntime_perf_test",
    files=("onnxruntime/onnxruntime_perf_test", "onnxruntime/libonnxruntime.so"),
    optional_files=(
        "onnxruntime/libQnnHtp.so",
        "onnxruntime/libQnnHtpPrepare.so",
        "onnxruntime/libQnnHtpV73Stub.so",
        "onnxruntime/libQnnHtpV73Skel.so",
        "onnxruntime/libQnnSystem.so",
        "onnxruntime/libc++_shared.so",
    ),
    backends={"cpu": ("fp32", "int8"), "nnapi": ("fp32", "fp16", "int8"), "dsp": ("fp16", "int8")},
    unsupported={
        "gpu": "the standard Android build of ONNX Runtime has no mobile-GPU execution provider",
        "npu": "Qualcomm's Hexagon NPU is the 'dsp' backend (QNN HTP); other NPUs are reached through 'nnapi'",
    },
    precision_notes={
        "fp16": "the CPU EP has no fp16 switch; NNAPI relaxes to fp16 and QNN HTP has an fp16 mode",
        "fp32": "the QNN HTP backend runs quantized or fp16 graphs",
    },
    reports=(
        "count",
        "mean",
        "min",
        "max",
        "p50/p90/p95/p99/p999",
        "init_ms (session creation)",
        "first_inference_ms (whole ms)",
        "peak_memory_mb (working set)",
    ),
    lacks=(
        "per-run samples",
        "std",
        "library version",
        "a warm-up switch (always 1)",
        "a minimum-time switch in times mode",
    ),
    build_plan=build_plan,
    parse_output=parse,
)
