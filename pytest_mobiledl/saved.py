"""Saved runs read back into RunRecords: pytest-benchmark's JSON is the store, records the contract.

A result saved by this plugin holds its repeats whole in ``extra_info["repeats"]`` (since record
schema 2). A result saved before that holds one record's fields without its samples: it reads as
one repeat whose figures are pytest-benchmark's summary of the samples (flag ``saved_summary``).
A saved run's op profiles (``ops/``) sit beside its results, under ``PROFILES``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytest_mobiledl.errors import RecordError
from pytest_mobiledl.ops.profile import OpProfile
from pytest_mobiledl.ops.profile import from_dict as profile_from_dict
from pytest_mobiledl.record import RunRecord, from_dict

#: The key of a saved run's JSON that holds its op profiles (written by ``ops/collect.py``).
PROFILES = "mobiledl_ops"


def records(bench: Mapping[str, Any]) -> list[RunRecord]:
    """The records of one saved result (one element of a saved run's ``benchmarks``)."""
    extra = bench.get("extra_info") or {}
    if "lib" not in extra:
        raise RecordError(f"{bench.get('fullname', '?')} was not saved by pytest-mobiledl")
    repeats = extra.get("repeats")
    if repeats is not None:
        return [from_dict({**r, "device": extra.get("device", {})}) for r in repeats]
    stats = bench.get("stats") or {}
    summary = {k: stats[k] * 1000 for k in ("mean", "median", "min", "max", "stddev") if k in stats}
    summary["std"] = summary.pop("stddev", 0.0)
    return [from_dict({**extra, "samples_ms": None, "summary_ms": summary,
                       "flags": [*extra.get("flags", ()), "saved_summary"]})]


def profiles(data: Mapping[str, Any]) -> tuple[OpProfile, ...]:
    """A saved run's op profiles (none in runs saved without them); ValueError when one is malformed."""
    found = data.get(PROFILES) or []
    if not isinstance(found, list):
        raise ValueError(f"{PROFILES} is {type(found).__name__}, not a list of op profiles")
    return tuple(profile_from_dict(p) for p in found)
