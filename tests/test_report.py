"""Fragmentation, gap and changes tables on records of known latencies, checked by hand."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from pytest_mobiledl import report
from pytest_mobiledl.record import RunRecord, from_dict
from pytest_mobiledl.report import cells

GOLDEN = json.loads((Path(__file__).parent / "golden" / "record_v1.json").read_text())


def rec(lib: str, medians: list[float], model: str = "m1", device: str = "host", threads: int = 1,
        **kw: Any) -> list[RunRecord]:
    """One record per repeat, each of whose samples all equal that repeat's median."""
    return [from_dict(GOLDEN | {"lib": lib, "model": model, "threads": threads, "samples_ms": [m] * 5,
                                "device": {"serial": device}} | kw).with_(repeat=k)
            for k, m in enumerate(medians, 1)]


RECORDS = [
    *rec("onnxruntime", [9.8, 10.0, 10.2]), *rec("onnxruntime", [4.0, 5.0, 6.25], threads=2),
    *rec("tflite", [7.9, 8.0, 8.1]), *rec("ncnn", [19.0, 20.0, 21.0]),
    *rec("onnxruntime", [5.0, 5.1, 4.9], model="m2"), *rec("tflite", [3.9, 4.0, 4.1], model="m2"),
    *rec("tflite", [3.0, 3.1, 2.9], device="phone1"),
]


def by_place(df: Any) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["model"], r["device"]): r for r in df.to_dict("records")}


def test_the_typical_latency_and_its_ci_are_as_computed_by_hand() -> None:
    # logs of 4, 5, 6.25 are evenly spaced by ln 1.25: geometric mean 5, t(2 df) = 4.3027.
    half = 4.302653 * math.log(1.25) / math.sqrt(3)
    est = report.frame(RECORDS).set_index(["model", "device", "lib", "threads"]).loc[
        ("m1", "host", "onnxruntime", 2), "estimate"]
    assert est.value == pytest.approx(5.0)
    assert (est.low, est.high) == pytest.approx((5 * math.exp(-half), 5 * math.exp(half)))
    assert cells.estimate(est) == "5 [2.87, 8.7]"


def test_a_winner_is_named_only_where_the_data_tell_it_from_the_rest() -> None:
    table = by_place(report.fragmentation(report.frame(RECORDS)))
    # onnxruntime t2 (5 ms) is fastest but so spread that tflite (8 ms) cannot be told from it.
    assert table["m1", "host"]["fastest"] == "tie: onnxruntime (t2) ≈ tflite (t1)"
    assert table["m1", "host"]["next"] == "ncnn (t1)" and table["m1", "host"]["libs"] == 3
    assert table["m2", "host"]["fastest"] == "tflite (t1)"
    assert table["m2", "host"]["typical ms [95% CI]"].startswith("4 [3.")
    assert table["m2", "host"]["next"] == "onnxruntime (t1)"
    assert table["m1", "phone1"]["next"] == "—"


def test_gap_is_slowest_over_fastest_with_its_ci() -> None:
    gaps = by_place(report.gap(report.frame(RECORDS)))
    assert (gaps["m1", "host"]["fastest"], gaps["m1", "host"]["slowest"]) == ("onnxruntime (t2)", "ncnn (t1)")
    assert gaps["m1", "host"]["gap × [95% CI]"].startswith(f"{20 / 5:.2f} [")
    assert gaps["m2", "host"]["gap × [95% CI]"].startswith("1.25 [1.")
    assert ("m1", "phone1") not in gaps  # one library there: no gap to speak of


def test_summary_only_numbers_are_marked_as_means() -> None:
    mean_only = [from_dict(GOLDEN | {"lib": "mnn", "samples_ms": None, "flags": ["mean_only"],
                                     "summary_ms": {"mean": m}, "device": {"serial": "host"}, "model": "m1"}
                           ).with_(repeat=k)
                 for k, m in enumerate([1.0, 1.01, 0.99], 1)]
    table = by_place(report.fragmentation(report.frame([*RECORDS, *mean_only])))
    assert table["m1", "host"]["fastest"] == "mnn (t1)"
    assert table["m1", "host"]["typical ms [95% CI]"].endswith("(mean)")


