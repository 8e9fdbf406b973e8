"""A report over many records: how long the whole page takes (tables, plots, HTML), its size, and
how its cost grows with the records.

The records are made from a real one (tests/golden/record_v2.json): 2 runs (two versions of each
library) × M models × 5 libraries × fp32/int8 × 1/2 threads × 5 repeats, 50 seeded log-normal
samples each: 200 records per model. The page is made for M and for M/2 models, in alternation
(full: 2,000 and 1,000 records, 3 times each; quick: 400 and 200, twice); the figures are the
median wall and CPU time (CPU time says more on a shared machine), and the ratio of CPU times,
which a linear report keeps at or below 2: only a ratio far above it (quadratic) fails.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_mobiledl.record import from_dict
from pytest_mobiledl.report import cli, contents
from pytest_mobiledl.report.inputs import Run

if TYPE_CHECKING:
    from tests.perf.conftest import Perf

pytestmark = pytest.mark.perf

REAL = json.loads((Path(__file__).parents[1] / "golden" / "record_v2.json").read_text())
LIBS = ["onnxruntime", "tflite", "ncnn", "mnn", "pytorch"]


def synthetic_runs(models: int) -> list[Run]:
    rng = random.Random(10)
    runs = []
    for version in ("1.0", "1.1"):
        records = []
        for m in range(models):
            for k, lib in enumerate(LIBS):
                for precision in ("fp32", "int8"):
                    for threads in (1, 2):
                        typical = (1 + m) * (1 + 0.2 * k) * (0.6 if precision == "int8" else 1) / threads ** 0.5
                        for repeat in range(1, 6):
                            scale = typical * rng.lognormvariate(0, 0.05)
                            samples = [scale * rng.lognormvariate(0, 0.1) for _ in range(50)]
                            records.append(from_dict(REAL | {
                                "lib": lib, "lib_version": version, "model": f"model_{m}", "precision": precision,
                                "threads": threads, "repeat": repeat, "samples_ms": samples, "count": 50,
                                "iterations": 50, "artifact_sha256": f"{m}{lib}{precision}",
                                "first_inference_ms": scale * 3, "peak_rss_mb": 50 + 10 * k}))
        runs.append(Run(version, Path(f"{version}.json"), tuple(records)))
    return runs


def render(runs: list[Run], page: Path) -> tuple[float, float, tuple[float, float, float]]:
    """Wall and CPU seconds of one page, and CPU per stage (cases, tables, plots and HTML)."""
    start, start_cpu = time.perf_counter(), time.process_time()
    df = cli.select(runs, [], [], [])
    made = time.process_time()
    sections = contents.build(runs, df)
    tabled = time.process_time()
    cli.write_html(page, runs, df, sections)
    end_cpu = time.process_time()
    return time.perf_counter() - start, end_cpu - start_cpu, (made - start_cpu, tabled - made, end_cpu - tabled)


def test_report_over_many_records(tmp_path: Path, perf: Perf, figure: Callable[[str], None]) -> None:
    models, times = perf.pick(quick=(2, 2), full=(10, 3))
    sizes = {"big": synthetic_runs(models), "half": synthetic_runs(models // 2)}
    records = sum(len(r.records) for r in sizes["big"])
    assert records == 200 * models
    page = tmp_path / "report.html"
    wall: dict[str, list[float]] = {"big": [], "half": []}
    cpu: dict[str, list[float]] = {"big": [], "half": []}
    stages = []
    for k in range(times):
        for size in ("big", "half") if k % 2 == 0 else ("half", "big"):
            took, used, parts = render(sizes[size], page)
            wall[size].append(took)
            cpu[size].append(used)
            if size == "big":
                stages.append((used, parts))
    size_kib = page.stat().st_size / 1024
    middle = sorted(stages)[len(stages) // 2][1]
    growth = statistics.median(cpu["big"]) / statistics.median(cpu["half"])
    big_wall, big_cpu = wall["big"], statistics.median(cpu["big"])
    figure(f"report over {records:,} records ({records // 5} cases, 2 runs): wall {statistics.median(big_wall):.1f} s "
           f"(range {min(big_wall):.1f}–{max(big_wall):.1f} over {times}), CPU {big_cpu:.1f} s "
           f"(cases {middle[0]:.1f}, tables {middle[1]:.1f}, plots and HTML {middle[2]:.1f}); CPU at {records:,} ÷ at "
           f"{records // 2:,} records {growth:.2f}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; "
           f"HTML {size_kib:.0f} KiB")
    assert growth < 3.5, "the report's cost grows faster than its records (2 is linear, 4 quadratic)"
