"""Per-item overhead: an item's wall time minus the time spent in its timed runs.

What a user pays per item beyond the measurement itself: starting a fresh runner process,
importing the library, loading the model, warm-up, and the plugin's bookkeeping.
"""

from __future__ import annotations

import json
import statistics
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = pytest.mark.perf


def test_per_item_overhead_on_host(bench_dir: pytest.Pytester, figure: Callable[[str], None]) -> None:
    args = ["-p", "no:cacheprovider", "--libs=onnxruntime,tflite", "--models=mobilenet_v2", "--threads=1,2",
            "--warmup=10", "--iterations=50"]
    bench_dir.runpytest_subprocess(*args).assert_outcomes(passed=4)  # converts once, if not cached
    result = bench_dir.runpytest_subprocess(*args, "--junitxml=junit.xml", "--benchmark-json=bench.json")
    result.assert_outcomes(passed=4)
    wall = {f"{c.get('classname')}.{c.get('name')}": float(c.get("time", 0))
            for c in ET.parse(bench_dir.path / "junit.xml").getroot().iter("testcase")}
    timed = {b["name"]: sum(b["stats"]["data"]) for b in json.loads(Path(bench_dir.path / "bench.json").read_text())
             ["benchmarks"]}
    overheads = {name: wall[f"test_bench.{name}"] - seconds for name, seconds in timed.items()}
    for name, overhead in sorted(overheads.items()):
        figure(f"{name}: item {wall['test_bench.' + name]:.2f} s, timed runs {timed[name]:.2f} s, "
               f"overhead {overhead:.2f} s")
    figure(f"median per-item overhead on host: {statistics.median(overheads.values()):.2f} s")
    assert all(0 < o < 10 for o in overheads.values())