def test_render_with_one_library_explains_instead_of_tabling() -> None:
    from pytest_mobiledl.report import contents

    [table] = contents.session([*rec("tflite", [1.0]), *rec("tflite", [2.0], model="m2")])
    assert "only one library measured (tflite)" in table.note and table.frame.empty
    assert contents.session([]) == []


def test_parity_failures_are_not_ranked_and_are_named() -> None:
    bad = {"passed": False, "precision": "fp32", "tolerance": 1e-4, "max_abs_err": 0.5, "max_rel_err": 0.031,
           "cosine": 0.9}
    records = [*RECORDS, *rec("mnn", [0.5, 0.5, 0.5], parity=bad)]
    table = by_place(report.fragmentation(report.frame(records)))
    assert not table["m1", "host"]["fastest"].startswith("mnn")  # mnn's 0.5 ms is of another model
    assert table["m1", "host"]["parity"] == "failed: mnn (3.1e-02)"
    assert table["m2", "host"]["parity"] == "ok"
    assert by_place(report.gap(report.frame(records)))["m1", "host"]["fastest"] == "onnxruntime (t2)"


def test_changes_name_both_versions_the_change_with_its_ci_and_the_verdict() -> None:
    base = {"b.py::t[a]": rec("tflite", [10.0, 10.2, 9.8]), "b.py::t[b]": rec("ncnn", [5.0, 5.1, 4.9]),
            "b.py::t[c]": rec("mnn", [3.0])}
    now = {"b.py::t[a]": rec("tflite", [12.0, 12.2, 11.8], lib_version="2.0"),
           "b.py::t[b]": rec("ncnn", [5.0, 4.9, 5.1]), "b.py::t[c]": rec("mnn", [3.0, 3.1]),
           "b.py::t[new]": rec("mnn", [1.0, 1.0])}
    table, found, _ = report.changes(now, base)
    rows = {r["item"]: r for r in table.to_dict("records")}
    assert set(rows) == {"t[a]", "t[b]", "t[c]"}  # an item without a baseline has nothing to compare
    assert rows["t[a]"]["baseline"].startswith("1.32.0 10 [") and rows["t[a]"]["current"].startswith("2.0 12 [")
    assert rows["t[a]"]["change % [95% CI]"].startswith("+20.0 [+") and rows["t[a]"]["verdict"] == "slower"
    assert rows["t[b]"]["verdict"] == "no change"
    assert rows["t[c]"]["verdict"] == "cannot tell (n/a)" and rows["t[c]"]["change % [95% CI]"].endswith("[n/a]")
    assert rows["t[a]"]["artifact"] == "same"
    assert {c.item: c for c in found}["b.py::t[a]"].change.ratio == pytest.approx(1.2, rel=1e-3)


def test_the_machines_drift_is_measured_on_unchanged_items_and_taken_out() -> None:
    # A busier machine slows every item ×1.5; one library's item regressed by 20 % on top of it.
    libs = ["onnxruntime", "tflite", "ncnn", "pytorch"]
    base = {f"b.py::t[{lib}]": rec(lib, [10.0, 10.1, 9.9]) for lib in [*libs, "mnn"]}
    now = {f"b.py::t[{lib}]": rec(lib, [15.0, 15.15, 14.85]) for lib in libs}
    now["b.py::t[mnn]"] = rec("mnn", [18.0, 18.18, 17.82])
    moved = report.drift(now, base)
    assert moved is not None and moved[0] == pytest.approx(1.5) and moved[1] == 5
    table, found, note = report.changes(now, base)
    verdicts = {r["item"]: r["verdict"] for r in table.to_dict("records")}
    assert verdicts == {"t[onnxruntime]": "no change", "t[tflite]": "no change", "t[ncnn]": "no change",
                        "t[pytorch]": "no change", "t[mnn]": "slower"}
    assert {c.item: c for c in found}["b.py::t[mnn]"].change.ratio == pytest.approx(1.2)
    assert "moved ×1.500" in note and {c.how for c in found} == {"session drift ×1.500"}


