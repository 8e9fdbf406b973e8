"""ncnn ``benchncnn``: positional arguments, then ``param=`` and ``shape=`` for one user model.

``benchncnn [loop] [threads] [powersave] [gpu_device] [cooling_down] param=X.param shape=[w,h,c]``
(``param=``/``shape=`` exist since release 20230816). Without ``param=`` (or on an older build,
which ignores extra arguments) it benchmarks its built-in list, rows named by bare model names:
each ``<name>.param`` read from the working directory before 20260113, compiled in since. This
spec always passes ``param=`` with the absolute path; a bare-name row of the requested model
is still used, flagged ``settings_mismatch``. Only the ``.param`` is read; weights are
zero-filled (timing does not depend on them).

Everything goes to stderr: the settings echoed as ``key = value`` lines (checked against the
request), Vulkan device lines when a GPU is used, then one ``<name>  min = X  max = Y  avg = Z``
row per model (ms, 2 decimals).
"""

from __future__ import annotations

import posixpath
import re

from pytest_mobiledl.native import scan
from pytest_mobiledl.native.spec import Command, RunPlan, RunRequest, ToolError, ToolOutput, ToolSpec

LIB = "ncnn"

#: benchncnn's own warm-up loop (10 on a Vulkan GPU, 8 on CPU); it has no switch for it.
WARMUP = {"cpu": 8, "gpu": 10}

#: benchncnn pins its threads itself (powersave 0 = all, 1 = little, 2 = big cores): told the
#: same as --cores, whose taskset mask it would otherwise override; a cpu list is taskset's alone.
POWERSAVE = {"all": 0, "little": 1, "big": 2}

#: One row per model: ``%20s  min = %7.2f  max = %7.2f  avg = %7.2f`` since 2019-03 (``%16s`` and
#: ``%-20s`` before). Named by the param path with ``param=``, by a bare name in list mode.
_ROW = re.compile(r"^(?P<name>.+?)\s+min =\s*(\S+)\s+max =\s*(\S+)\s+avg =\s*(\S+)$", re.MULTILINE)


def powersave(request: RunRequest) -> int:
    return POWERSAVE.get(request.cores, 0)


def build_plan(request: RunRequest) -> RunPlan:
    if not request.model.endswith(".param"):
        raise ValueError(f"ncnn runs a .param file, got {request.model!r}")
    argv = (
        request.binary,
        str(request.iterations),
        str(request.threads),
        str(powersave(request)),
        "0" if request.backend == "gpu" else "-1",
        "0",  # no fixed 10 s cooling-down sleep: the plugin waits for --cooldown-temp itself
        f"param={request.model}",
        f"shape={shape_arg(request)}",
    )
    return RunPlan(stage=(), steps=(Command(argv, (("LD_LIBRARY_PATH", request.lib_dir),)),))


def shape_arg(request: RunRequest) -> str:
    """ncnn wants each input as ``[w,h,c]`` (batch dropped), whatever the model's layout."""
    if not request.input_shapes:
        raise ValueError("ncnn needs input_shapes: benchncnn cannot read them from the .param")
    dims = []
    for shape in request.input_shapes:
        if len(shape) == 4 and shape[0] != 1:
            raise ValueError(f"benchncnn runs batch 1 only, got shape {shape}")
        body = shape[1:] if len(shape) == 4 else shape
        if len(body) == 3 and request.layout == "NCHW":
            c, h, w = body
            body = (w, h, c)
        elif len(body) == 3:
            h, w, c = body
            body = (w, h, c)
        else:
            body = tuple(reversed(body))
        dims.append("[" + ",".join(map(str, body)) + "]")
    return ",".join(dims)


def parse(stdout: str, stderr: str, returncode: int, request: RunRequest) -> ToolOutput:
    text = scan.combined(stdout, stderr)
    scan.check_runner(LIB, text)
    rows = list(_ROW.finditer(text))
    names = (request.model, posixpath.basename(request.model).removesuffix(".param"))
    mine = [r for r in rows if r.group("name") in names]
    # A load error is printed just above its model's row; in list mode other models' errors
    # (their .param absent from the working directory) are not this item's.
    scope = scan.section(text, rows, mine)
    scan.fail_on(LIB, scope, _ERRORS)
    scan.check_exit(LIB, returncode, text)
    _check_settings(text, request)
    row = scan.pick_row(LIB, rows, names, text)
    low, high, mean = (scan.number(LIB, v, "latency", text) for v in row.groups()[1:])
    flags = ["min_max_avg_only"]
    if request.warmup != WARMUP[request.backend]:
        flags.append("warmup_fixed")
    if request.min_time_s > 0:
        flags.append("min_time_ignored")
    if row.group("name") != request.model:
        flags.append("settings_mismatch")  # built-in list mode: param= was ignored
    return ToolOutput(
        lib=LIB,
        samples_ms=None,
        summary_ms={"min": low, "max": high, "mean": mean},
        count=int(scan.search(LIB, r"^loop_count = (\d+)", text, "'loop_count ='").group(1)),
        flags=tuple(flags),
        raw_tail=scan.tail(text),
    )


