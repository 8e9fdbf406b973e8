"""A report over 2,000 records: how long the whole page takes (tables, plots, HTML) and its size.

The records are made from a real one (tests/golden/record_v2.json): 2 runs (two versions of each
library) × 10 models × 5 libraries × fp32/int8 × 1/2 threads × 5 repeats, 50 seeded log-normal
samples each. Rendered three times; the figures are the median and range of wall and CPU time
(CPU time says more on a shared machine), never asserted.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_mobiledl.record import from_dict
from pytest_mobiledl.report import cli, contents
from pytest_mobiledl.report.inputs import Run

pytestmark = pytest.mark.perf

REAL = json.loads((Path(__file__).parents[1] / "golden" / "record_v2.json").read_text())
LIBS = ["onnxruntime", "tflite", "ncnn", "mnn", "pytorch"]


def synthetic_runs() -> list[Run]:
    rng = random.Random(10)
    runs = []
    for version in ("1.0", "1.1"):
        records = []
        for m in range(10):
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


def test_report_over_2000_records(tmp_path: Path, figure: Callable[[str], None]) -> None:
    runs = synthetic_runs()
    assert sum(len(r.records) for r in runs) == 2000
    page = tmp_path / "report.html"
    wall, cpu, stages = [], [], []
    for _ in range(3):
        start, start_cpu = time.perf_counter(), time.process_time()
        df = cli.select(runs, [], [], [])
        made = time.process_time()
        sections = contents.build(runs, df)
        tabled = time.process_time()
        cli.write_html(page, runs, df, sections)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        stages.append((made - start_cpu, tabled - made, time.process_time() - tabled))
    load = os.getloadavg()[0]
    middle = stages[sorted(range(3), key=lambda k: cpu[k])[1]]
    figure(f"report over 2,000 records (400 cases, 2 runs): wall {statistics.median(wall):.1f} s "
           f"(range {min(wall):.1f}–{max(wall):.1f} over 3), CPU {statistics.median(cpu):.1f} s "
           f"(range {min(cpu):.1f}–{max(cpu):.1f}; cases {middle[0]:.1f}, tables {middle[1]:.1f}, plots and "
           f"HTML {middle[2]:.1f}), load average {load:.1f} on {os.cpu_count()} CPUs; "
           f"HTML {page.stat().st_size / 1024:.0f} KiB")
