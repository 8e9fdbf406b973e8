"""Fidelity: does the runner report what the library really does?

The runner (a fresh ``python -m pytest_mobiledl.runner``, timing inside) and a bare loop over the
same library API and model file (``bare_loop.py``, a fresh process too) run as one lockstep block
(``runner/lockstep.py``'s coordinator): alive together, their timed runs taking turns of a few runs
each, so both see the same phase of the machine (whole runs taken one after the other saw
different phases: their ratios ranged 0.50–1.56). Per round, the runner's median over its turn ÷
the bare loop's. Turns of one block agree closely, blocks less (a process has effects of its own:
one block's every turn said 1.07, the next block's 0.99), so the figure is the paired estimate
(``stats.compare_paired``) over blocks, each block's turns pooled on the log scale, with its 95 %
CI; the estimate over every turn is given beside it (its CI leaves the blocks' own spread out).
The runner takes slot 0 in even blocks, slot 1 in odd ones (who prepares first, who turns first).
Target: 0.98–1.02.
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_mobiledl import stats, zoo
from pytest_mobiledl.record import from_json
from pytest_mobiledl.runner import lockstep

if TYPE_CHECKING:
    from tests.perf.conftest import Perf

pytestmark = pytest.mark.perf
WARMUP = 10
BARE = Path(__file__).with_name("bare_loop.py")


def block(lib: str, model: str, path: Path, iterations: int, first: bool) -> list[tuple[float, float]]:
    """One block, the runner in slot 0 if ``first`` (else 1): (runner, bare) medians per round."""
    coordinator = lockstep.Coordinator(2, timeout=300)
    runner = [sys.executable, "-m", "pytest_mobiledl.runner", "--lib", lib, "--model", str(path), "--model-id", model,
              "--threads", "1", "--warmup", str(WARMUP), "--iterations", str(iterations)]
    bare = [sys.executable, str(BARE), lib, str(path), "1", str(WARMUP)]
    argvs = [runner, bare] if first else [bare, runner]
    procs = [subprocess.Popen(lockstep.lockstep_argv(argv, coordinator.path, slot), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for slot, argv in enumerate(argvs)]
    try:
        coordinator.serve(iterations, 0.0, lambda slot: procs[slot].poll() is not None)
    finally:
        coordinator.close()
    outputs = [proc.communicate(timeout=300) for proc in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-2000:]
    ran, bare_out = (outputs[0][0], outputs[1][0]) if first else (outputs[1][0], outputs[0][0])
    runs = from_json(ran).samples_ms or ()
    bare_runs: list[float] = json.loads(bare_out)
    step = lockstep.burst(iterations)
    assert len(runs) == len(bare_runs) and len(runs) % step == 0, (len(runs), len(bare_runs), step)
    return [(statistics.median(runs[k : k + step]), statistics.median(bare_runs[k : k + step]))
            for k in range(0, len(runs), step)]


@pytest.mark.parametrize("lib", ["onnxruntime", "tflite"])
def test_runner_median_matches_a_bare_loop(lib: str, model_cache: Path, perf: Perf,
                                           figure: Callable[[str], None]) -> None:
    model, iterations, blocks = perf.pick(quick=("tiny_cnn", 100, 1), full=("mobilenet_v2", 200, 8))
    path = zoo.artifact(model, lib, "fp32", model_cache).path
    rounds = [block(lib, model, path, iterations, first=k % 2 == 0) for k in range(blocks)]
    turns = [pair for one in rounds for pair in one]
    by_turn = stats.compare_paired([bare for _, bare in turns], [ran for ran, _ in turns])
    by_block = stats.compare_paired([geomean([b for _, b in one]) for one in rounds],
                                    [geomean([r for r, _ in one]) for one in rounds])
    per_block = ", ".join(f"{geomean([r / b for r, b in one]):.3f}" for one in rounds)
    figure(f"fidelity {lib} {model} t1, {blocks} lockstep block(s) × {len(rounds[0])} turns of "
           f"{lockstep.burst(iterations)} runs: runner/bare {by_block.ratio:.3f} (95 % CI {interval(by_block)} over "
           f"blocks; {interval(by_turn)} over {len(turns)} turns; per block {per_block})")
    low, high = perf.pick(quick=(2 / 3, 1.5), full=(0.8, 1.25))  # quick: one block of a 0.05 ms model
    assert low < by_block.ratio < high, "the runner's numbers drifted from what the library does"


def geomean(values: list[float]) -> float:
    return math.exp(statistics.fmean(math.log(v) for v in values))


def interval(change: stats.Change) -> str:
    return "n/a" if change.low is None or change.high is None else f"{change.low:.3f}–{change.high:.3f}"
