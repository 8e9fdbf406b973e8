"""Per-run overhead on the host, forked from a library's server against a freshly exec'd runner.

Overhead is one run's wall time minus its timed runs: the process start, the library's import
(exec only), load, init, first inference and warm-up. Pairs alternate which goes first, so drift
and background load hit both alike; the figure is the median of the pairs' ratios, with their range.
Quick mode leaves ExecuTorch out: its exec'd run alone is ~10 s (its import).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_mobiledl import engines, zoo
from pytest_mobiledl.devices.host import HostDevice
from pytest_mobiledl.devices.zygote import RUNNER
from pytest_mobiledl.record import from_json

if TYPE_CHECKING:
    from tests.perf.conftest import Perf

pytestmark = pytest.mark.perf

@pytest.mark.parametrize("lib", ["onnxruntime", "ncnn", "executorch"])
def test_per_run_overhead_forked_vs_execed(lib: str, model_cache: Path, perf: Perf,
                                           figure: Callable[[str], None]) -> None:
    if not engines.installed(engines.get(lib)):
        pytest.skip(f"{lib} is not installed")
    if lib == "executorch" and not perf.full:
        pytest.skip("quick: ExecuTorch's exec'd run is ~10 s (its import); MOBILEDL_PERF=full measures it")
    pairs = perf.pick(quick=3, full=5)
    artifact = zoo.artifact("tiny_cnn", lib, "fp32", model_cache)
    argv = [*RUNNER, "--lib", lib, "--model", str(artifact.path), "--model-id", "tiny_cnn"]  # 10 warm-up, 50 runs
    hosts = {"fork": HostDevice(fork=True), "exec": HostDevice(fork=False)}
    try:
        start, _, _ = _overhead(hosts["fork"], argv)  # the server's import, paid once per pytest process
        runs: dict[str, list[float]] = {"fork": [], "exec": []}
        rss: dict[str, list[float]] = {"fork": [], "exec": []}
        for i in range(pairs):
            for way in (("fork", "exec") if i % 2 == 0 else ("exec", "fork")):
                overhead, _, peak = _overhead(hosts[way], argv)
                runs[way].append(overhead)
                rss[way].append(peak)
        zygotes = hosts["fork"].zygotes
        path = "forked" if zygotes and lib in zygotes._servers else f"exec'd ({zygotes and zygotes.unsafe.get(lib)})"
    finally:
        for host in hosts.values():
            host.cleanup()
    ratios = sorted(e / f for e, f in zip(runs["exec"], runs["fork"], strict=True))
    figure(f"{lib} tiny_cnn per-run overhead, {pairs} interleaved pairs, server path {path}: "
           f"exec {_spread(runs['exec'])} s, fork {_spread(runs['fork'])} s; exec/fork median "
           f"{statistics.median(ratios):.1f}× (range {ratios[0]:.1f}–{ratios[-1]:.1f}); first run through the "
           f"server (its import) {start:.2f} s; peak RSS exec {statistics.median(rss['exec']):.0f} MB, "
           f"fork {statistics.median(rss['fork']):.0f} MB")
    assert all(o > 0 for o in runs["fork"] + runs["exec"])
    if path == "forked":
        assert statistics.median(ratios) > 1.2, "a forked run costs what an exec'd one does: the server is not used"


def _overhead(host: HostDevice, argv: list[str]) -> tuple[float, float, float]:
    t0 = time.perf_counter()
    done = host.run(argv, 600)
    wall = time.perf_counter() - t0
    assert done.returncode == 0, done.stderr
    record = from_json(done.stdout)
    return wall - sum(record.samples_ms or ()) / 1000, wall, record.peak_rss_mb or 0.0


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} [{min(values):.2f}–{max(values):.2f}]"
