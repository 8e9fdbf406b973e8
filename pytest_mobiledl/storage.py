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

from collections.abc import Sequence
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


def add(config: pytest.Config, nodeid: str, records: Sequence[RunRecord]) -> bool:
    """Make one item's repeats a pytest-benchmark result. False if it cannot hold it.

    Its stats pool every repeat's on-device samples; ``extra_info`` is the first record's fields
    (what a person reads in a saved run) plus ``repeats``, every record whole but for the device,
    so a saved run can be read back into the records it came from (``saved.records``).
    """
    bs = session(config)
    if bs is None or not records:
        return False
    from pytest_benchmark.stats import Metadata

    first = records[0]
    name = nodeid.rpartition("::")[2]
    extra = first.to_dict()
    del extra["samples_ms"]  # they are the stats themselves
    extra["repeats"] = [{k: v for k, v in r.to_dict().items() if k != "device"} for r in records]
    origin = _Origin(
        name=name,
        fullname=nodeid,
        group=f"{first.model} on {first.device.get('serial', '?')}",
        param=name.partition("[")[2].rstrip("]"),
        params={"device": first.device.get("serial"), "lib": first.lib, "model": first.model,
                "backend": first.backend, "precision": first.precision, "threads": first.threads},
        extra_info=extra,
    )
    options = {"timer": "on-device", "warmup": first.warmup, "min_rounds": first.iterations,
               "min_time": 0, "max_time": 0, "disable_gc": False}
    if first.samples_ms is not None:
        rounds, iterations = [s for r in records for s in r.samples_ms or ()], 1
    else:
        # A tool that printed only a mean timed `count` runs together: in pytest-benchmark's own
        # terms, one round of `count` iterations per repeat. Its min/max/std stay in extra_info.
        iterations = first.count
        rounds = [r.summary_ms["mean"] * iterations for r in records]
    metadata = Metadata(origin, iterations=iterations, options=options)  # type: ignore[no-untyped-call]
    for round_ms in rounds:
        metadata.update(round_ms / 1000)  # type: ignore[no-untyped-call]  # it works in seconds
    bs.benchmarks.append(metadata)
    return True


def compared(config: pytest.Config) -> dict[str, dict[str, Any]]:
    """The saved run that ``--benchmark-compare`` loaded, by fullname: {} when none was.

    When several runs match, the newest wins (pytest-benchmark lists them oldest first).
    """
    bs = session(config)
    mapping: dict[str, dict[str, Any]] = {}
    for benches in (getattr(bs, "compared_mapping", None) or {}).values():
        mapping.update(benches)
    return mapping


def compared_paths(config: pytest.Config) -> list[str]:
    """The files of the saved runs ``--benchmark-compare`` loaded (their other keys: op profiles)."""
    import os

    bs = session(config)
    root = getattr(getattr(bs, "storage", None), "path", "")  # FileStorage names them relative to its folder
    return [os.path.join(str(root), str(path)) for path in (getattr(bs, "compared_mapping", None) or {})]
