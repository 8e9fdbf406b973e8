"""Latencies no device could achieve are refused before they are stored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_mobiledl import plausibility
from pytest_mobiledl.record import from_dict

GOLDEN = json.loads((Path(__file__).parent / "golden" / "record_v1.json").read_text())
RESNET50_MACS = 4_110_000_000


def test_the_published_resnet50_at_0_002_ms_is_implausible() -> None:
    record = from_dict(GOLDEN | {"model": "resnet50", "samples_ms": [0.002] * 5})
    reason = plausibility.check(record, RESNET50_MACS)
    assert reason is not None
    assert reason.startswith("implausible: a run of 0.002 ms for resnet50 (4.11 GMACs) is faster than 100 TOPS allows")
    assert plausibility.floor_ms(RESNET50_MACS) == pytest.approx(0.0822)


def test_one_impossible_run_is_enough_and_real_runs_pass() -> None:
    assert plausibility.check(from_dict(GOLDEN | {"samples_ms": [40.0, 41.0, 0.05, 40.5, 39.9]}), RESNET50_MACS)
    assert plausibility.check(from_dict(GOLDEN | {"samples_ms": [40.0] * 5}), RESNET50_MACS) is None


def test_a_summary_only_record_is_checked_on_its_fastest_figure() -> None:
    record = from_dict(GOLDEN | {"samples_ms": None, "flags": ["min_max_avg_only"],
                                 "summary_ms": {"mean": 40.0, "min": 0.01, "max": 41.0, "std": 3.0}})
    assert plausibility.check(record, RESNET50_MACS)


def test_unknown_macs_check_nothing() -> None:
    assert plausibility.check(from_dict(GOLDEN | {"samples_ms": [0.002] * 5}), None) is None


@pytest.mark.parametrize("lib", ["onnxruntime", "tflite"])
def test_a_model_files_macs_are_counted_from_its_graph_as_the_zoo_counts_them(lib: str, model_cache: Path) -> None:
    from pytest_mobiledl import zoo
    from pytest_mobiledl.counts import file_macs

    artifact = zoo.artifact("tiny_cnn", lib, "fp32", model_cache)
    assert artifact.meta["macs"] > 0
    assert file_macs(artifact.path) == artifact.meta["macs"]
