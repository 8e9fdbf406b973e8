"""The bridge to pytest-benchmark. These tests fail loudly when its internals we rely on change."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest
import pytest_benchmark
import pytest_benchmark.plugin
import pytest_benchmark.session
import pytest_benchmark.stats

from pytest_mobiledl import storage
from pytest_mobiledl.record import from_dict

GOLDEN = json.loads((Path(__file__).parent / "golden" / "record_v1.json").read_text())


def test_pinned_pytest_benchmark_internals_are_as_storage_expects() -> None:
    assert pytest_benchmark.__version__ == "5.3.1", "storage.py was written against 5.3.1: re-check it, then the pin"
    assert list(inspect.signature(pytest_benchmark.stats.Metadata).parameters) == ["fixture", "iterations", "options"]
    assert "self.benchmarks = []" in inspect.getsource(pytest_benchmark.session.BenchmarkSession.__init__)
    assert "config._benchmarksession = BenchmarkSession(config)" in inspect.getsource(
        pytest_benchmark.plugin.pytest_configure)


def test_a_record_becomes_a_pytest_benchmark_result(pytester: pytest.Pytester) -> None:
    config = pytester.parseconfigure()
    record = from_dict(GOLDEN)
    assert storage.add(config, "bench.py::test_latency[host-onnxruntime-tiny_cnn-cpu-fp32-t1]", [record])
    [result] = storage.session(config).benchmarks
    saved = result.as_dict(include_data=True)
    assert saved["fullname"] == "bench.py::test_latency[host-onnxruntime-tiny_cnn-cpu-fp32-t1]"
    assert saved["name"] == "test_latency[host-onnxruntime-tiny_cnn-cpu-fp32-t1]"
    assert saved["param"] == "host-onnxruntime-tiny_cnn-cpu-fp32-t1"
    assert saved["params"]["lib"] == "onnxruntime" and saved["params"]["device"] == "host"
    assert saved["stats"]["data"] == [s / 1000 for s in GOLDEN["samples_ms"]]
    assert saved["stats"]["median"] == pytest.approx(0.0667 / 1000)
    assert saved["extra_info"]["lib_version"] == "1.32.0" and "samples_ms" not in saved["extra_info"]
    assert saved["options"]["timer"] == "on-device"
    json.dumps(saved)  # what pytest-benchmark writes must be plain JSON


def test_a_mean_only_record_is_one_round_of_count_iterations(pytester: pytest.Pytester) -> None:
    config = pytester.parseconfigure()
    record = from_dict(GOLDEN | {"samples_ms": None, "summary_ms": {"mean": 9.9, "min": 9.7, "max": 11.3},
                                 "flags": ["min_max_avg_only"], "count": 50, "iterations": 50})
    assert storage.add(config, "bench.py::test_latency[R58M-tflite-m-cpu-fp32-t4]", [record])
    saved = storage.session(config).benchmarks[0].as_dict(include_data=True)
    assert saved["stats"]["rounds"] == 1 and saved["stats"]["iterations"] == 50
    assert saved["stats"]["median"] == pytest.approx(0.0099)
    assert saved["extra_info"]["summary_ms"]["max"] == 11.3 and saved["extra_info"]["flags"] == ["min_max_avg_only"]


def test_without_pytest_benchmark_nothing_is_stored(pytester: pytest.Pytester) -> None:
    config = pytester.parseconfigure("-p", "no:benchmark")
    assert storage.session(config) is None
    assert not storage.add(config, "x::y", [from_dict(GOLDEN)])
