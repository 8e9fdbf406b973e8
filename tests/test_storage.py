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


def test_the_save_step_storage_replaces_is_still_pytest_benchmarks() -> None:
    # install() swaps FileStorage.save and BenchmarkSession.save_json for atomic writes of the same text.
    from pytest_benchmark.storage.file import FileStorage

    assert "self.get(f'{self._next_num}_{save}.json')" in inspect.getsource(FileStorage.save)
    assert "safe_dumps(output_json, ensure_ascii=True, indent=4)" in inspect.getsource(FileStorage.save)
    assert "self.storage.save(output_json, save)" in inspect.getsource(
        pytest_benchmark.session.BenchmarkSession.handle_saving)
    assert "self.save_json(output_json)" in inspect.getsource(pytest_benchmark.session.BenchmarkSession.handle_saving)


def fill(path: Path) -> None:
    """Write ``path`` until its (small, dedicated) disk is full."""
    with path.open("wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 4096)
        except OSError:
            pass  # full


def test_an_atomic_write_on_a_full_disk_leaves_the_old_file_whole(full_disk: Path) -> None:
    from pytest_mobiledl.errors import DiskFullError

    target = full_disk / "0001_run.json"
    (full_disk / "filler").unlink()
    target.write_text('{"old": "whole"}')
    filler = full_disk / "filler2"
    fill(filler)
    with pytest.raises(DiskFullError, match=rf"no space left on the disk of {target}: 0.200 MB to write, "):
        storage.write_atomic(target, b"x" * 200_000)
    assert target.read_text() == '{"old": "whole"}'
    assert sorted(p.name for p in full_disk.iterdir()) == ["0001_run.json", "filler2"]  # no temporary file stays
    filler.unlink()
    storage.write_atomic(target, b"{}")  # the next write works
    assert target.read_text() == "{}"


SAVE = ["-p", "no:cacheprovider", "--libs=onnxruntime", "--warmup=0", "--iterations=3", "--benchmark-autosave"]


def saved_runs(bench_dir: pytest.Pytester) -> list[Path]:
    return sorted((bench_dir.path / ".benchmarks").glob("*/[0-9][0-9][0-9][0-9]_*.json"))


def gate(bench_dir: pytest.Pytester, *compare: str) -> list[str]:
    """The gate's one line: it refuses before anything runs (a collect-only session suffices)."""
    result = bench_dir.runpytest_inprocess("--collect-only", "-p", "no:cacheprovider", *compare,
                                           "--mobiledl-compare-fail=10%")
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.outlines[-5:]
    # pytest-benchmark says which older run it loaded, when it skipped the damaged newest one
    lines = [line for line in result.errlines if line.strip() and not line.startswith("Comparing against")]
    assert len(lines) == 1, lines
    return lines


def test_a_gate_with_a_half_written_baseline_fails_naming_the_file(bench_dir: pytest.Pytester) -> None:
    bench_dir.runpytest_inprocess(*SAVE).assert_outcomes(passed=1)
    [run] = saved_runs(bench_dir)
    assert json.loads(run.read_text())[storage.MARK] == {"partial": False, "why": ""}
    assert not [p for p in run.parent.iterdir() if p.name.startswith(".")]  # no temporary file left
    data = run.read_bytes()
    run.write_bytes(data[: len(data) // 2])  # what a full disk left behind, before saves were atomic
    for compare in ("--benchmark-compare", "--benchmark-compare=0001"):
        [line] = gate(bench_dir, compare)
        assert f"cannot compare: {run} is unreadable ({len(data) // 2} bytes, cut short or damaged: " in line, line
    run.write_bytes(data)
    copy = run.with_name(run.name.replace("0001", "0002"))
    copy.write_bytes(data[:100])  # the newest is damaged: pytest-benchmark would compare with 0001 instead
    [line] = gate(bench_dir, "--benchmark-compare")
    assert f"{copy} is unreadable" in line
    copy.unlink()
    result = bench_dir.runpytest_inprocess("--collect-only", "-p", "no:cacheprovider", "--benchmark-compare",
                                           "--mobiledl-compare-fail=10%")
    assert result.ret == pytest.ExitCode.OK  # a whole baseline: the gate can do its job


# Ctrl-C's own handler first: a session started from a shell's background job inherits SIGINT
# ignored (CI's runner may start it so), and the interrupt would never come.
INTERRUPT_AFTER_ONE = '''
import os, signal

def pytest_runtest_logfinish(nodeid, location):
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.kill(os.getpid(), signal.SIGINT)
'''


def test_a_run_saved_by_an_interrupted_session_is_partial_and_no_baseline(bench_dir: pytest.Pytester,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from pytest_mobiledl import cli

    bench_dir.makeconftest(INTERRUPT_AFTER_ONE)
    result = bench_dir.runpytest_subprocess(*SAVE[:2], "--libs=onnxruntime,tflite", *SAVE[3:])
    assert result.ret == pytest.ExitCode.INTERRUPTED
    [run] = saved_runs(bench_dir)
    assert json.loads(run.read_text())[storage.MARK] == {"partial": True,
                                                         "why": "the session was interrupted (exit status 2)"}
    bench_dir.makeconftest("")
    [line] = gate(bench_dir, "--benchmark-compare")
    assert f"cannot compare: {run} is a partial run (the session was interrupted (exit status 2))" in line
    # In a folder a partial run is left out with one line (two runs of one build are no two libraries).
    code = cli.main(["report", str(bench_dir.path / ".benchmarks")])
    out, err = capsys.readouterr()
    assert f"skipped {run}: a partial run (the session was interrupted" in err, err
    assert code == 0 and "(partial)" not in out  # the folder's journal holds what finished
    assert cli.main(["report", str(run)]) == 0  # named, it is read, and its label says so
    assert "0001 (partial)" in capsys.readouterr().out


def test_repeats_that_ran_differently_are_not_pooled() -> None:
    record = from_dict(GOLDEN)
    same = [record.with_(repeat=k) for k in (1, 2, 3)]
    assert storage.agreeing(same) == (same, "")
    other = [same[0], same[1].with_(warmup=0, iterations=3), same[2]]
    kept, note = storage.agreeing(other)
    assert kept == [same[0], same[2]]
    assert note == "pooled 2 of 3 repeats; left out 1 with another warmup 0 (kept: 1), iterations 3 (kept: 5)"
    rebuilt = [same[0], same[1].with_(artifact_sha256="b" * 64), same[2].with_(artifact_sha256="b" * 64)]
    kept, note = storage.agreeing(rebuilt)  # the larger group; on a tie, the later
    assert [r.repeat for r in kept] == [2, 3] and f"artifact_sha256 {GOLDEN['artifact_sha256'][:12]}…" in note
    upgraded = [same[0].with_(lib_version="1.31.0"), same[1]]
    assert [r.repeat for r in storage.agreeing(upgraded)[0]] == [2]
