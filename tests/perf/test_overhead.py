"""Per-item overhead: what an item costs beyond its timed runs, on the host and an emulated device.

What a user pays per item beyond the measurement itself: starting runner processes, loading the
model, warm-up, pushes and state reads on a device, and the plugin's bookkeeping. Items run in
lockstep blocks (the first item of a block runs all of its cases, the others collect theirs), so
the figure is per device: the items' wall time summed (junit) less their timed runs summed
(pytest-benchmark's samples), over the number of items. One session holds both devices, so machine
load hits both alike; the ratio says what a device adds to the host's overhead.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from pytest_mobiledl.emulator import Farm

if TYPE_CHECKING:
    from tests.perf.conftest import Perf

pytestmark = pytest.mark.perf


def per_item(bench_dir: pytest.Pytester) -> dict[str, tuple[int, float, float]]:
    """Device → (items, overhead per item in s, timed runs per item in s) of the session just run.

    Items are junit's test cases (one per repeat); pytest-benchmark pools a case's repeats, and
    its saved samples are every timed run of them."""
    sums: dict[str, list[float]] = {}
    for case in ET.parse(bench_dir.path / "junit.xml").getroot().iter("testcase"):
        entry = sums.setdefault(case.get("name", "").partition("[")[2].partition("-")[0], [0, 0.0, 0.0])
        entry[0] += 1
        entry[1] += float(case.get("time", 0))
    for bench in json.loads((bench_dir.path / "bench.json").read_text())["benchmarks"]:
        sums[bench["params"]["device"]][2] += sum(bench["stats"]["data"])
    return {device: (int(n), (w - t) / n, t / n) for device, (n, w, t) in sums.items()}


def test_per_item_overhead_host_and_emulated_device(bench_dir: pytest.Pytester, adb_farm: Farm, perf: Perf,
                                                    figure: Callable[[str], None]) -> None:
    serial = adb_farm.serials[0]
    # Full: the defaults (5 repeats), where a session's one-time costs (fork servers, facts) spread
    # over 20 items a device as they do in a user's session; quick: 1 repeat, where they do not.
    model, repeats = perf.pick(quick=("tiny_cnn", 1), full=("mobilenet_v2", 5))
    args = ["-p", "no:cacheprovider", "--libs=onnxruntime,tflite", f"--models={model}", "--threads=1,2",
            f"--devices=host,{serial}", f"--adb-server={adb_farm.server}", "--warmup=10", "--iterations=50",
            f"--repeats={repeats}"]
    # Converts and pushes once, at 1 repeat (the last --repeats wins).
    bench_dir.runpytest_subprocess(*args, "--repeats=1").assert_outcomes(passed=8)
    bench_dir.runpytest_subprocess(*args, "--junitxml=junit.xml", "--benchmark-json=bench.json",
                                   "--benchmark-save-data").assert_outcomes(passed=8 * repeats)
    got = per_item(bench_dir)
    (hn, host, host_timed), (dn, device, device_timed) = got["host"], got[serial]
    figure(f"per-item overhead, {model}, 2 libraries × 2 thread counts × {repeats} repeat(s), 10 warm-up + 50 runs: "
           f"host {host:.2f} s "
           f"per item (timed runs {host_timed:.2f} s; n={hn}), emulated device {device:.2f} s (timed runs "
           f"{device_timed:.2f} s; n={dn}); device/host {device / host:.2f}")
    assert 0 < host < 10 and 0 < device < 10, "an overhead outside (0, 10) s per item is a broken figure"
