"""MACE ``mace_run`` (v1.1.x, the binary ``converter.py run`` drives), called directly.

Since v1.1 the runtime (CPU/GPU/DSP/APU) and the data type are fixed in the deployment yml at
conversion time; ``mace_run`` has no ``--device`` flag any more. The argv is therefore the same
for every backend and the parser checks the ``runtimes: [...]`` line MACE prints instead.
The model is a ``.pb`` graph with its ``.data`` weights beside it (same stem). A v1.0.x build
still has ``--device`` (default GPU) and echoes ``device: X`` instead: caught as a mismatch.
The ``num_threads:`` and ``round:`` echoes are checked against the request.

``mace_run`` needs the input/output node names and shapes and one raw float32 file per input
(``<input_file>_<name>``, non-alphanumerics replaced by ``_``): the plan stages zero-filled ones.
It does one warm-up run, then ``--round`` timed runs, and prints only their mean
(``Average latency: X ms``). Its exit status is always 0 unless it aborts: the lines decide.
"""

from __future__ import annotations

import math
import posixpath
import re

from pytest_mobiledl.native import scan
from pytest_mobiledl.native.spec import Command, RunPlan, RunRequest, StagedFile, ToolError, ToolOutput, ToolSpec

LIB = "mace"

#: Runtime names MACE prints for each backend id (DSP: Hexagon nn, HTA or HTP).
RUNTIMES = {"cpu": ("CPU",), "gpu": ("GPU",), "dsp": ("DSP", "HEXAGON", "HTA", "HTP"), "npu": ("APU",)}

_LOG = r"^[IWEF] \S+:\d+\] "


def format_name(name: str) -> str:
    """mace_run's FormatName: the suffix of each input file."""
    return re.sub(r"[^A-Za-z0-9]", "_", name)


def build_plan(request: RunRequest) -> RunPlan:
    if not request.model.endswith(".pb"):
        raise ValueError(f"mace runs a .pb graph with its .data beside it, got {request.model!r}")
    need = {
        "input_names": request.input_names,
        "input_shapes": request.input_shapes,
        "output_names": request.output_names,
        "output_shapes": request.output_shapes,
    }
    missing = [k for k, v in need.items() if not v]
    if missing:
        raise ValueError(f"mace_run needs {', '.join(missing)} (it cannot read them from the model)")
    prefix = posixpath.join(request.work_dir, "mace_input")
    stage = tuple(
        StagedFile(f"{prefix}_{format_name(name)}", bytes(4 * math.prod(shape)))
        for name, shape in zip(request.input_names, request.input_shapes, strict=False)
    )
    fmt = request.layout
    argv = (
        request.binary,
        f"--model_file={request.model}",
        f"--model_data_file={request.model[: -len('.pb')]}.data",
        "--input_node=" + ",".join(request.input_names),
        "--input_shape=" + ":".join(",".join(map(str, s)) for s in request.input_shapes),
        "--output_node=" + ",".join(request.output_names),
        "--output_shape=" + ":".join(",".join(map(str, s)) for s in request.output_shapes),
        "--input_data_type=" + ",".join("float32" for _ in request.input_names),
        "--output_data_type=" + ",".join("float32" for _ in request.output_names),
        "--input_data_format=" + ",".join(fmt for _ in request.input_names),
        "--output_data_format=" + ",".join(fmt for _ in request.output_names),
        f"--input_file={prefix}",
        f"--output_file={posixpath.join(request.work_dir, 'mace_output')}",
        f"--round={request.iterations}",
        "--restart_round=1",
        f"--num_threads={request.threads}",
        # 0 = no affinity: the other tools do not pin threads, so neither does this spec.
        "--cpu_affinity_policy=0",
    )
    env = (("LD_LIBRARY_PATH", request.lib_dir), ("MACE_INTERNAL_STORAGE_PATH", request.work_dir))
    return RunPlan(stage=stage, steps=(Command(argv, env),))


