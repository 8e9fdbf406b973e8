"""Scaling: one worker per phone should divide wall time by the number of phones.

4 emulated devices, runs of a fixed 100 ms each (a test-only delay over tiny_cnn's ~0.05 ms, so
host CPU contention between devices that share this machine's 2 cores barely matters during the
runs). Wall time of the same matrix with ``-n 4`` over ``-n 0``, in interleaved pairs whose order
alternates; the figure is the ratio per pair (ideal 0.25; target ≤ 0.28). Each wall time is also
split (junit's item times): the devices' blocks (``-n 0``: their sum; ``-n 4``: the longest
device's) and the rest, the session's own fixed cost (start, workers, collection, the end's
storage and tables), which a session pays once whatever its length. The assertion only guards
against losing parallelism (a run on one worker would be ≈ 1).
"""

from __future__ import annotations

import statistics
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from pytest_mobiledl.emulator import Farm

if TYPE_CHECKING:
    from tests.perf.conftest import Perf

pytestmark = pytest.mark.perf


def test_four_devices_four_workers(bench_dir: pytest.Pytester, make_adb_farm: Callable[..., Farm], perf: Perf,
                                   figure: Callable[[str], None]) -> None:
    iterations, pairs = perf.pick(quick=(5, 1), full=(30, 2))
    farm = make_adb_farm(devices=4)
    args = ["-p", "no:cacheprovider", "--libs=onnxruntime,tflite", "--threads=1,2", "--warmup=1",
            f"--iterations={iterations}", "--mobiledl-delay-ms=100", f"--devices={','.join(farm.serials)}",
            f"--adb-server={farm.server}", "--junitxml=junit.xml"]
    bench_dir.runpytest_subprocess(*args, "--iterations=1", "-n", "4").assert_outcomes(passed=16)  # push once

    def session(workers: str) -> tuple[float, float]:
        """Wall time, and the devices' blocks within it."""
        started = time.perf_counter()
        bench_dir.runpytest_subprocess(*args, "-n", workers).assert_outcomes(passed=16)
        wall = time.perf_counter() - started
        per_device: dict[str, float] = {}
        for case in ET.parse(bench_dir.path / "junit.xml").getroot().iter("testcase"):
            device = case.get("name", "").partition("[")[2].partition("-")[0]
            per_device[device] = per_device.get(device, 0.0) + float(case.get("time", 0))
        return wall, (sum if workers == "0" else max)(per_device.values())

    walls: dict[str, list[tuple[float, float]]] = {"0": [], "4": []}
    for pair in range(pairs):
        for workers in ("0", "4") if pair % 2 == 0 else ("4", "0"):
            walls[workers].append(session(workers))
    ratios = [p[0] / s[0] for s, p in zip(walls["0"], walls["4"], strict=True)]
    serial, parallel = (tuple(statistics.median(v) for v in zip(*walls[w], strict=True)) for w in ("0", "4"))
    figure(f"scaling, 4 emulated devices × 4 items × {iterations} runs of 100 ms, {pairs} pair(s): -n 0 "
           f"{serial[0]:.1f} s (blocks {serial[1]:.1f} s, the rest {serial[0] - serial[1]:.1f} s), -n 4 "
           f"{parallel[0]:.1f} s (longest device's blocks {parallel[1]:.1f} s, the rest "
           f"{parallel[0] - parallel[1]:.1f} s); -n 4 ÷ -n 0 {', '.join(f'{r:.2f}' for r in ratios)} "
           f"(target ≤ 0.28); the blocks alone {parallel[1] / serial[1]:.2f}")
    # The blocks, not the walls: at quick sizes the workers' start (fixed, ~4 s each on 2 shared
    # cores) outweighs 5 runs of 100 ms, so only the devices' own work tells parallel from serial.
    assert parallel[1] / serial[1] < 0.9, "-n 4 ran the devices' blocks as slowly as one worker: no parallelism"
