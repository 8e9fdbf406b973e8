"""Qualcomm SNPE: ``snpe-net-run`` on the device, then ``snpe-diagview`` on the host.

``snpe-net-run`` runs the DLC once per line of ``--input_list`` and writes its timing to a
binary diag log (``<output_dir>/SNPEDiag.log``); it prints no latency itself. The SDK's own
benchmark (snpe_bench.py) pulls that log and reads it with the x86_64 ``snpe-diagview``: this
plan does the same, in three steps (device run, pull, host read).

diagview prints averages over every execution of the run (no per-run values, no count):
``Total Inference Time: N us`` under ``Average SNPE Statistics`` (SDK 2.9-era) or ``SNPE
Execute Statistics (Averaged)`` (SDK 2.3x), init figures (``Load``, ``Init``…) and
``Software library version``. There is no warm-up: the first execution is in the average.
"""

from __future__ import annotations

import math
import posixpath
import re

from pytest_mobiledl.native import scan
from pytest_mobiledl.native.spec import (
    Command,
    Pull,
    RunPlan,
    RunRequest,
    StagedFile,
    ToolError,
    ToolOutput,
    ToolSpec,
)

LIB = "snpe"

RUNTIME_FLAGS = {"cpu": (), "gpu": ("--use_gpu",), "dsp": ("--use_dsp",), "npu": ("--use_aip",)}

#: Where the SDK's x86_64 diag viewer sits under --runner-dir on the host.
DIAGVIEW = "snpe/host/snpe-diagview"

#: The DSP loader searches these for its skel libraries (';'-separated, as the SDK documents).
_ADSP_DIRS = ("/vendor/lib/rfsa/adsp", "/system/lib/rfsa/adsp", "/vendor/dsp/cdsp", "/dsp")


def build_plan(request: RunRequest) -> RunPlan:
    if request.host_dir is None or request.host_runner_dir is None:
        raise ValueError("snpe needs host_dir and host_runner_dir: its diag log is read on the host")
    if not request.input_shapes:
        raise ValueError("snpe needs input_shapes to write its raw inputs")
    if len(request.input_shapes) > 1 and len(request.input_names) != len(request.input_shapes):
        raise ValueError("snpe needs input_names for a model with several inputs")
    work, out_dir = request.work_dir, posixpath.join(request.work_dir, "snpe_out")
    raws = tuple(
        StagedFile(posixpath.join(work, f"input_{i}.raw"), bytes(4 * math.prod(shape)))
        for i, shape in enumerate(request.input_shapes)
    )
    if len(raws) == 1:
        line = raws[0].device_path
    else:
        line = " ".join(f"{name}:={raw.device_path}" for name, raw in zip(request.input_names, raws, strict=False))
    runs = request.warmup + request.iterations
    input_list = StagedFile(posixpath.join(work, "input_list.txt"), ("\n".join([line] * runs) + "\n").encode())
    net_run = (
        request.binary,
        "--container",
        request.model,
        "--input_list",
        input_list.device_path,
        "--output_dir",
        out_dir,
        "--perf_profile",
        "high_performance",
        "--profiling_level",
        "basic",
        *RUNTIME_FLAGS[request.backend],
        *(("--gpu_mode", "float16") if request.backend == "gpu" and request.precision == "fp16" else ()),
    )
    env = (
        ("LD_LIBRARY_PATH", request.lib_dir),
        ("ADSP_LIBRARY_PATH", ";".join((request.lib_dir, *_ADSP_DIRS))),
    )
    host_log = posixpath.join(request.host_dir, "SNPEDiag.log")
    view = (posixpath.join(request.host_runner_dir, DIAGVIEW), "--input_log", host_log)
    steps = (
        Command(net_run, env),
        Pull(posixpath.join(out_dir, "SNPEDiag.log"), host_log),
        Command(view, where="host"),
    )
    return RunPlan(stage=(*raws, input_list), steps=steps)


def parse(stdout: str, stderr: str, returncode: int, request: RunRequest) -> ToolOutput:
    text = scan.combined(stdout, stderr)
    scan.check_runner(LIB, text)
    _check_errors(text)
    scan.check_exit(LIB, returncode, text)
    scan.search(
        LIB,
        r"^\s*(?:Average SNPE Statistics|SNPE Execute Statistics \(Averaged\)):",
        text,
        "diagview averaged statistics",
    )
    total = scan.search(LIB, r"^\s*Total Inference Time: (\S+) us", text, "'Total Inference Time'")
    version = scan.optional(r"^Software library version: (\S+)", text)
    runs = request.warmup + request.iterations
    flags = ["mean_only", "count_unreported", "threads_not_set"]
    if request.warmup:
        flags.append("warmup_included")
    if request.min_time_s > 0:
        flags.append("min_time_ignored")
    return ToolOutput(
        lib=LIB,
        samples_ms=None,
        summary_ms={"mean": scan.number(LIB, total.group(1), "Total Inference Time", text) / 1000.0},
        # diagview prints no count; each input-list line is one execution.
        count=runs,
        init_ms=_us(r"^\s*Init: (\S+) us", text),
        load_ms=_us(r"^\s*Load: (\S+) us", text),
        lib_version=version.group(1) if version else None,
        flags=tuple(flags),
        raw_tail=scan.tail(text),
    )


