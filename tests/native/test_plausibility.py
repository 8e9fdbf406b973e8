"""Numbers that cannot be right never leave a parser: too small, NaN, too few runs, min > max."""

from __future__ import annotations

import subprocess
import sys

import pytest
from native_cases import SAMPLES_ROOT, make_request, sample

from pytest_mobiledl.native import MIN_LATENCY_MS, SPECS, ToolError, ToolOutput, spec_for


def parse(lib: str, text: str, returncode: int = 0, **changes: object) -> ToolOutput:
    return SPECS[lib].parse(text, "", returncode, make_request(lib, **changes))


def test_a_0002_ms_resnet50_is_rejected() -> None:
    """The broken run a published benchmark stored: 2 µs for a ResNet50."""
    text = (
        sample("tflite", "cpu_4threads.txt")
        .replace(
            "count=50 first=9903 curr=9851 min=9689 max=11342 avg=9921.48 std=262 p5=9701 median=9866 p95=10488",
            "count=50 first=2 curr=2 min=2 max=3 avg=2 std=0 p5=2 median=2 p95=3",
        )
        .replace("Inference (avg): 9921.48", "Inference (avg): 2")
    )
    with pytest.raises(ToolError) as caught:
        parse("tflite", text, warmup=5)
    assert caught.value.kind == "implausible" and "0.002" in caught.value.cause


def test_the_floor_is_the_documented_one() -> None:
    assert MIN_LATENCY_MS == 0.01
    ToolOutput(lib="x", samples_ms=None, summary_ms={"mean": 0.01}, count=1, flags=("mean_only",))
    with pytest.raises(ToolError):
        ToolOutput(lib="x", samples_ms=None, summary_ms={"mean": 0.009}, count=1, flags=("mean_only",))


def test_fewer_runs_than_requested_is_rejected() -> None:
    with pytest.raises(ToolError) as caught:
        parse("tflite", sample("tflite", "cpu_4threads.txt"), warmup=5, iterations=60)
    assert caught.value.kind == "settings_mismatch" and "asked runs 60, the tool echoed 50" in caught.value.cause


def test_a_max_secs_cut_is_caught_as_too_few_runs() -> None:
    text = sample("tflite", "cpu_4threads.txt").replace("INFO: count=50 first=9903", "INFO: count=37 first=9903")
    with pytest.raises(ToolError, match="37 timed runs"):
        parse("tflite", text, warmup=5)


@pytest.mark.parametrize(
    ("lib", "name", "old", "new", "request_"),
    [
        ("tflite", "cpu_4threads.txt", "avg=9921.48", "avg=nan", {"warmup": 5}),
        ("pytorch", "cpu_4threads.txt", '"value": "', '"value": "nan", "was": "', {"warmup": 5, "iterations": 20}),
        ("onnxruntime", "cpu_4threads.txt", "P50 Latency: 0.00962104 s", "P50 Latency: nan s", {"iterations": 100}),
        ("mace", "cpu_4threads.txt", "Average latency: 14.982 ms", "Average latency: nan ms", {"layout": "NHWC"}),
        ("snpe", "cpu.txt", "Total Inference Time: 26458 us", "Total Inference Time: inf us", {}),
    ],
)
def test_nan_or_infinite_is_rejected(lib: str, name: str, old: str, new: str, request_: dict[str, object]) -> None:
    text = sample(lib, name)
    assert old in text
    with pytest.raises(ToolError) as caught:
        parse(lib, text.replace(old, new, 1), **request_)
    assert caught.value.kind == "implausible"


def test_min_above_max_is_rejected() -> None:
    text = sample("mnn", "cpu_4threads.txt").replace("min =    9.861 ms", "min =   19.861 ms")
    with pytest.raises(ToolError, match=r"min 19\.861 ms > max"):
        parse("mnn", text, warmup=10)


def test_mean_outside_min_max_is_rejected() -> None:
    text = sample("ncnn", "cpu_4threads.txt").replace("avg =   12.21", "avg =   14.21")
    with pytest.raises(ToolError, match=r"mean 14\.21 ms outside"):
        SPECS["ncnn"].parse("", text, 0, make_request("ncnn", precision="fp16", warmup=8))