def test_items_whose_build_changed_are_not_controls() -> None:
    base = {f"b.py::t[{k}]": rec("tflite", [10.0, 10.1]) for k in range(4)}
    now = {f"b.py::t[{k}]": rec("tflite", [12.0, 12.1], lib_version="9.9") for k in range(4)}
    assert report.drift(now, base) is None  # an upgrade moves its items: nothing left to measure drift on


def test_a_slowdown_injected_on_one_side_is_no_control() -> None:
    # The same build with --mobiledl-delay-ms on 4 of 8 items: were they controls, the median
    # ratio would sit between 1.0 and 1.1 and take part of their slowdown away.
    base = {f"b.py::t[{k}]": rec("tflite", [10.0, 10.3, 9.7]) for k in range(8)}
    now = {f"b.py::t[{k}]": rec("tflite", [10.0, 10.3, 9.7]) for k in range(4)}
    now |= {f"b.py::t[{k}]": rec("tflite", [11.0, 11.33, 10.67], flags=["injected_delay"]) for k in range(4, 8)}
    assert report.drift(now, base) == (pytest.approx(1.0), 4)


def test_warnings_name_too_few_repeats_a_loaded_machine_and_devices_sharing_its_cores() -> None:
    import os
    import platform

    from pytest_mobiledl.results import warnings

    cores = os.cpu_count() or 1
    loaded = {"b.py::t[a]": rec("tflite", [10.0, 10.1, 14.0], load_avg_1m=cores + 1.6),
              "b.py::t[b]": rec("ncnn", [5.0, 5.1])}
    emulated = {"abilist": platform.machine(), "adb_server": "127.0.0.1:5037"}
    lines = warnings(loaded, {"host": {}, "emulator-1": emulated, "R58M": {"abilist": "arm64-v8a"}})
    assert lines[0].startswith("mobiledl: 1 items have 2 repeat(s): below 3 a CI is n/a")
    assert f"load average up to {cores + 1.6:.1f} on {cores} cores (100% of host runs began above {cores})" in lines[1]
    assert "33% of repeats ran ≥ 20% slower" in lines[1]
    assert lines[2].startswith("mobiledl: host, emulator-1 run on this machine's cores")
    assert warnings({"b.py::t[a]": rec("tflite", [10.0, 10.1, 10.2], load_avg_1m=0.1)}, {"host": {}}) == []


def test_cells_write_a_change_its_ci_and_a_tie_the_same_way_everywhere() -> None:
    from pytest_mobiledl.stats import Change

    change = Change(1.042, 1.01, 1.08, None)
    assert cells.pct(change) == "+4.2 [+1.0, +8.0]" and cells.ratio(change) == "1.04 [1.01, 1.08]"
    assert cells.signed_pct(None) == "n/a" and cells.pct(Change(1.042, None, None, None)) == "+4.2 [n/a]"
    rows = [Row("onnxruntime", 2), Row("tflite", 1)]
    assert cells.fastest(rows[:1]) == "onnxruntime (t2)"
    assert cells.fastest(rows) == "tie: onnxruntime (t2) ≈ tflite (t1)"


class Row(NamedTuple):
    lib: str
    threads: int


def test_no_module_uses_another_modules_underscore_names() -> None:
    import ast

    package = Path(report.__file__).parents[1]
    found = []
    for path in package.rglob("*.py"):
        modules: set[str] = set()
        for node in ast.walk(tree := ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pytest_mobiledl"):
                found += [f"{path.name}: from {node.module} import {a.name}" for a in node.names if _private(a.name)]
                modules |= {a.asname or a.name for a in node.names}
        found += [f"{path.name}: {n.value.id}.{n.attr}" for n in ast.walk(tree) if isinstance(n, ast.Attribute)
                  and isinstance(n.value, ast.Name) and n.value.id in modules and _private(n.attr)]
    assert found == []


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")