_ERRORS = (
    (r"^fopen .* failed|^_wfopen .* failed", "missing_model", "the .param could not be opened"),
    (r"layer \S+ not exists or registered", "unsupported_op", "a layer type is not in this build"),
    (
        r"param is too old|invalid layer_count|parse \w+ failed|network graph not ready",
        "init_failed",
        "the .param could not be loaded",
    ),
    (
        r"input \d+ tensors while model has \d+ inputs|input tensor shape empty|unsupported input shape",
        "bad_input",
        "the shapes given do not fit the model",
    ),
    (r"unrecognized arg", "bad_flags", "benchncnn did not understand an argument"),
    (
        r"no vulkan device|vkCreateInstance failed|load vulkan driver failed|vkCreateDevice failed",
        "delegate_failed",
        "Vulkan could not be set up",
    ),
)


def _check_settings(text: str, request: RunRequest) -> None:
    """The echo proves which settings ran; a GPU run must also show its Vulkan device.

    ``loop_count``/``num_threads``/``powersave`` are echoed since 2018, ``gpu_device`` since
    2019-01 and ``cooling_down`` since 2020-02: every build with ``param=`` prints all five.
    """
    for name in ("loop_count", "num_threads", "gpu_device"):
        scan.search(LIB, rf"^{name} = -?\d+$", text, f"'{name} ='")
    scan.check_echo(
        LIB,
        text,
        (
            ("loop_count", r"^loop_count = (-?\d+)$", request.iterations),
            ("num_threads", r"^num_threads = (-?\d+)$", request.threads),
            ("powersave", r"^powersave = (-?\d+)$", powersave(request)),
            ("gpu_device", r"^gpu_device = (-?\d+)$", 0 if request.backend == "gpu" else -1),
            ("cooling_down", r"^cooling_down = (-?\d+)$", 0),
        ),
    )
    if request.backend == "gpu" and scan.optional(r"^\[\d+ .+?\]\s+queueC=", text) is None:
        raise ToolError(
            LIB,
            "delegate_fallback",
            "gpu_device = 0 but no Vulkan device line: a benchncnn built without NCNN_VULKAN runs on the CPU",
            scan.tail(text),
        )


SPEC = ToolSpec(
    lib=LIB,
    binary="benchncnn",
    files=("ncnn/benchncnn",),
    optional_files=(),
    backends={"cpu": ("fp16", "int8"), "gpu": ("fp16", "int8")},
    unsupported={
        "nnapi": "ncnn runs on the CPU or a Vulkan GPU only",
        "dsp": "ncnn runs on the CPU or a Vulkan GPU only",
        "npu": "ncnn runs on the CPU or a Vulkan GPU only",
    },
    precision_notes={
        "fp32": "benchncnn hard-codes fp16 storage and arithmetic (opt.use_fp16_*=true); fp32 needs another runner",
    },
    reports=("count", "min", "max", "mean"),
    lacks=(
        "per-run samples",
        "std/percentiles",
        "init time",
        "first inference",
        "memory",
        "library version",
        "a warm-up switch (8 CPU / 10 GPU runs)",
        "a minimum-time switch",
    ),
    build_plan=build_plan,
    parse_output=parse,
)


#: A per-layer line of an ncnn built with NCNN_BENCHMARK (benchmark.cpp: ``"%-24s %-30s %8.2lfms"``,
#: then the shapes and kernel after ``|``), printed to stderr for every layer of every run.
_LAYER = re.compile(r"^(?P<type>\S+)\s+(?P<name>\S+)\s+(?P<ms>\d+\.\d+)ms(?:\s+\|.*)?$", re.MULTILINE)


def parse_layers(text: str) -> list[tuple[str, str, float, bool]]:
    """Per layer: (name, type, mean ms per inference, depthwise) over every run benchncnn printed.

    A layer that runs once per inference appears once per run; its mean over the runs is its
    time. ``ConvolutionDepthWise`` names depthwise layers. ValueError when the build printed no
    per-layer line (benchncnn without NCNN_BENCHMARK).
    """
    seen: dict[tuple[str, str], list[float]] = {}
    for match in _LAYER.finditer(text):
        seen.setdefault((match["name"], match["type"]), []).append(float(match["ms"]))
    if not seen:
        raise ValueError("no per-layer lines: this benchncnn was built without NCNN_BENCHMARK")
    runs = max(len(times) for times in seen.values())
    return [(name, kind, sum(times) / runs, False) for (name, kind), times in seen.items()]
