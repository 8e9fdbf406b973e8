"""Saved runs read back into records: this plugin's repeats whole, an older run as its summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_mobiledl import saved
from pytest_mobiledl.errors import RecordError
from pytest_mobiledl.record import from_dict

GOLDEN = json.loads((Path(__file__).parent / "golden" / "record_v1.json").read_text())


def test_a_result_saved_before_repeats_reads_as_one_repeat_of_its_summary() -> None:
    extra = {k: v for k, v in GOLDEN.items() if k != "samples_ms"}
    bench = {"fullname": "b.py::t[x]", "extra_info": extra,
             "stats": {"min": 6.28e-5, "max": 7.46e-5, "mean": 6.754e-5, "median": 6.67e-5, "stddev": 4.5e-6}}
    [record] = saved.records(bench)
    assert record.samples_ms is None and "saved_summary" in record.flags
    assert record.median_ms == pytest.approx(0.0667)
    assert record.repeat == 1 and record.lib_version == "1.32.0"


def test_a_result_with_repeats_reads_back_whole() -> None:
    records = [from_dict(GOLDEN).with_(repeat=k) for k in (1, 2)]
    extra = {**records[0].to_dict(), "repeats": [{k: v for k, v in r.to_dict().items() if k != "device"}
                                                 for r in records]}
    assert saved.records({"fullname": "b.py::t[x]", "extra_info": extra, "stats": {}}) == records


def test_a_result_of_another_plugin_is_named() -> None:
    with pytest.raises(RecordError, match=r"b\.py::t was not saved by pytest-mobiledl"):
        saved.records({"fullname": "b.py::t", "extra_info": {}, "stats": {}})
