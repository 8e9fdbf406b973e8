"""The journal keeps every finished item through SIGINT, SIGTERM and SIGKILL; --mobiledl-resume finishes the rest."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from pytest_mobiledl import journal
from pytest_mobiledl.errors import MobiledlError

RUN = ["-p", "no:cacheprovider", "--warmup=0", "--iterations=3", "--threads=1", "--libs=tflite,onnxruntime,ncnn"]

# Kills its own session after KILL_AFTER items, with KILL_SIGNAL, on whichever process runs them
# (under xdist the worker kills the controller, its parent).
KILLER = '''
import os, signal
finished = 0
worker = False

def pytest_configure(config):
    global worker
    worker = hasattr(config, "workerinput")  # not the environment: an outer xdist run sets that too

def pytest_runtest_logfinish(nodeid, location):
    global finished
    finished += 1
    if finished == int(os.environ.get("KILL_AFTER", "0")):
        os.kill(os.getppid() if worker else os.getpid(), getattr(signal, os.environ["KILL_SIGNAL"]))
'''


def journals(root: Path) -> list[journal.Journal]:
    return [journal.read(p) for p in sorted((root / ".benchmarks" / journal.FOLDER).glob("*.jsonl"))]


def test_a_torn_last_line_is_skipped_and_an_unknown_version_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    header = {"mobiledl_journal": 1, "session": "s", "started": "t", "items": ["a", "b"]}
    entry = {"nodeid": "a", "item": "a", "outcome": "passed", "when": "call", "record": None}
    path.write_text(f"{json.dumps(header)}\n{json.dumps(entry)}\n{{\"nodeid\": \"b\", \"outc")
    read = journal.read(path)
    assert read.kept == {"a"} and not read.finished and read.items == ("a", "b")
    path.write_text(json.dumps({**header, "mobiledl_journal": 99}) + "\n")
    with pytest.raises(MobiledlError, match="not a version 1 mobiledl journal"):
        journal.read(path)


def test_every_item_is_journaled_with_its_record_and_the_end(bench_dir: pytest.Pytester) -> None:
    bench_dir.runpytest_subprocess(*RUN).assert_outcomes(passed=3)
    [done] = journals(bench_dir.path)
    assert done.finished and len(done.items) == 3 and done.kept == set(done.items)
    assert {e.record["lib"] for e in done.entries if e.record} == {"tflite", "onnxruntime", "ncnn"}


def interrupt_then_resume(bench_dir: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, sig: str,
                          *extra: str) -> pytest.RunResult:
    bench_dir.makeconftest(KILLER)
    monkeypatch.setenv("KILL_AFTER", "2")
    monkeypatch.setenv("KILL_SIGNAL", sig)
    killed = bench_dir.runpytest_subprocess(*RUN, *extra)
    assert killed.ret != pytest.ExitCode.OK
    [unfinished] = journals(bench_dir.path)
    assert not unfinished.finished and len(unfinished.items) == 3
    monkeypatch.delenv("KILL_AFTER")
    resumed = bench_dir.runpytest_subprocess(*RUN, *extra, "--mobiledl-resume", "--benchmark-json=out.json")
    kept = len(unfinished.kept)
    resumed.assert_outcomes(passed=3 - kept)
    resumed.stdout.fnmatch_lines([f"resumed: kept {kept} of 3 items (*)"])
    assert resumed.stdout.str().count("resumed: kept") == 1
    benches = json.loads((bench_dir.path / "out.json").read_text())["benchmarks"]
    assert len(benches) == 3  # the saved run holds every item, the kept ones too
    [finished] = journals(bench_dir.path)
    assert finished.finished and finished.kept == set(finished.items)
    return resumed


@pytest.mark.parametrize("sig", ["SIGKILL", pytest.param("SIGINT", marks=pytest.mark.slow),
                                 pytest.param("SIGTERM", marks=pytest.mark.slow)])
def test_a_killed_session_keeps_what_finished_and_resumes_the_rest(bench_dir: pytest.Pytester,
                                                                   monkeypatch: pytest.MonkeyPatch, sig: str) -> None:
    interrupt_then_resume(bench_dir, monkeypatch, sig)
    assert getattr(signal, sig)  # the signal exists on this platform


@pytest.mark.slow
def test_resume_under_xdist_when_the_controller_is_killed(bench_dir: pytest.Pytester,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    interrupt_then_resume(bench_dir, monkeypatch, "SIGKILL", "-n", "1")


def test_a_resume_after_a_torn_last_line_writes_on_a_line_of_its_own(bench_dir: pytest.Pytester,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    bench_dir.makeconftest(KILLER)
    monkeypatch.setenv("KILL_AFTER", "2")
    monkeypatch.setenv("KILL_SIGNAL", "SIGKILL")
    bench_dir.runpytest_subprocess(*RUN)
    [killed] = journals(bench_dir.path)
    with killed.path.open("a") as f:
        f.write('{"nodeid": "test_bench.py::torn')  # the kill came mid-write
    monkeypatch.delenv("KILL_AFTER")
    bench_dir.runpytest_subprocess(*RUN, "--mobiledl-resume").assert_outcomes(passed=3 - len(killed.kept))
    [finished] = journals(bench_dir.path)
    assert finished.finished and finished.kept == set(finished.items)


def test_resume_with_another_selection_runs_everything_and_says_so(bench_dir: pytest.Pytester,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    bench_dir.makeconftest(KILLER)
    monkeypatch.setenv("KILL_AFTER", "1")
    monkeypatch.setenv("KILL_SIGNAL", "SIGKILL")
    bench_dir.runpytest_subprocess(*RUN)
    monkeypatch.delenv("KILL_AFTER")
    result = bench_dir.runpytest_subprocess(*RUN[:-1], "--libs=tflite", "--mobiledl-resume")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["resumed: no unfinished session with this selection in *; running all 1 items"])


def test_collect_only_writes_no_journal(bench_dir: pytest.Pytester) -> None:
    bench_dir.runpytest_inprocess("--collect-only", *RUN)
    assert not (bench_dir.path / ".benchmarks" / journal.FOLDER).exists()


def test_resume_with_other_settings_starts_afresh_and_says_what_differs(bench_dir: pytest.Pytester,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    bench_dir.makeconftest(KILLER)
    monkeypatch.setenv("KILL_AFTER", "1")
    monkeypatch.setenv("KILL_SIGNAL", "SIGKILL")
    bench_dir.runpytest_subprocess(*RUN)  # --warmup=0 --iterations=3
    [killed] = journals(bench_dir.path)
    assert killed.settings == {"warmup": 0, "iterations": 3, "min_time": 0.0, "delay": {}, "cores": "big"}
    monkeypatch.delenv("KILL_AFTER")
    result = bench_dir.runpytest_subprocess(*RUN, "--warmup=1", "--iterations=4", "--mobiledl-resume")
    result.assert_outcomes(passed=3)  # none kept: repeats of 0 + 3 runs do not pool with 1 + 4
    result.stdout.fnmatch_lines([f"resumed: not *{killed.path.name}: it ran with --warmup=0 --iterations=3, where this "
                                 "session asks --warmup=1 --iterations=4; its repeats would not pool with these: "
                                 "running all 3 items afresh"])


def test_a_full_disk_stops_the_journal_in_one_line_and_fails_the_session(bench_dir: pytest.Pytester,
                                                                         full_disk: Path) -> None:
    storage = full_disk / "bench"
    storage.mkdir()
    result = bench_dir.runpytest_subprocess(*RUN[:-1], "--libs=onnxruntime", f"--benchmark-storage=file://{storage}")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([f"mobiledl: the journal stopped: no space left on the disk of {storage}/"
                                 f"{journal.FOLDER}/*.jsonl: * MB to write, 0.0 MB free there; *"])
    assert "INTERNALERROR" not in result.stdout.str() and "Traceback" not in result.stdout.str()
    assert list((storage / journal.FOLDER).iterdir()) == []  # no 0-byte journal left to confuse a resume
    (full_disk / "filler").unlink()
    result = bench_dir.runpytest_subprocess(*RUN[:-1], "--libs=onnxruntime", f"--benchmark-storage=file://{storage}")
    assert result.ret == pytest.ExitCode.OK  # the next run works
    [done] = journals_in(storage)
    assert done.finished


def journals_in(storage: Path) -> list[journal.Journal]:
    return [journal.read(p) for p in sorted((storage / journal.FOLDER).glob("*.jsonl"))]
