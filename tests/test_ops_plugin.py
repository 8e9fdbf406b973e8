"""--mobiledl-ops end to end: profiling items, profiles saved with the run, the terminal's short
tables, "which op class changed" against --benchmark-compare, ``mobiledl report`` and
``mobiledl recommend`` on a user's .onnx and .py model, and the validation script's quick mode."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

# Loaded before pytester snapshots sys.modules: its restore at teardown would unload what
# recommend and report import in-process (numpy.fft's C extension cannot load twice).
import scipy.optimize
import scipy.stats  # noqa: F401

from pytest_mobiledl import cli
from pytest_mobiledl.saved import profiles as read_profiles

OPS_FILE = '''
def test_ops(mobiledl_ops):
    profile = mobiledl_ops.run()
    assert profile.ops or profile.note
'''
MY_NET = '''"""The user's own model: build() + INPUTS."""
from torch import nn

INPUTS = {"image": (1, 3, 32, 32)}


def build() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, stride=2, padding=1),
                         nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))
'''
RUN = ["-p", "no:cacheprovider", "--warmup=1", "--iterations=5", "--repeats=2", "--libs=onnxruntime,mnn"]
ROOT = Path(__file__).resolve().parents[1]


def test_profiles_are_made_saved_reported_compared_and_feed_recommend(bench_dir: pytest.Pytester,
                                                                      model_cache: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    bench_dir.makepyfile(test_ops=OPS_FILE)
    # Without --mobiledl-ops no profiling item exists: the latency items never pay for a profiler.
    plain = bench_dir.runpytest_subprocess(*RUN, "--collect-only", "-q")
    assert "test_ops.py::test_ops[off]" in plain.stdout.str() and "test_ops.py::test_ops[host" not in plain.stdout.str()

    models = "--models=tiny_cnn,bert_tiny,squeezenet1_1"
    first = bench_dir.runpytest_subprocess(*RUN, models, "--mobiledl-ops", "--benchmark-autosave",
                                           "--benchmark-json=run1.json")
    first.assert_outcomes(passed=3 * 2 * 2 + 3 * 2)  # latency repeats + one profile per case
    first.stdout.fnmatch_lines(["*op profiles: where libraries differ most*", "*best of all (projection*"])
    data = json.loads((bench_dir.path / "run1.json").read_text())
    profiles = data["mobiledl_ops"]
    assert sorted((p["lib"], p["model"]) for p in profiles) == sorted(
        (lib, m) for lib in ("onnxruntime", "mnn") for m in ("tiny_cnn", "bert_tiny", "squeezenet1_1"))
    assert all(p["schema"] == 1 and p["ops"] and p["latency_ms"] for p in profiles)
    # Profiles run after every latency repeat of their case, in their own items.
    order = [line for line in first.stdout.lines if "::test_" in line]
    assert not order or all("test_ops" not in line for line in order[:12])

    second = bench_dir.runpytest_subprocess(*RUN, "--models=tiny_cnn", "--mobiledl-ops", "--benchmark-autosave",
                                            "--benchmark-compare")
    second.assert_outcomes(passed=2 * 2 + 2)
    second.stdout.fnmatch_lines(["*which op class changed since the compared run*"])

    out = bench_dir.path / "out"
    assert cli.main(["report", str(bench_dir.path / ".benchmarks"), "--csv", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Where the time goes" in text and "Which op class changed" in text
    with (out / "op_coverage.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert {r["lib"] for r in rows} == {"onnxruntime", "mnn"} and all(r["coverage %"] for r in rows)

    # recommend: a user's .onnx (the zoo's mobilenet_v2 export stands in) and a .py model.
    onnx_file = bench_dir.path / "user_net.onnx"
    onnx_file.write_bytes(_artifact("mobilenet_v2", model_cache).read_bytes())
    py_file = bench_dir.path / "my_net.py"
    py_file.write_text(MY_NET)
    # As a user runs it: a command of its own (reading a graph loads onnx, which pytest's process never should).
    done = subprocess.run([sys.executable, "-m", "pytest_mobiledl", "recommend", f"--models={onnx_file},{py_file}",
                           f"--model-cache={model_cache}", str(bench_dir.path / "run1.json")],
                          capture_output=True, text=True, check=False)
    text = done.stdout
    assert done.returncode == 0, text + done.stderr[-2000:]
    assert "user_net on host" in text and "my_net on host" in text
    assert text.count("onnxruntime") >= 2 and text.count("mnn") >= 2
    assert ("clear:" in text) or ("measure them" in text and "--libs=" in text)

    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "recommend_validation.py"), "--quick",
                           "--runs", str(bench_dir.path / "run1.json"), "--out", str(out / "validation"),
                           f"--model-cache={model_cache}"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "top-1" in done.stdout and "baseline" in done.stdout
    results = json.loads((out / "validation" / "validation.json").read_text())
    assert results[0]["models"] == 3 and results[0]["top1"] is not None


def test_a_session_of_profiles_alone_keeps_them_in_a_file_of_their_own(bench_dir: pytest.Pytester) -> None:
    bench_dir.makepyfile(test_ops=OPS_FILE)
    result = bench_dir.runpytest_subprocess("-p", "no:cacheprovider", "--libs=onnxruntime,tflite", "--mobiledl-ops",
                                            "test_ops.py")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*op profiles (no run saved to hold them) written to *mobiledl-ops*"])
    saved = list((bench_dir.path / ".benchmarks" / "mobiledl-ops").glob("*.json"))
    profiles = read_profiles(json.loads(saved[0].read_text()))
    assert {p.lib for p in profiles} == {"onnxruntime", "tflite"}
    assert next(p for p in profiles if p.lib == "tflite").note.startswith("ai-edge-litert's Python API")


@pytest.mark.parametrize(("argv", "words"), [
    (["--models={tmp}/missing.onnx"], "--models: no model file"),
    (["--models=mobilenet_v9"], "--models: mobilenet_v9 is not valid; choose from all, bert_tiny"),
    (["--models=tiny_cnn", "--input-shape=input"], "--input-shape: 'input' is not name=d1,d2,…"),
])
def test_bad_recommend_input_is_the_plugins_one_line(argv: list[str], words: str, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """recommend checks --models and --input-shape with the plugin's own parsers, before reading any run."""
    code = cli.main(["recommend", *(a.format(tmp=tmp_path) for a in argv), str(tmp_path / "no-such-runs")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith(f"mobiledl recommend: {words}"), err


def _artifact(model: str, cache: Path) -> Path:
    from pytest_mobiledl import zoo

    return zoo.artifact(model, "onnxruntime", "fp32", cache).path


def test_variant_builds_are_profiled_by_their_own_interpreter_and_compared(bench_dir: pytest.Pytester) -> None:
    bench_dir.makepyfile(test_ops=OPS_FILE)
    result = bench_dir.runpytest_subprocess("-p", "no:cacheprovider", "--warmup=1", "--iterations=5", "--repeats=1",
                                            "--libs=onnxruntime", "--mobiledl-ops", "--benchmark-json=run.json",
                                            "--variant", f"onnxruntime@a={sys.executable}",
                                            "--variant", f"onnxruntime@b={sys.executable}")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*which op class changed between the --variant builds*", "*onnxruntime@a*→*"
                                 "onnxruntime@b*"])
    profiles = json.loads((bench_dir.path / "run.json").read_text())["mobiledl_ops"]
    assert sorted(p["variant"] for p in profiles) == ["a", "b"] and all(p["ops"] for p in profiles)
