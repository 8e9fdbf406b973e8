"""Fragmentation and gap tables on records of known latencies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pytest_mobiledl import report
from pytest_mobiledl.record import RunRecord, from_dict

GOLDEN = json.loads((Path(__file__).parent / "golden" / "record_v1.json").read_text())


def rec(lib: str, median: float, model: str = "m1", device: str = "host", threads: int = 1, **kw: Any) -> RunRecord:
    return from_dict(GOLDEN | {"lib": lib, "model": model, "threads": threads, "samples_ms": [median] * 5,
                               "device": {"serial": device}} | kw)


RECORDS = [
    rec("onnxruntime", 10.0), rec("onnxruntime", 6.0, threads=2), rec("tflite", 8.0), rec("ncnn", 20.0),
    rec("onnxruntime", 5.0, model="m2"), rec("tflite", 4.0, model="m2"),
    rec("tflite", 3.0, device="phone1"),
]


def test_fragmentation_names_each_places_winner_at_its_best_threads() -> None:
    table = report.fragmentation(report.frame(RECORDS)).to_dict("records")
    by_place = {(r["model"], r["device"]): r for r in table}
    assert by_place["m1", "host"]["fastest"] == "onnxruntime (t2)" and by_place["m1", "host"]["median ms"] == "6.00"
    assert by_place["m1", "host"]["runner-up"] == "tflite (t1)" and by_place["m1", "host"]["libs"] == 3
    assert by_place["m2", "host"]["fastest"] == "tflite (t1)"
    assert by_place["m1", "phone1"]["runner-up"] == "—"


def test_gap_is_slowest_over_fastest_best_median() -> None:
    gaps = {(r["model"], r["device"]): r for r in report.gap(report.frame(RECORDS)).to_dict("records")}
    assert gaps["m1", "host"]["gap ×"] == round(20.0 / 6.0, 2) and gaps["m1", "host"]["slowest"] == "ncnn"
    assert gaps["m2", "host"]["gap ×"] == 1.25
    assert ("m1", "phone1") not in gaps  # one library there: no gap to speak of


def test_summary_only_numbers_are_marked_as_means() -> None:
    mean_only = from_dict(GOLDEN | {"lib": "mnn", "samples_ms": None, "flags": ["mean_only"],
                                    "summary_ms": {"mean": 2.0}, "device": {"serial": "host"}, "model": "m1"})
    table = report.fragmentation(report.frame([*RECORDS, mean_only]))
    assert table.iloc[0]["median ms"] == "2.00 (mean)"


def test_render_with_one_library_explains_instead_of_tabling() -> None:
    [(_, text)] = report.render([rec("tflite", 1.0), rec("tflite", 2.0, model="m2")])
    assert "only one library measured (tflite)" in text
    assert report.render([]) == []


def test_parity_failures_are_not_ranked_and_are_named() -> None:
    bad = {"passed": False, "precision": "fp32", "tolerance": 1e-4, "max_abs_err": 0.5, "max_rel_err": 0.031,
           "cosine": 0.9}
    records = [*RECORDS, rec("mnn", 0.5, parity=bad)]
    table = {(r["model"], r["device"]): r for r in report.fragmentation(report.frame(records)).to_dict("records")}
    assert table["m1", "host"]["fastest"] == "onnxruntime (t2)"  # mnn's 0.5 ms is of another model
    assert table["m1", "host"]["parity"] == "failed: mnn (3.1e-02)"
    assert table["m2", "host"]["parity"] == "ok"
    gaps = {(r["model"], r["device"]): r for r in report.gap(report.frame(records)).to_dict("records")}
    assert gaps["m1", "host"]["fastest"] == "onnxruntime"