def _us(pattern: str, text: str) -> float | None:
    found = scan.optional(pattern, text)
    return scan.number(LIB, found.group(1), pattern, text) / 1000.0 if found else None


def _check_errors(text: str) -> None:
    """snpe-net-run reports failures as ``error_code=N; error_message=…``: classify the message."""
    scan.fail_on(
        LIB,
        text,
        ((r"(?i)unknown option|unrecognized option|invalid option", "bad_flags", "snpe-net-run rejected a flag"),),
    )
    found = scan.optional(r"error_code=(\d+); error_message=(.*)$", text)
    if found is None:
        scan.fail_on(
            LIB,
            text,
            (
                (
                    r"(?i)(?:could not|unable to|failed to) (?:open|read|parse).*log",
                    "missing_lines",
                    "snpe-diagview could not read the diag log",
                ),
            ),
        )
        return
    message = found.group(0).strip()
    for pattern, kind, meaning in _ERROR_KINDS:
        if re.search(pattern, message):
            raise ToolError(LIB, kind, f"{meaning}: {message}", scan.tail(text))
    raise ToolError(LIB, "nonzero_exit", f"snpe-net-run failed: {message}", scan.tail(text))


#: error_message keywords → cause, most specific first (a runtime failure often says "load").
_ERROR_KINDS = (
    (
        r"(?i)runtime is not available|not available on this platform|failed to create \w+ runtime",
        "delegate_failed",
        "the runtime is not usable",
    ),
    (r"(?i)is not supported|unsupported (?:op|layer)", "unsupported_op", "a layer is not supported on this runtime"),
    (
        r"(?i)cannot open file|could not open|failed to load model|container",
        "missing_model",
        "the DLC could not be opened",
    ),
    (r"(?i)size of input|input list|input tensor", "bad_input", "the inputs do not fit the model"),
)


SPEC = ToolSpec(
    lib=LIB,
    binary="snpe-net-run",
    files=("snpe/snpe-net-run", "snpe/libSNPE.so", "snpe/libc++_shared.so", DIAGVIEW),
    optional_files=(
        "snpe/libSnpeHtpPrepare.so",
        "snpe/libSnpeHtpV73Stub.so",
        "snpe/libSnpeHtpV73Skel.so",
        "snpe/libSnpeHtpV75Stub.so",
        "snpe/libSnpeHtpV75Skel.so",
        "snpe/libSnpeDspV66Stub.so",
    ),
    backends={"cpu": ("fp32",), "gpu": ("fp32", "fp16"), "dsp": ("int8",), "npu": ("int8",)},
    unsupported={"nnapi": "SNPE drives Qualcomm hardware directly and has no NNAPI path"},
    precision_notes={
        "int8": "SNPE's CPU and GPU runtimes dequantize 8-bit DLCs and compute in float",
        "fp16": "only the GPU runtime has a float16 mode (--gpu_mode float16) in this spec",
        "fp32": "the DSP and AIP runtimes run quantized DLCs",
    },
    reports=("mean (Total Inference Time)", "init_ms", "load_ms", "library version"),
    lacks=(
        "per-run samples",
        "min/max/std/percentiles",
        "a run count",
        "first inference",
        "memory",
        "a warm-up switch (warm-up runs are inside the average)",
        "a thread-count switch",
        "a minimum-time switch",
    ),
    build_plan=build_plan,
    parse_output=parse,
)


#: snpe-diagview's per-layer lines with ``--profiling_level detailed``: ``N: T us : RUNTIME``. SNPE is
#: closed source: the form is the SDK documentation's, not read from the tool's code.
_LAYER_TIME = re.compile(r"^\s*(\d+): (\d+) us(?: : (\w+))?\s*$", re.MULTILINE)


def parse_layers(text: str) -> list[tuple[str, str, float, bool]]:
    """Per layer: (``layer N``, ``?``, ms, depthwise) from diagview's "Layer Times" (averaged).

    diagview names layers by index only; their types are in the DLC (``snpe-dlc-info``), which
    this parser does not read: every layer is listed unmapped, its time kept.
    """
    at = text.find("Layer Times")
    if at < 0:
        raise ValueError("no 'Layer Times' in diagview's output: run snpe-net-run with --profiling_level detailed")
    rows = [(f"layer {m[1]}", "?", int(m[2]) / 1000, False) for m in _LAYER_TIME.finditer(text[at:])]
    if not rows:
        raise ValueError("diagview's 'Layer Times' section has no layer lines")
    return rows
