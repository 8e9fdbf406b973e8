"""Time to resume a session SIGKILLed at 60 % of its items, against a full run.

Full runs and kill-then-resume pairs are interleaved, so machine load hits both alike; the
figure is the ratio resume / full per pair, with its spread. Ideal: 0.4 (the 40 % left), plus
one session start. The items are alike: tiny_cnn on both libraries at 1 thread, the session's
size made by ``--repeats`` (100 items: 50 repeats; thread counts above the host's cores would
be skips). A repeat's two libraries run as one lockstep block, and 60 % falls between blocks.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from pytest_mobiledl import journal

if TYPE_CHECKING:
    from tests.perf.conftest import Perf

pytestmark = pytest.mark.perf

KILLER = '''
import os, signal
finished = 0

def pytest_runtest_logfinish(nodeid, location):
    global finished
    finished += 1
    if finished == int(os.environ.get("KILL_AFTER", "0")):
        os.kill(os.getpid(), signal.SIGKILL)
'''


def test_resume_after_a_kill_at_60_of_100(bench_dir: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, perf: Perf,
                                          figure: Callable[[str], None]) -> None:
    items, pairs = perf.pick(quick=(10, 1), full=(100, 2))
    kill = items * 6 // 10
    args = ["-p", "no:cacheprovider", "--libs=onnxruntime,tflite", "--threads=1", "--warmup=0", "--iterations=3",
            f"--repeats={items // 2}"]
    bench_dir.makeconftest(KILLER)
    bench_dir.runpytest_subprocess(*args, "--co", "-q").stdout.fnmatch_lines([f"{items} tests collected*"])
    bench_dir.runpytest_subprocess(*args[:-1], "--repeats=1").assert_outcomes(passed=2)  # converts, outside the pairs
    ratios, fulls, resumes = [], [], []
    for _ in range(pairs):
        started = time.perf_counter()
        bench_dir.runpytest_subprocess(*args).assert_outcomes(passed=items)
        fulls.append(time.perf_counter() - started)

        monkeypatch.setenv("KILL_AFTER", str(kill))
        bench_dir.runpytest_subprocess(*args)
        monkeypatch.delenv("KILL_AFTER")
        started = time.perf_counter()
        resumed = bench_dir.runpytest_subprocess(*args, "--mobiledl-resume", "--benchmark-json=out.json")
        resumes.append(time.perf_counter() - started)
        resumed.assert_outcomes(passed=items - kill)
        resumed.stdout.fnmatch_lines([f"resumed: kept {kill} of {items} items*"])
        saved = json.loads((bench_dir.path / "out.json").read_text())["benchmarks"]
        assert sorted(len(b["extra_info"]["repeats"]) for b in saved) == [items // 2] * 2  # kept and resumed, pooled
        ratios.append(resumes[-1] / fulls[-1])
    finished = [journal.read(p) for p in (bench_dir.path / ".benchmarks" / journal.FOLDER).glob("*.jsonl")]
    assert all(j.finished for j in finished)
    figure(f"resume after SIGKILL at item {kill} of {items}: {statistics.median(resumes):.1f} s vs full run "
           f"{statistics.median(fulls):.1f} s; ratio per pair {', '.join(f'{r:.2f}' for r in ratios)} "
           f"(median {statistics.median(ratios):.2f}, n={pairs}; ideal 0.40 + one session start)")
    # Resuming re-runs only what was left: the outcomes above prove it. At quick sizes the session
    # start outweighs the items (CI: 2.1 s against 2.0 s), so the bound only catches a broken figure.
    assert statistics.median(ratios) < 2, "resuming cost twice as much as running everything again"
