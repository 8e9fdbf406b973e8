"""RunRecord: the golden v1 file, round trips, and every record that cannot be right is refused."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from pytest_mobiledl.errors import RecordError
from pytest_mobiledl.record import SCHEMA, from_dict, from_json

GOLDEN = Path(__file__).parent / "golden"


def golden() -> dict[str, Any]:
    return json.loads((GOLDEN / "record_v1.json").read_text())


def test_golden_v1_reads_as_one_repeat_and_round_trips_as_the_newest() -> None:
    record = from_dict(golden())
    assert record.schema == SCHEMA == 3
    assert (record.repeat, record.conditions) == (1, {})
    assert record.samples_ms == (0.0692, 0.0667, 0.0628, 0.0644, 0.0746)
    assert record.median_ms == 0.0667
    assert from_json(record.to_json()) == record


def test_golden_v2_reads_with_no_block_and_writes_as_v3() -> None:
    data = json.loads((GOLDEN / "record_v2.json").read_text())
    record = from_dict(data)
    assert (record.schema, record.repeat, record.block) == (3, 3, {})
    assert record.to_dict() == data | {"schema": 3, "block": {}}


def test_golden_v3_reads_and_round_trips() -> None:
    data = json.loads((GOLDEN / "record_v3.json").read_text())
    record = from_dict(data)
    assert record.block == {"id": "host-mobilenet_v2-cpu-fp32-r3", "mode": "lockstep", "size": 4}
    assert record.to_dict() == data


def test_a_v2_record_cannot_carry_a_block() -> None:
    data = json.loads((GOLDEN / "record_v2.json").read_text())
    with pytest.raises(RecordError, match="unknown fields for schema 2: block"):
        from_dict(data | {"block": {}})


def test_a_v1_record_cannot_carry_v2_fields() -> None:
    with pytest.raises(RecordError, match="unknown fields for schema 1: repeat"):
        from_dict(golden() | {"repeat": 2})


def test_summary_only_record_needs_its_flag_and_reports_its_mean() -> None:
    data = golden() | {"samples_ms": None, "summary_ms": {"mean": 12.5, "min": 11.0, "max": 14.0, "std": 0.0},
                       "flags": ["min_max_avg_only"]}
    assert from_dict(data).median_ms == 12.5
    with pytest.raises(RecordError, match="a summary-only record needs its flag"):
        from_dict(data | {"flags": []})


@pytest.mark.parametrize(("change", "message"), [
    ({"samples_ms": []}, "0 samples for count 5"),
    ({"samples_ms": None}, "neither samples_ms nor a summary mean"),
    ({"samples_ms": [1.0, 2.0, -3.0, 4.0, 5.0]}, "latencies are finite and ≥"),
    ({"samples_ms": [1.0, 2.0, math.nan, 4.0, 5.0]}, "latencies are finite"),
    ({"samples_ms": [1.0, 2.0, 0.0, 4.0, 5.0]}, "latencies are finite"),
    ({"samples_ms": [0.0002] * 5}, "latencies are finite and ≥ 0.001 ms"),
    ({"count": 3, "samples_ms": [1.0, 2.0, 3.0]}, "3 timed runs, fewer than the 5 requested"),
    ({"count": 0, "iterations": 0, "samples_ms": []}, "no timed runs"),
    ({"threads": 0}, "threads must be ≥ 1"),
    ({"backend": "tpu"}, "backend 'tpu' is not one of"),
    ({"precision": "fp8"}, "precision 'fp8' is not one of"),
    ({"flags": ["fast"]}, "unknown flags"),
    ({"init_ms": -1.0}, "init_ms = -1.0"),
    ({"schema": 4}, "record schema 4 is not one this pytest-mobiledl reads"),
    ({"schema": 2, "repeat": 0}, "repeat must be ≥ 1"),
    ({"schema": None}, "record schema None"),
    ({"latency": 3}, "unknown fields latency"),
    ({"samples_ms": "fast"}, "malformed record"),
])
def test_records_that_cannot_be_right_are_refused(change: dict[str, Any], message: str) -> None:
    with pytest.raises(RecordError, match=message.replace("(", r"\(")):
        from_dict(golden() | change)


def test_missing_fields_are_named() -> None:
    data = golden()
    del data["artifact_sha256"], data["count"]
    with pytest.raises(RecordError, match="record lacks artifact_sha256, count"):
        from_dict(data)


def test_not_json_is_a_record_error() -> None:
    with pytest.raises(RecordError, match="not a JSON record"):
        from_json("Segmentation fault")
    with pytest.raises(RecordError, match="a record is a JSON object, got list"):
        from_json("[1, 2]")
