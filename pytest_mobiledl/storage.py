"""Bridge to pytest-benchmark storage. Every private access to pytest-benchmark lives here.

pytest-benchmark has no public API for samples measured elsewhere (on a phone), and disables
its fixture whenever xdist is active. Its session object still saves, loads, compares and
fails on regressions for whatever is in ``session.benchmarks``. So, on the controller only, each
item's on-device samples become one pytest-benchmark ``Metadata`` in that list; saving,
``--benchmark-compare(-fail)``, ``--benchmark-json`` and ``pytest-benchmark compare`` then work
unchanged, with or without xdist. The alternative — writing its JSON format ourselves — would
still leave compare-fail to reimplement. Its version is pinned exactly in pyproject.toml, and
tests/test_storage.py fails loudly when these internals change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from pytest_mobiledl.record import RunRecord


@dataclass
class _Origin:
    """Stands in for the BenchmarkFixture that pytest-benchmark's Metadata reads its names from."""

    name: str
    fullname: str
    group: str
    param: str
    params: dict[str, Any]
    extra_info: dict[str, Any]
    cprofile_stats: None = None
    has_error: bool = False


def session(config: pytest.Config) -> Any | None:
    """pytest-benchmark's session, or None when it is not loaded (``-p no:benchmark``)."""
    return getattr(config, "_benchmarksession", None)


def add(config: pytest.Config, nodeid: str, record: RunRecord) -> bool:
    """Make one item's on-device samples a pytest-benchmark result. False if it cannot hold it."""
    bs = session(config)
    if bs is None:
        return False
    from pytest_benchmark.stats import Metadata

    name = nodeid.rpartition("::")[2]
    extra = record.to_dict()
    del extra["samples_ms"]  # they are the stats themselves
    origin = _Origin(
        name=name,
        fullname=nodeid,
        group=f"{record.model} on {record.device.get('serial', '?')}",
        param=name.partition("[")[2].rstrip("]"),
        params={"device": record.device.get("serial"), "lib": record.lib, "model": record.model,
                "backend": record.backend, "precision": record.precision, "threads": record.threads},
        extra_info=extra,
    )
    options = {"timer": "on-device", "warmup": record.warmup, "min_rounds": record.iterations,
               "min_time": 0, "max_time": 0, "disable_gc": False}
    if record.samples_ms is not None:
        rounds, iterations = list(record.samples_ms), 1
    else:
        # A tool that printed only a mean timed `count` runs together: in pytest-benchmark's own
        # terms, one round of `count` iterations. Its min/max/std stay in extra_info.
        rounds, iterations = [record.summary_ms["mean"] * record.count], record.count
    metadata = Metadata(origin, iterations=iterations, options=options)  # type: ignore[no-untyped-call]
    for round_ms in rounds:
        metadata.update(round_ms / 1000)  # type: ignore[no-untyped-call]  # it works in seconds
    bs.benchmarks.append(metadata)
    return True
