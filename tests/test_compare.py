"""Paired verdicts on synthetic blocks with known answers: coverage, a known shift found, none
invented, block controls across sessions, and verdict words that never claim more than the CI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from pytest_mobiledl import compare, stats
from pytest_mobiledl.record import RunRecord, from_dict

GOLDEN = json.loads((Path(__file__).parent / "golden" / "record_v1.json").read_text())


def record(lib: str, median: float, block: str = "", repeat: int = 1, version: str = "1.0",
           model: str = "m1") -> RunRecord:
    return from_dict(GOLDEN | {"lib": lib, "lib_version": version, "model": model, "samples_ms": [median] * 5,
                               "device": {"serial": "host"}}).with_(
        repeat=repeat, block={"id": block, "mode": "lockstep", "size": 2} if block else {})


def session(rng: np.random.Generator, typical: dict[str, float], blocks: int = 5, phase_sd: float = 0.25,
            pair_sd: float = 0.014, tag: str = "") -> dict[str, list[RunRecord]]:
    """Blocks whose speed level moves by ``phase_sd`` (log) and hits every case of the block alike;
    each case adds ``pair_sd`` of its own (two cases' ratio: ~2 %, as measured on this machine)."""
    items: dict[str, list[RunRecord]] = {lib: [] for lib in typical}
    for k in range(1, blocks + 1):
        level = rng.normal(0, phase_sd)
        for lib, ms in typical.items():
            items[lib].append(record(lib, ms * math.exp(level + rng.normal(0, pair_sd)), f"b{tag}{k}", k))
    return items


def test_pairing_cancels_the_phase_of_a_block() -> None:
    rng = np.random.default_rng(1)
    items = session(rng, {"a": 10.0, "b": 10.5})
    change, how = compare.paired(items["a"], items["b"])
    unpaired = stats.compare([r.median_ms for r in items["a"]], [r.median_ms for r in items["b"]])
    assert how == "paired (5 blocks)"
    assert compare.half_width_pct(change) * 5 < compare.half_width_pct(unpaired)
    assert change.low is not None and change.high is not None and change.low < 1.05 < change.high


def test_the_paired_ci_covers_the_true_ratio_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(2)
    hits = 0
    for _ in range(1000):
        items = session(rng, {"a": 10.0, "b": 11.0})
        change, _ = compare.paired(items["a"], items["b"])
        assert change.low is not None and change.high is not None
        hits += change.low <= 1.1 <= change.high
    assert 930 <= hits <= 970


def test_a_5_percent_shift_is_found_and_none_is_invented() -> None:
    rng = np.random.default_rng(3)
    found = {f"case{k}": compare.paired(*(lambda s: (s["a"], s["b"]))(session(rng, {"a": 10.0, "b": 10.5})))[0]
             for k in range(100)}
    assert sum(v == "slower" for v in compare.verdicts(found).values()) >= 80
    same = {f"case{k}": compare.paired(*(lambda s: (s["a"], s["b"]))(session(rng, {"a": 10.0, "b": 10.0})))[0]
            for k in range(2000)}
    words = compare.verdicts(same)
    assert sum(w in ("slower", "faster") for w in words.values()) <= 20  # BH: ≤ 1 % of 2,000


def test_the_winner_is_named_from_paired_tests_and_ties_stay_ties() -> None:
    rng = np.random.default_rng(4)
    items = session(rng, {"a": 10.0, "b": 10.8, "c": 10.05})
    leaders, against = compare.fastest(items)
    assert leaders == ["a", "c"] or leaders == ["c", "a"]  # 0.5 % apart: the data cannot tell
    assert "b" not in leaders and (against["b"][0].low or 0) > 1


def test_block_controls_take_each_blocks_level_out_across_sessions() -> None:
    # Session two runs on a machine ×1.4 slower in every block, with wild phases; mnn regressed 10 %.
    rng = np.random.default_rng(5)
    libs = {"onnxruntime": 8.0, "tflite": 9.0, "ncnn": 11.0, "mnn": 7.0}
    base = session(rng, libs, tag="x")
    now = session(rng, {lib: ms * 1.4 * (1.1 if lib == "mnn" else 1.0) for lib, ms in libs.items()}, tag="y")
    now["mnn"] = [r.with_(lib_version="2.0") for r in now["mnn"]]  # the upgraded library: no control
    found, note = compare.sessions(now, base)
    by_item = {c.item: c for c in found}
    assert by_item["mnn"].how == "block controls (3 cases, 5 + 5 blocks)"
    assert by_item["tflite"].how == "block controls (2 cases, 5 + 5 blocks)"  # the other unchanged ones
    assert by_item["mnn"].verdict == "slower" and by_item["mnn"].change.ratio == pytest.approx(1.1, rel=0.03)
    assert all(by_item[lib].verdict not in ("slower", "faster") for lib in ("onnxruntime", "tflite", "ncnn"))
    assert all(compare.half_width_pct(by_item[lib].change) < 5 for lib in libs)  # the machine's ×1.4 is gone
    assert "moved ×1.4" in note or "fewer than" in note


def test_records_saved_before_blocks_fall_back_to_the_sessions_drift() -> None:
    rng = np.random.default_rng(6)
    libs = {"onnxruntime": 8.0, "tflite": 9.0, "ncnn": 11.0, "mnn": 7.0, "pytorch": 12.0}
    base = {lib: [r.with_(block={}) for r in rs] for lib, rs in session(rng, libs, phase_sd=0.01).items()}
    now = session(rng, libs, phase_sd=0.01)
    found, _ = compare.sessions(now, base)
    assert {c.how.split(" ×")[0] for c in found} == {"session drift"}
    assert not [c for c in found if c.verdict in ("slower", "faster")]


def test_verdict_words_never_claim_more_than_the_interval() -> None:
    wide = stats.Change(1.13, 0.535, 2.393, 0.6)   # +13 [-46.5, +139.3]
    tight = stats.Change(1.01, 0.98, 1.04, 0.5)
    slower = stats.Change(1.2, 1.15, 1.25, 1e-6)
    words = compare.verdicts({"wide": wide, "tight": tight, "slower": slower,
                              "one": stats.Change(1.0, None, None, None)}, margin_pct=10)
    assert words == {"wide": "cannot tell (±93 %)", "tight": "no change", "slower": "slower",
                     "one": "cannot tell (n/a)"}
    assert compare.verdicts({"tight": tight}, margin_pct=2) == {"tight": "cannot tell (±3 %)"}


def test_the_gate_says_what_it_could_not_judge_and_how_many_repeats_would() -> None:
    wide = compare.Comparison("x", "the saved run", stats.Change(1.05, 0.8, 1.38, 0.5), "cannot tell (±29 %)",
                              "paired (5 blocks)", 5)
    clear = compare.Comparison("y", "the saved run", stats.Change(1.0, 0.98, 1.02, 0.9), "no change",
                               "paired (5 blocks)", 5)
    assert compare.undecided([wide, clear], 10) == [wide]
    assert compare.repeats_needed(wide, 10) == math.ceil(5 * (29 / 5) ** 2)
    assert compare.failing([wide, clear], 10) == []
