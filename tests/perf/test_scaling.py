"""Scaling: one worker per phone should divide wall time by the number of phones.

4 emulated devices, runs of a fixed 100 ms each (a test-only delay over tiny_cnn's ~0.05 ms, so
host CPU contention between devices that share this machine's 2 cores barely matters). Wall time
of the same matrix with ``-n 4`` over ``-n 0``, measured in one run. Target ≤ 0.35; the assertion
only guards against losing parallelism (a run on one worker would be ≈ 1), since the figure moves
with whatever else shares the machine.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from pytest_mobiledl.emulator import Farm

pytestmark = pytest.mark.perf


def test_four_devices_four_workers(bench_dir: pytest.Pytester, make_adb_farm: Callable[..., Farm],
                                   figure: Callable[[str], None]) -> None:
    farm = make_adb_farm(devices=4)
    args = ["-p", "no:cacheprovider", "--libs=onnxruntime,tflite", "--threads=1,2", "--warmup=1",
            "--iterations=30", "--mobiledl-delay-ms=100", f"--devices={','.join(farm.serials)}",
            f"--adb-server={farm.server}"]
    bench_dir.runpytest_subprocess(*args, "--iterations=1").assert_outcomes(passed=16)  # push everything once

    def wall(*extra: str) -> float:
        t0 = time.perf_counter()
        bench_dir.runpytest_subprocess(*args, *extra).assert_outcomes(passed=16)
        return time.perf_counter() - t0

    serial, parallel = wall("-n", "0"), wall("-n", "4")
    ratio = parallel / serial
    figure(f"scaling, 4 emulated devices × 4 items × 30 runs of 100 ms: -n 0 {serial:.1f} s, -n 4 {parallel:.1f} s, "
          f"ratio {ratio:.2f} (target ≤ 0.35)")
    assert ratio < 0.6
