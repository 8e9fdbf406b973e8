"""Every recorded sample parses to known numbers, or fails with the right cause."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from native_cases import SAMPLES_ROOT, make_request, sample

from pytest_mobiledl.native import SPECS, ToolError


@dataclass(frozen=True)
class Case:
    lib: str
    name: str
    request: dict[str, Any] = field(default_factory=dict)
    returncode: int = 0
    stream: str = "stdout"
    expect: dict[str, Any] = field(default_factory=dict)
    kind: str | None = None  # a failure sample: the ToolError kind
    says: str = ""  # …and words its cause must contain
    cut: str = ""  # truncate here, not at the middle (for outputs whose second half is extras)


CASES = [
    # --- TFLite: µs in the output, ms in ToolOutput -------------------------------------------
    Case(
        "tflite",
        "cpu_4threads.txt",
        {"warmup": 5},
        expect={
            "count": 50,
            "mean": 9.92148,
            "min": 9.689,
            "max": 11.342,
            "std": 0.262,
            "median": 9.866,
            "init_ms": 41.236,
            "first_inference_ms": 14.21,
            "peak_memory_mb": 36.9453,
            "flags": ("min_max_avg_only",),
        },
    ),
    Case(
        "tflite",
        "gpu_fp16.txt",
        {"backend": "gpu", "precision": "fp16", "threads": 1, "warmup": 3, "iterations": 30},
        expect={
            "count": 30,
            "mean": 6.31017,
            "min": 6.101,
            "max": 6.952,
            "init_ms": 612.417,
            "first_inference_ms": 21.877,
            "peak_memory_mb": 91.1016,
            "flags": ("min_max_avg_only",),
        },
    ),
    Case(
        "tflite",
        "nnapi_partial_fallback.txt",
        {"backend": "nnapi", "precision": "int8", "warmup": 2, "iterations": 20},
        expect={"count": 20, "mean": 7.89335, "max": 8.433, "flags": ("min_max_avg_only", "delegate_fallback_cpu")},
    ),
    Case("tflite", "fail_missing_model.txt", returncode=1, kind="missing_model", says="missing.tflite"),
    Case("tflite", "fail_unsupported_op.txt", returncode=1, kind="unsupported_op", says="STABLEHLO_COMPOSITE"),
    Case("tflite", "fail_gpu_delegate_fallback.txt", {"backend": "gpu"}, kind="delegate_fallback", says="GPU"),
    Case("tflite", "fail_crash_sigsegv.txt", returncode=139, kind="crash", says="SIGSEGV"),
    Case("tflite", "fail_truncated.txt", {"warmup": 5}, kind="missing_lines", says="count="),
    Case(
        "tflite",
        "cpu_op_profiling.txt",
        {"warmup": 5},
        cut="INFO: Inference timings",
        expect={
            "count": 50,
            "mean": 10.3047,
            "min": 10.012,
            "max": 11.874,
            "init_ms": 43.871,
            "first_inference_ms": 15.102,
            "peak_memory_mb": 37.5547,
            "flags": ("min_max_avg_only",),
        },
    ),
    # Reconstructions of public captures (see samples/README.md): the tool's default 0.5 s
    # warm-up floor ran more warm-up runs than asked, which used to pass unnoticed.
    Case(
        "tflite",
        "realworld/tf23_op_profiling_warmup_secs.txt",
        {"warmup": 1, "min_time_s": 1.0},
        kind="settings_mismatch",
        says="asked 1 warm-up runs, the tool did 38",
    ),
    Case(
        "tflite",
        "realworld/tf2x_min_secs_default.txt",
        {"warmup": 1, "iterations": 1000, "threads": 1, "min_time_s": 1.0},
        kind="settings_mismatch",
        says="asked 1 warm-up runs, the tool did 463",
    ),
    # --- ncnn: everything on stderr, ms with two decimals -------------------------------------
    Case(
        "ncnn",
        "cpu_4threads.txt",
        {"precision": "fp16", "warmup": 8},
        stream="stderr",
        expect={"count": 50, "mean": 12.21, "min": 11.82, "max": 13.04, "flags": ("min_max_avg_only",)},
    ),
    Case(
        "ncnn",
        "gpu_vulkan.txt",
        {"backend": "gpu", "precision": "fp16", "threads": 1},
        stream="stderr",
        expect={"count": 50, "mean": 3.98, "min": 3.71, "max": 4.95, "flags": ("min_max_avg_only", "warmup_fixed")},
    ),
    Case(
        "ncnn",
        "fail_missing_model.txt",
        {"precision": "fp16", "model": "/data/local/tmp/mobiledl/models/missing.param"},
        stream="stderr",
        kind="missing_model",
        says="missing.param",
    ),
    Case(
        "ncnn",
        "fail_unsupported_op.txt",
        {"precision": "fp16", "model": "/data/local/tmp/mobiledl/models/vit_tiny.param"},
        stream="stderr",
        kind="unsupported_op",
        says="Einsum",
    ),
    Case(
        "ncnn",
        "fail_gpu_fallback_cpu.txt",
        {"backend": "gpu", "precision": "fp16", "threads": 1},
        stream="stderr",
        kind="delegate_fallback",
        says="NCNN_VULKAN",
    ),
    Case(
        "ncnn",
        "fail_crash_sigsegv.txt",
        {"precision": "fp16"},
        returncode=139,
        stream="stderr",
        kind="crash",
        says="SIGSEGV",
    ),
    Case(
        "ncnn",
        "fail_broken_run_0002ms.txt",
        {"precision": "fp16", "model": "/data/local/tmp/mobiledl/models/resnet50.param"},
        stream="stderr",
        kind="implausible",
        says="0.0",
    ),
    Case(
        "ncnn",
        "list_mode_20230517.txt",
        {"precision": "fp16", "warmup": 8},
        stream="stderr",
        cut="        mobilenet_v2  min",
        expect={
            "count": 50,
            "mean": 2.97,
            "min": 2.83,
            "max": 3.41,
            "flags": ("min_max_avg_only", "settings_mismatch"),
        },
    ),
    Case(
        "ncnn",
        "list_mode_20230517.txt",
        {"precision": "fp16", "model": "/data/local/tmp/mobiledl/models/yolov8n.param"},
        stream="stderr",
        kind="missing_lines",
        says="no result row for /data/local/tmp/mobiledl/models/yolov8n.param; rows found: squeezenet, squeezenet_int8",
    ),
    # --- MNN ----------------------------------------------------------------------------------
    Case(
        "mnn",
        "cpu_4threads.txt",
        {"warmup": 10},
        expect={"count": 50, "mean": 10.127, "min": 9.861, "max": 10.942, "flags": ("min_max_avg_only",)},
    ),
    Case(
        "mnn",
        "gpu_opencl_fp16.txt",
        {"backend": "gpu", "precision": "fp16", "warmup": 10},
        expect={"count": 50, "mean": 5.204, "min": 4.887, "max": 6.513, "flags": ("min_max_avg_only",)},
    ),
    Case(
        "mnn",
        "gpu_partial_fallback.txt",
        {
            "backend": "gpu",
            "precision": "fp16",
            "warmup": 10,
            "model": "/data/local/tmp/mobiledl/models/mnn_flow/flow_net.mnn",
        },
        expect={"count": 50, "mean": 38.455, "flags": ("min_max_avg_only", "delegate_fallback_cpu")},
    ),
    Case(
        "mnn",
        "fail_no_opencl_backend.txt",
        {"backend": "gpu", "precision": "fp16", "warmup": 10},
        kind="delegate_fallback",
        says="type=3",
    ),
    Case("mnn", "fail_missing_model.txt", {"warmup": 10}, kind="missing_model", says="mnn_mobilenet_v2"),
    Case("mnn", "fail_unsupported_op.txt", {"warmup": 10}, returncode=139, kind="unsupported_op", says="Einsum"),
    Case("mnn", "fail_missing_library.txt", returncode=1, kind="missing_library", says="libMNN.so"),
    Case(
        "mnn",
        "folder_several_models.txt",
        {"backend": "gpu", "precision": "fp16", "warmup": 10},
        expect={"count": 50, "mean": 5.231, "min": 4.902, "max": 6.413, "flags": ("min_max_avg_only",)},
    ),
    Case(
        "mnn",
        "folder_several_models.txt",
        {
            "backend": "gpu",
            "precision": "fp16",
            "warmup": 10,
            "model": "/data/local/tmp/mobiledl/models/m/vit_tiny.mnn",
        },
        expect={"count": 50, "mean": 38.772, "flags": ("min_max_avg_only", "delegate_fallback_cpu")},
    ),
    Case(
        "mnn",
        "folder_several_models.txt",
        {"backend": "gpu", "precision": "fp16", "warmup": 10, "model": "/data/local/tmp/mobiledl/models/m/yolov8n.mnn"},
        kind="missing_lines",
        says="rows found: squeezenet_v1.1.mnn, vit_tiny.mnn, mobilenet_v2.mnn, resnet50.mnn",
    ),
    Case(
        "mnn",
        "cpu_leading_space.txt",
        {"warmup": 10},
        expect={"count": 50, "mean": 10.288, "min": 9.917, "max": 11.204, "flags": ("min_max_avg_only",)},
    ),
    Case(
        "mnn",
        "cpu_1_1_ms_unspaced.txt",
        {"warmup": 10},
        expect={"count": 50, "mean": 10.694, "min": 10.311, "max": 12.087, "flags": ("min_max_avg_only",)},
    ),
    Case("mnn", "fail_pre_0_2_2_positional.txt", {"warmup": 10}, kind="settings_mismatch", says="forward type CPU"),
    # --- PyTorch: per-run samples from --report_pep, integer µs -------------------------------
    Case(
        "pytorch",
        "cpu_4threads.txt",
        {"warmup": 5, "iterations": 20},
        expect={
            "count": 20,
            "samples": 20,
            "sample_3": 21.877,
            "mean": 18.8237,
            "summary_mean": 18.8406,
            "flags": ("threads_not_set",),
        },
    ),
    Case(
        "pytorch",
        "gpu_vulkan.txt",
        {"backend": "gpu", "warmup": 5, "iterations": 20},
        expect={"count": 20, "samples": 20, "mean": 9.4284, "flags": ("threads_not_set",)},
    ),
    Case("pytorch", "fail_missing_model.txt", returncode=134, kind="missing_model", says="missing.pt"),
    Case(
        "pytorch", "fail_unsupported_op.txt", returncode=134, kind="unsupported_op", says="scaled_dot_product_attention"
    ),
    Case(
        "pytorch",
        "fail_vulkan_not_linked.txt",
        {"backend": "gpu"},
        returncode=134,
        kind="delegate_failed",
        says="vulkan",
    ),
    Case("pytorch", "fail_truncated.txt", {"iterations": 20}, kind="missing_lines", says="Main run finished"),
    Case(
        "pytorch",
        "cpu_slow_model_e_notation.txt",
        {"warmup": 1, "iterations": 5},
        expect={"count": 5, "samples": 5, "sample_3": 1254.02, "mean": 1164.0184, "summary_mean": 1164.18},
    ),
    # --- ExecuTorch: per-iteration lines (recent) or the total only (older) -------------------
    Case(
        "executorch",
        "cpu_xnnpack_per_iteration.txt",
        {"warmup": 2, "iterations": 10},
        stream="stderr",
        expect={
            "count": 10,
            "samples": 10,
            "mean": 9.47326,
            "init_ms": 41.937,
            "first_inference_ms": 31.874512,
            "flags": ("backend_unverified",),
        },
    ),
    Case(
        "executorch",
        "cpu_total_only.txt",
        {"warmup": 1, "iterations": 20},
        stream="stderr",
        expect={
            "count": 21,
            "samples": None,
            "mean": 10.5752,
            "init_ms": None,
            "flags": ("backend_unverified", "mean_only", "warmup_included"),
        },
    ),
    Case(
        "executorch",
        "gpu_vulkan.txt",
        {"backend": "gpu", "threads": 1, "warmup": 1, "iterations": 10},
        stream="stderr",
        expect={"count": 10, "samples": 10, "mean": 4.81888, "init_ms": 386.561, "first_inference_ms": 52.7},
    ),
    Case("executorch", "fail_missing_model.txt", returncode=134, stream="stderr", kind="missing_model", says="0x22"),
    Case(
        "executorch",
        "fail_unsupported_op.txt",
        returncode=134,
        stream="stderr",
        kind="unsupported_op",
        says="flash_attention",
    ),
    Case(
        "executorch",
        "fail_backend_not_registered.txt",
        {"backend": "gpu"},
        returncode=134,
        stream="stderr",
        kind="delegate_failed",
        says="VulkanBackend",
    ),
    Case(
        "executorch",
        "cpu_v0_6_threadpool_total.txt",
        {"warmup": 1, "iterations": 20},
        stream="stderr",
        expect={"count": 21, "mean": 9.876329, "flags": ("backend_unverified", "mean_only", "warmup_included")},
    ),
    # --- MACE: mean only, runtime fixed at conversion ------------------------------------------
    Case(
        "mace",
        "cpu_4threads.txt",
        {"layout": "NHWC"},
        expect={
            "count": 50,
            "mean": 14.982,
            "init_ms": 39.102,
            "first_inference_ms": 21.874,
            "lib_version": "v1.1.1-0-g1bec3a3",
            "flags": ("mean_only",),
        },
    ),
    Case(
        "mace",
        "gpu_fp16.txt",
        {"backend": "gpu", "precision": "fp16", "threads": 1, "warmup": 3, "iterations": 30},
        expect={"count": 30, "mean": 7.416, "init_ms": 1188.233, "flags": ("mean_only", "warmup_fixed")},
    ),
    Case("mace", "fail_missing_model.txt", returncode=134, kind="missing_model", says="missing.pb"),
    Case("mace", "fail_unsupported_op.txt", returncode=134, kind="unsupported_op", says="Einsum"),
    Case(
        "mace",
        "fail_converted_for_cpu_asked_gpu.txt",
        {"backend": "gpu", "threads": 1},
        kind="delegate_fallback",
        says="CPU",
    ),
    Case(
        "mace",
        "fail_create_engine_retry.txt",
        {"backend": "dsp", "precision": "int8"},
        returncode=137,
        kind="init_failed",
        says="Hexagon",
    ),
    Case(
        "mace",
        "v1_0_device_gpu.txt",
        {"backend": "gpu", "precision": "fp16", "layout": "NHWC"},
        expect={"count": 50, "mean": 7.628, "init_ms": 1202.137, "lib_version": "v1.0.4-0-ge29185e2"},
    ),
    Case("mace", "v1_0_device_gpu.txt", {"layout": "NHWC"}, kind="settings_mismatch", says="ran on GPU"),
    # --- SNPE: net-run then diagview, averages only ---------------------------------------------
    Case(
        "snpe",
        "cpu.txt",
        {"warmup": 1, "iterations": 50},
        expect={
            "count": 51,
            "mean": 26.458,
            "init_ms": 48.856,
            "load_ms": 0.149,
            "lib_version": "2.9.0.4462",
            "flags": ("mean_only", "count_unreported", "threads_not_set", "warmup_included"),
        },
    ),
    Case(
        "snpe",
        "dsp_htp_int8.txt",
        {"backend": "dsp", "precision": "int8", "warmup": 0, "iterations": 100},
        expect={
            "count": 100,
            "mean": 1.214,
            "init_ms": 176.39,
            "load_ms": 1.052,
            "lib_version": "2.37.0.250724175447_124859",
            "flags": ("mean_only", "count_unreported", "threads_not_set"),
        },
    ),
    Case("snpe", "fail_missing_model.txt", returncode=1, kind="missing_model", says="missing.dlc"),
    Case(
        "snpe",
        "fail_dsp_unavailable.txt",
        {"backend": "dsp", "precision": "int8"},
        returncode=1,
        kind="delegate_failed",
        says="DSP runtime",
    ),
    Case(
        "snpe",
        "fail_unsupported_layer_dsp.txt",
        {"backend": "dsp", "precision": "int8"},
        returncode=1,
        kind="unsupported_op",
        says="Einsum",
    ),
    Case("snpe", "fail_diag_log_missing_lines.txt", kind="missing_lines", says="averaged"),
    # --- ONNX Runtime: distribution, seconds and bytes converted --------------------------------
    Case(
        "onnxruntime",
        "cpu_4threads.txt",
        {"iterations": 100},
        expect={
            "count": 100,
            "mean": 9.7821,
            "min": 9.21877,
            "max": 13.2119,
            "p50": 9.62104,
            "p90": 10.4233,
            "p999": 13.2119,
            "init_ms": 131.276,
            "first_inference_ms": 27.0,
            "peak_memory_mb": 73580544 / 2**20,
            "flags": ("percentiles_only",),
        },
    ),
    Case(
        "onnxruntime",
        "nnapi_fp16.txt",
        {"backend": "nnapi", "precision": "fp16", "warmup": 5},
        expect={"count": 50, "mean": 6.22128, "p50": 6.14391, "flags": ("percentiles_only", "warmup_fixed")},
    ),
    Case(
        "onnxruntime",
        "qnn_htp_int8_partial.txt",
        {"backend": "dsp", "precision": "int8", "threads": 1, "iterations": 100},
        expect={"count": 100, "mean": 1.8131, "flags": ("percentiles_only", "delegate_fallback_cpu")},
    ),
    Case(
        "onnxruntime",
        "cpu_cost_without_total.txt",
        {"iterations": 100},
        expect={"count": 100, "mean": 10.1187, "p50": 9.96381, "init_ms": 142.918, "flags": ("percentiles_only",)},
    ),
    Case("onnxruntime", "fail_missing_model.txt", returncode=255, kind="missing_model", says="missing.onnx"),
    Case("onnxruntime", "fail_unsupported_op.txt", returncode=255, kind="unsupported_op", says="GridSample"),
    Case(
        "onnxruntime",
        "fail_qnn_no_nodes.txt",
        {"backend": "dsp", "precision": "int8", "threads": 1, "iterations": 100},
        kind="delegate_fallback",
        says="0 of 97",
    ),
    Case(
        "onnxruntime",
        "fail_qnn_missing_library.txt",
        {"backend": "dsp", "precision": "int8"},
        returncode=255,
        kind="missing_library",
        says="libQnnHtp.so",
    ),
    Case("onnxruntime", "fail_crash_sigabrt.txt", returncode=134, kind="crash", says="SIGABRT"),
]

SUCCESSES = [c for c in CASES if c.kind is None]
FAILURES = [c for c in CASES if c.kind is not None]


def run(case: Case) -> Any:
    text = sample(case.lib, case.name)
    stdout, stderr = (text, "") if case.stream == "stdout" else ("", text)
    return SPECS[case.lib].parse(stdout, stderr, case.returncode, make_request(case.lib, **case.request))


def test_every_sample_file_has_a_case() -> None:
    on_disk = {(p.parents[1].name, p.name) for p in SAMPLES_ROOT.glob("*/samples/*.txt")}
    assert on_disk == {(c.lib, c.name) for c in CASES if "/" not in c.name}
    realworld = {(p.parents[2].name, f"realworld/{p.name}") for p in SAMPLES_ROOT.glob("*/samples/realworld/*.txt")}
    assert realworld == {(c.lib, c.name) for c in CASES if c.name.startswith("realworld/")}


def test_every_library_has_success_and_failure_samples() -> None:
    for lib in SPECS:
        names = [c.name for c in CASES if c.lib == lib]
        assert any(n.startswith("fail_") for n in names) and any(not n.startswith("fail_") for n in names), lib


@pytest.mark.parametrize("case", SUCCESSES, ids=lambda c: f"{c.lib}-{c.name}")
def test_success_sample_parses_to_known_numbers(case: Case) -> None:
    out = run(case)
    expect = dict(case.expect)
    assert out.lib == case.lib
    assert out.count == expect.pop("count")
    assert out.mean_ms == pytest.approx(expect.pop("mean"), abs=1e-4)
    if "flags" in expect:
        assert out.flags == expect.pop("flags")
    if "samples" in expect:
        wanted = expect.pop("samples")
        assert (out.samples_ms is None) if wanted is None else (len(out.samples_ms or ()) == wanted)
    if "sample_3" in expect:
        assert out.samples_ms is not None and out.samples_ms[3] == pytest.approx(expect.pop("sample_3"))
    if "summary_mean" in expect:
        assert out.summary_ms["mean"] == pytest.approx(expect.pop("summary_mean"))
    for key, value in expect.items():
        got = getattr(out, key) if hasattr(out, key) else out.summary_ms[key]
        assert got == (pytest.approx(value, abs=1e-4) if isinstance(value, float) else value), key
    assert out.raw_tail and len(out.raw_tail) <= 2048


@pytest.mark.parametrize("case", FAILURES, ids=lambda c: f"{c.lib}-{c.name}")
def test_failure_sample_names_its_cause(case: Case) -> None:
    with pytest.raises(ToolError) as caught:
        run(case)
    error = caught.value
    assert (error.lib, error.kind) == (case.lib, case.kind), str(error)
    assert case.says in error.cause
    assert "\n" not in str(error) and str(error).startswith(f"{case.lib}: ")
    assert error.raw_tail  # the evidence travels with the error


@pytest.mark.parametrize("case", SUCCESSES, ids=lambda c: f"{c.lib}-{c.name}")
def test_truncated_success_sample_is_rejected(case: Case) -> None:
    text = sample(case.lib, case.name)
    half = text[: text.index(case.cut) if case.cut else len(text) // 2]
    stdout, stderr = (half, "") if case.stream == "stdout" else ("", half)
    with pytest.raises(ToolError):
        SPECS[case.lib].parse(stdout, stderr, 0, make_request(case.lib, **case.request))


COUNTED = [c for c in SUCCESSES if "count_unreported" not in c.expect.get("flags", ())]


@pytest.mark.parametrize("case", COUNTED, ids=lambda c: f"{c.lib}-{c.name}")
def test_more_runs_requested_than_reported_is_rejected(case: Case) -> None:
    text = sample(case.lib, case.name)
    stdout, stderr = (text, "") if case.stream == "stdout" else ("", text)
    request = make_request(case.lib, **{**case.request, "iterations": 1000})
    with pytest.raises(ToolError) as caught:
        SPECS[case.lib].parse(stdout, stderr, 0, request)
    assert caught.value.kind in ("implausible", "settings_mismatch")


def test_a_tool_without_a_count_takes_it_from_the_plan() -> None:
    """SNPE prints averages only: its count is the input-list length, and it says so."""
    request = make_request("snpe", warmup=2, iterations=1000)
    out = SPECS["snpe"].parse(sample("snpe", "cpu.txt"), "", 0, request)
    assert out.count == 1002 and "count_unreported" in out.flags


@pytest.mark.parametrize("case", SUCCESSES, ids=lambda c: f"{c.lib}-{c.name}")
def test_success_sample_survives_crlf_and_padding(case: Case) -> None:
    """An adb pty ends lines with CRLF; versions pad lines differently: same numbers either way."""
    text = sample(case.lib, case.name)
    padded = "".join(f"  {line}\r\n" for line in text.splitlines())
    stdout, stderr = (padded, "") if case.stream == "stdout" else ("", padded)
    out = SPECS[case.lib].parse(stdout, stderr, 0, make_request(case.lib, **case.request))
    assert (out.count, out.mean_ms, out.flags) == (run(case).count, run(case).mean_ms, run(case).flags)
