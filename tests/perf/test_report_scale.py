"""A report over 2,000 records: how long the whole page takes (tables, plots, HTML) and its size.

The records are made from a real one (tests/golden/record_v2.json): 2 runs (two versions of each
library) × 10 models × 5 libraries × fp32/int8 × 1/2 threads × 5 repeats, 50 seeded log-normal
samples each. Rendered three times; the figure is the median and the range, never asserted.
"""

from __future__ import annotations

import json
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_mobiledl.record import from_dict
from pytest_mobiledl.report import cli
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
    seconds = []
    for _ in range(3):
        start = time.perf_counter()
        cli.write_html(page, runs, cli.select(runs, [], [], []))
        seconds.append(time.perf_counter() - start)
    figure(f"report over 2,000 records (400 cases, 2 runs): render {statistics.median(seconds):.2f} s "
           f"(range {min(seconds):.2f}–{max(seconds):.2f} s over 3), HTML {page.stat().st_size / 1024:.0f} KiB")