def parse(stdout: str, stderr: str, returncode: int, request: RunRequest) -> ToolOutput:
    text = scan.combined(stdout, stderr)
    scan.check_runner(LIB, text)
    scan.fail_on(
        LIB,
        text,
        (
            (r"Failed to read file", "missing_model", "the model could not be read"),
            (r"Open input file failed|Found no input file", "bad_input", "an input file is missing"),
            (r"Key not registered|operation is not registered", "unsupported_op", "an operator has no kernel here"),
            (
                r"Create engine runtime error",
                "init_failed",
                "the engine could not be created (mace_run retries forever)",
            ),
            (r"(?:Warmup|Mace run model) runtime error", "init_failed", "a run failed (mace_run retries forever)"),
            (r"inputs' names do not match", "bad_input", "input names and shapes disagree"),
        ),
    )
    scan.check_exit(LIB, returncode, text)
    _check_runtime(text, request)
    scan.check_echo(
        LIB,
        text,
        (
            ("threads", _LOG + r"num_threads: (-?\d+)$", request.threads),
            ("rounds", _LOG + r"round: (-?\d+)$", request.iterations),
        ),
    )
    rounds = int(scan.search(LIB, _LOG + r"round: (\d+)\s*$", text, "'round:'").group(1))
    init = scan.search(LIB, _LOG + r"Total init latency: (\S+) ms", text, "'Total init latency'")
    warm = scan.search(LIB, _LOG + r"1st warm up run latency: (\S+) ms", text, "'1st warm up run latency'")
    mean = scan.search(LIB, _LOG + r"Average latency: (\S+) ms", text, "'Average latency'")
    table = scan.search(LIB, r"^time\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*$", text, "summary 'time' row")
    mean_ms = scan.number(LIB, mean.group(1), "average latency", text)
    if abs(scan.number(LIB, table.group(4), "run_avg", text) - mean_ms) > 0.001 + 1e-3 * mean_ms:
        raise ToolError(LIB, "implausible", "the run_avg column disagrees with 'Average latency'", scan.tail(text))
    version = scan.optional(_LOG + r"mace version: (\S+)", text)
    flags = ["mean_only"] + (["warmup_fixed"] if request.warmup != 1 else [])
    if request.min_time_s > 0:
        flags.append("min_time_ignored")
    return ToolOutput(
        lib=LIB,
        samples_ms=None,
        summary_ms={"mean": mean_ms},
        count=rounds,
        init_ms=scan.number(LIB, init.group(1), "init latency", text),
        first_inference_ms=scan.number(LIB, warm.group(1), "warm-up latency", text),
        lib_version=version.group(1) if version else None,
        flags=tuple(flags),
        raw_tail=scan.tail(text),
    )


def _check_runtime(text: str, request: RunRequest) -> None:
    """v1.1 prints the runtimes fixed in the yml (``runtimes: [CPU, GPU]``); v1.0 had a
    ``--device`` flag, default GPU, echoed as ``device: GPU``: this spec passes none."""
    found = scan.optional(_LOG + r"runtimes: \[([^\]]*)\]", text)
    if found is None:
        device = scan.search(LIB, _LOG + r"device: (\w+)$", text, "'runtimes:' (v1.1) or 'device:' (v1.0)")
        if device.group(1) not in RUNTIMES[request.backend]:
            raise ToolError(
                LIB,
                "settings_mismatch",
                f"asked {request.backend}, mace_run ran on {device.group(1)} "
                "(a v1.0 build: its --device defaults to GPU; use v1.1, where the yml fixes the runtime)",
                scan.tail(text),
            )
        return
    runtimes = {r.strip() for r in found.group(1).split(",") if r.strip()}
    if not runtimes & set(RUNTIMES[request.backend]):
        kind = "delegate_fallback" if runtimes == {"CPU"} else "settings_mismatch"
        raise ToolError(
            LIB,
            kind,
            f"the model was converted for runtimes {sorted(runtimes)}, not {request.backend} "
            "(MACE fixes the runtime in the deployment yml)",
            scan.tail(text),
        )


SPEC = ToolSpec(
    lib=LIB,
    binary="mace_run",
    files=("mace/mace_run",),
    optional_files=(
        "mace/libhexagon_controller.so",
        "mace/libcdsprpc.so",
        "mace/libapu-platform.so",
        "mace/libc++_shared.so",
    ),
    backends={"cpu": ("fp32", "fp16", "int8"), "gpu": ("fp32", "fp16"), "dsp": ("int8",), "npu": ("int8",)},
    unsupported={"nnapi": "MACE has no NNAPI runtime"},
    precision_notes={
        "int8": "MACE's GPU runtime runs float models only (quantize: 0)",
        "fp32": "MACE's DSP/APU runtimes run quantized models only",
        "fp16": "MACE's DSP/APU runtimes run quantized models only",
    },
    reports=("mean", "count (--round)", "init_ms", "first_inference_ms (1st warm-up)", "library version"),
    lacks=(
        "per-run samples",
        "min/max/std/percentiles",
        "memory",
        "a warm-up switch (always 1)",
        "a minimum-time switch",
        "precision (fixed in the yml)",
    ),
    build_plan=build_plan,
    parse_output=parse,
)