def test_a_missing_field_is_an_error_never_a_zero() -> None:
    text = sample("tflite", "cpu_4threads.txt").replace(" min=9689", "")
    with pytest.raises(ToolError) as caught:
        parse("tflite", text, warmup=5)
    assert caught.value.kind == "missing_lines" and "min" in caught.value.cause


def test_inconsistent_summaries_are_rejected() -> None:
    text = sample("tflite", "cpu_4threads.txt").replace("Inference (avg): 9921.48", "Inference (avg): 7921.48")
    with pytest.raises(ToolError, match="disagrees"):
        parse("tflite", text, warmup=5)
    dropped = sample("pytorch", "cpu_4threads.txt").replace(
        'PyTorchObserver {"type": "NET", "unit": "us", "metric": "latency", "value": "21877"}\n', ""
    )
    with pytest.raises(ToolError):
        parse("pytorch", dropped, warmup=5, iterations=20)


def test_a_run_that_exits_nonzero_without_a_known_cause_keeps_its_last_error_line() -> None:
    text = sample("onnxruntime", "cpu_4threads.txt") + "some teardown error: device lost\n"
    with pytest.raises(ToolError) as caught:
        parse("onnxruntime", text, returncode=1, iterations=100)
    assert caught.value.kind == "nonzero_exit" and "device lost" in caught.value.cause


def test_tool_output_validates_its_own_shape() -> None:
    with pytest.raises(ValueError, match="unknown"):
        ToolOutput(lib="x", samples_ms=None, summary_ms={"mean": 1.0}, count=1, flags=("made_up",))
    with pytest.raises(ToolError, match="samples for count"):
        ToolOutput(lib="x", samples_ms=(1.0, 2.0), summary_ms={}, count=3)
    with pytest.raises(ToolError, match="neither"):
        ToolOutput(lib="x", samples_ms=None, summary_ms={"min": 1.0}, count=3)
    with pytest.raises(ToolError, match="nan"):
        ToolOutput(lib="x", samples_ms=(1.0, float("nan")), summary_ms={}, count=2)
    with pytest.raises(ToolError, match="init_ms"):
        ToolOutput(lib="x", samples_ms=(1.0,), summary_ms={}, count=1, init_ms=-1.0)


def test_registry_and_lookup() -> None:
    assert list(SPECS) == ["tflite", "ncnn", "mnn", "pytorch", "executorch", "mace", "snpe", "onnxruntime"]
    assert spec_for("mnn").binary == "benchmark.out"
    with pytest.raises(ValueError, match="known: tflite"):
        spec_for("paddlelite")


def test_every_library_documents_its_runner() -> None:
    index = (SAMPLES_ROOT / "README.md").read_text()
    for lib, spec in SPECS.items():
        readme = (SAMPLES_ROOT / lib / "README.md").read_text()
        assert spec.binary in readme and f"({lib}/README.md)" in index
        for path in spec.files:
            assert path in readme, (lib, path)


def test_importing_the_specs_stays_light() -> None:
    code = (
        "import sys; import pytest_mobiledl.native as n; "
        "heavy = {'pytest', 'numpy', 'torch', 'tensorflow', 'onnxruntime', 'adbutils'} & set(sys.modules); "
        "print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_tflite_without_warmup_has_no_first_inference_instead_of_a_zero() -> None:
    text = (
        sample("tflite", "cpu_4threads.txt")
        .replace(
            "count=5 first=14210 curr=9874 min=9812 max=14210 avg=10795.6 std=1728 p5=9812 median=9874 p95=14210",
            "count=0",
        )
        .replace("Min warmup runs: [5]", "Min warmup runs: [0]")
        .replace("for at least 5 iterations", "for at least 0 iterations")
        .replace("First inference: 14210, Warmup (avg): 10795.6", "First inference: 0, Warmup (avg): -nan")
    )
    out = parse("tflite", text, warmup=0)
    assert out.count == 50 and out.first_inference_ms is None and out.init_ms == 41.236


def test_a_signal_is_named_even_without_crash_text() -> None:
    with pytest.raises(ToolError, match="SIGKILL, exit status 137"):
        parse("ncnn", sample("ncnn", "cpu_4threads.txt"), returncode=137, precision="fp16", warmup=8)
