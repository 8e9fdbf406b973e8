"""Under pytest-xdist: one worker per device, results stored once on the controller."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pytest_mobiledl.keys import device_of

RUN = ["-p", "no:cacheprovider", "--warmup=1", "--iterations=5", "--libs=onnxruntime,tflite", "--threads=1,2"]


def test_device_of_takes_the_longest_matching_serial() -> None:
    serials = ["emu", "emulator-5554", "host"]
    assert device_of("b.py::test_latency[emulator-5554-tflite-m-cpu-fp32-t1]", sorted(serials, key=len)[::-1]) \
        == "emulator-5554"
    assert device_of("b.py::test_latency[host-tflite-m-cpu-fp32-t1]", serials) == "host"
    assert device_of("tests/test_x.py::test_other", serials) is None
    assert device_of("tests/test_x.py::test_other[hostile]", serials) is None


def test_auto_starts_one_worker_per_selected_device(bench_dir: pytest.Pytester) -> None:
    result = bench_dir.runpytest_subprocess(*RUN, "--devices=host", "-n", "auto", "--libs=tflite", "--threads=1")
    result.stdout.fnmatch_lines(["created: 1/1 worker*"])


def test_one_device_never_runs_two_items_at_once(bench_dir: pytest.Pytester) -> None:
    result = bench_dir.runpytest_subprocess(*RUN, "-n", "2", "-v")
    result.assert_outcomes(passed=4)
    workers = {line.split("]")[0] for line in result.outlines if line.startswith("[gw") and "PASSED" in line}
    assert len(workers) == 1, result.stdout.str()  # all four host items on one worker


def test_repeats_run_round_robin_on_the_devices_worker(bench_dir: pytest.Pytester) -> None:
    result = bench_dir.runpytest_subprocess(*RUN, "--threads=1", "--repeats=2", "-n", "2", "-v",
                                            "--benchmark-autosave")
    result.assert_outcomes(passed=4)
    passed = [line for line in result.outlines if line.startswith("[gw") and "PASSED" in line]
    order = [re.search(r"\[(host-[^]]+)\]", line).group(1) for line in passed]  # type: ignore[union-attr]
    assert order == ["host-onnxruntime-tiny_cnn-cpu-fp32-t1-r1", "host-tflite-tiny_cnn-cpu-fp32-t1-r1",
                     "host-onnxruntime-tiny_cnn-cpu-fp32-t1-r2", "host-tflite-tiny_cnn-cpu-fp32-t1-r2"]
    run = saved(bench_dir.path)
    assert {b["param"]: len(b["extra_info"]["repeats"]) for b in run["benchmarks"]} == {
        "host-onnxruntime-tiny_cnn-cpu-fp32-t1": 2, "host-tflite-tiny_cnn-cpu-fp32-t1": 2}


def saved(root: Path) -> dict:
    [path] = root.glob(".benchmarks/*/*.json")
    run = json.loads(path.read_text())
    path.unlink()
    return run


def test_xdist_saves_what_a_plain_run_saves(bench_dir: pytest.Pytester) -> None:
    bench_dir.runpytest_subprocess(*RUN, "--benchmark-autosave").assert_outcomes(passed=4)
    plain = saved(bench_dir.path)
    result = bench_dir.runpytest_subprocess(*RUN, "-n", "2", "--benchmark-autosave")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*mobiledl fragmentation*"])
    dist = saved(bench_dir.path)

    def shape(run: dict) -> dict:
        return {b["fullname"]: (sorted(b["extra_info"]), b["extra_info"]["device"], b["stats"]["rounds"], b["params"])
                for b in run["benchmarks"]}

    assert shape(dist) == shape(plain) and len(shape(plain)) == 4
    assert dist["machine_info"]["mobiledl_devices"] == plain["machine_info"]["mobiledl_devices"]


def test_compare_fail_works_under_xdist(bench_dir: pytest.Pytester) -> None:
    args = [*RUN, "--libs=onnxruntime", "--threads=1", "-n", "2"]
    bench_dir.runpytest_subprocess(*args, "--mobiledl-delay-ms=2", "--benchmark-autosave").assert_outcomes(passed=1)
    same = bench_dir.runpytest_subprocess(*args, "--mobiledl-delay-ms=2", "--benchmark-compare",
                                          "--benchmark-compare-fail=median:50%")
    assert same.ret == 0, same.stdout.str()
    slowed = bench_dir.runpytest_subprocess(*args, "--mobiledl-delay-ms=10", "--benchmark-compare",
                                            "--benchmark-compare-fail=median:50%")
    assert slowed.ret != 0
    pytest.LineMatcher(slowed.outlines + slowed.errlines).fnmatch_lines(["*Performance has regressed*"])


def test_other_tests_still_spread_over_workers(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makepyfile(test_plain="import pytest\n@pytest.mark.parametrize('i', range(8))\n"
                                   "def test_sleep(i):\n    import time; time.sleep(0.2)\n")
    result = pytester.runpytest_subprocess("-p", "mobiledl", "-p", "xdist", "-n", "2", "-v")
    result.assert_outcomes(passed=8)
    workers = {line.split("]")[0] for line in result.outlines if line.startswith("[gw") and "PASSED" in line}
    assert workers == {"[gw0", "[gw1"}
