"""The host runner in real subprocesses, for every engine installed here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pytest_mobiledl import engines, zoo
from pytest_mobiledl.record import from_json

HOST_LIBS = [lib for lib in engines.LIBS if engines.installed(engines.get(lib))]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest_mobiledl.runner", *args],
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("lib", HOST_LIBS)
def test_runner_prints_exactly_one_valid_record(lib: str, model_cache: Path) -> None:
    artifact = zoo.artifact("tiny_cnn", lib, "fp32", model_cache)
    done = run("--lib", lib, "--model", str(artifact.path), "--model-id", "tiny_cnn", "--threads", "2",
               "--warmup", "3", "--iterations", "25")
    assert done.returncode == 0, done.stderr
    [line] = done.stdout.splitlines()  # library chatter went to stderr, never into stdout
    record = from_json(line)
    assert (record.lib, record.model, record.threads, record.count, record.warmup) == (lib, "tiny_cnn", 2, 25, 3)
    assert record.lib_version == engines.version(engines.get(lib).DIST)
    assert all(0.001 <= s < 1000 for s in record.samples_ms or ())
    assert record.load_ms is not None and record.init_ms is not None and record.first_inference_ms is not None
    assert record.peak_rss_mb is not None and record.peak_rss_mb > 10
    assert len(record.output_sha256 or "") == 64


def test_min_time_keeps_timing_past_the_iteration_count(model_cache: Path) -> None:
    artifact = zoo.artifact("tiny_cnn", HOST_LIBS[0], "fp32", model_cache)
    done = run("--lib", HOST_LIBS[0], "--model", str(artifact.path), "--model-id", "tiny_cnn",
               "--iterations", "2", "--min-time", "0.3", "--delay-ms", "5")
    record = from_json(done.stdout)
    assert 2 < record.count < 200  # ~0.3 s of ≥ 5 ms runs: it went past 2, and it stopped
    # min_time is wall time; the samples leave out the loop's own few µs between runs.
    assert sum(record.samples_ms or ()) >= 0.95 * 300
    assert "injected_delay" in record.flags


def test_same_seed_same_output_across_processes(model_cache: Path) -> None:
    artifact = zoo.artifact("tiny_cnn", HOST_LIBS[0], "fp32", model_cache)
    args = ("--lib", HOST_LIBS[0], "--model", str(artifact.path), "--model-id", "tiny_cnn", "--iterations", "1")
    assert from_json(run(*args).stdout).output_sha256 == from_json(run(*args).stdout).output_sha256


@pytest.mark.parametrize(("args", "message"), [
    (["--lib", "onnxruntime", "--model", "/nonexistent.onnx"], "cannot read model /nonexistent.onnx"),
    (["--lib", "caffe", "--model", "x"], "unknown library 'caffe'"),
])
def test_runner_failure_is_one_line_on_stderr(args: list[str], message: str) -> None:
    done = run(*args, "--model-id", "m")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines()[-1] == f"mobiledl-runner: {message}" or message in done.stderr
