"""Bridge to pytest-benchmark storage. Every private access to pytest-benchmark lives here.

pytest-benchmark has no public API for samples measured elsewhere (on a phone), and disables
its fixture whenever xdist is active. Its session object still saves, loads, compares and
fails on regressions for whatever is in ``session.benchmarks``. So, on the controller only, each
item's on-device samples become one pytest-benchmark ``Metadata`` in that list; saving,
``--benchmark-compare(-fail)``, ``--benchmark-json`` and ``pytest-benchmark compare`` then work
unchanged, with or without xdist. The alternative — writing its JSON format ourselves — would
still leave compare-fail to reimplement. Its version is pinned exactly in pyproject.toml, and
tests/test_storage.py fails loudly when these internals change.

Its own writes are not atomic (a full disk left a 61,440-byte saved run that every later
``--benchmark-compare`` skipped with a warning): ``install`` replaces them with a write to a
temporary file, fsync and rename, marks a run saved by an interrupted session ``partial``, and
makes ``--mobiledl-compare-fail`` an error when the run it should compare with is missing,
unreadable or partial: a gate that cannot compare never passes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_mobiledl.errors import DiskFullError, disk_full, no_space
from pytest_mobiledl.keys import VARIANT, name_of, param
from pytest_mobiledl.record import RunRecord

#: Top-level key of a saved run written by this plugin: ``{"partial": bool, "why": str}``.
MARK = "mobiledl"


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


benchmark_session = session  # for hooks, whose argument ``session`` is pytest's


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
    name = name_of(nodeid)
    extra = first.to_dict()
    del extra["samples_ms"]  # they are the stats themselves
    extra["repeats"] = [{k: v for k, v in r.to_dict().items() if k != "device"} for r in records]
    origin = _Origin(
        name=name,
        fullname=nodeid,
        group=f"{first.model} on {first.device.get('serial', '?')}",
        param=param(nodeid),
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


#: What repeats must share to be pooled as one item: the same bytes run by the same build the same way.
POOLED_BY = ("lib_version", "artifact_sha256", "warmup", "iterations")


def agreeing(records: Sequence[RunRecord]) -> tuple[list[RunRecord], str]:
    """The repeats of one item that may be pooled, and what set the others apart ("" if none).

    Repeats agree when they ran the same artifact under the same library version with the same
    warm-up and run count (and the same --variant build). Where they do not (a resumed session
    with other settings, a library upgraded in between, an artifact rebuilt), the largest group
    is kept, the latest on a tie: pooling them would give one item's numbers to two setups."""
    def key(r: RunRecord) -> tuple[Any, ...]:
        return (*(getattr(r, name) for name in POOLED_BY), r.engine_options.get(VARIANT))

    groups: dict[tuple[Any, ...], list[RunRecord]] = {}
    for record in records:
        groups.setdefault(key(record), []).append(record)
    if len(groups) < 2:
        return list(records), ""
    kept_key = max(groups, key=lambda k: (len(groups[k]), max(r.repeat for r in groups[k])))
    kept = groups[kept_key]
    apart = [r for r in records if key(r) != kept_key]
    names = [n for i, n in enumerate(POOLED_BY) if any(key(r)[i] != kept_key[i] for r in apart)]
    said = ", ".join(f"{n} {_short(getattr(apart[0], n))} (kept: {_short(getattr(kept[0], n))})" for n in names)
    return kept, f"pooled {len(kept)} of {len(records)} repeats; left out {len(apart)} with another {said or 'build'}"


def _short(value: Any) -> str:
    text = str(value)
    return f"{text[:12]}…" if len(text) == 64 else text  # a sha256


def pooled(config: pytest.Config, items: dict[str, list[RunRecord]]) -> dict[str, list[RunRecord]]:
    """Every item's agreeing repeats (``agreeing``), saying once per item what was left out."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    out = {}
    for nodeid, records in items.items():
        out[nodeid], note = agreeing(records)
        if note and reporter is not None:
            reporter.write_line(f"mobiledl: {name_of(nodeid)}: {note}", yellow=True)
    return out


def compared(config: pytest.Config) -> dict[str, dict[str, Any]]:
    """The saved run that ``--benchmark-compare`` loaded, by fullname: {} when none was.

    When several runs match, the newest wins (pytest-benchmark lists them oldest first).
    """
    bs = session(config)
    mapping: dict[str, dict[str, Any]] = {}
    for benches in (getattr(bs, "compared_mapping", None) or {}).values():
        mapping.update(benches)
    return mapping


def write_atomic(path: Path, data: bytes) -> None:
    """``path`` holds ``data`` whole or is left as it was: temporary file, fsync, rename.
    A full disk is a DiskFullError naming the path; the temporary file never stays."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # no glob of saved runs (*.json) matches it
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_folder(path.parent)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if disk_full(exc):
            raise no_space(path, len(data)) from None
        raise


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # not every system opens folders; the rename is still atomic
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def install(config: pytest.Config, compare_fail: float | None) -> None:
    """On the controller: atomic saves, partial runs marked, and the gate's baseline checked."""
    config.pluginmanager.register(_Guard(config, compare_fail), "mobiledl-storage")


class _Guard:
    def __init__(self, config: pytest.Config, compare_fail: float | None) -> None:
        self.config = config
        self.compare_fail = compare_fail
        self.session: pytest.Session | None = None
        self.partial = ""  # why this session's run is partial, if it is

    @pytest.hookimpl(trylast=True)  # pytest-benchmark made its session and loaded its baseline when it configured
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        bs = benchmark_session(self.config)
        if bs is None:  # -p no:benchmark
            return
        if hasattr(bs.storage, "save") and hasattr(bs.storage, "get"):  # file storage (not elasticsearch)
            bs.storage.save = self._save
        bs.save_json = self._save_json
        if self.compare_fail is not None:
            problem = baseline_problem(self.config)
            if problem:
                raise pytest.UsageError(f"pytest-mobiledl: --mobiledl-compare-fail cannot compare: {problem}")

    @pytest.hookimpl(wrapper=True, tryfirst=True)  # around pytest-benchmark's wrapper, which saves
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> Generator[None, None, None]:
        self.session = session
        if exitstatus in (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.INTERNAL_ERROR):
            self.partial = f"the session was interrupted (exit status {int(exitstatus)})"
        elif session.shouldstop or session.shouldfail:
            self.partial = f"the session stopped early ({session.shouldstop or session.shouldfail})"
        return (yield)

    @pytest.hookimpl(optionalhook=True)
    def pytest_benchmark_update_json(self, config: pytest.Config, benchmarks: Any, output_json: dict[str, Any]
                                     ) -> None:
        output_json[MARK] = {"partial": bool(self.partial), "why": self.partial}

    def _save(self, output_json: dict[str, Any], save: str) -> None:
        """FileStorage.save, atomic: the same name (NNNN_save.json) and log line."""
        storage = session(self.config).storage  # type: ignore[union-attr]
        path = Path(storage.get(f"{storage._next_num}_{save}.json"))
        self._write(path, output_json, "Saved benchmark data in")
        storage._cache.pop(path, None)

    def _save_json(self, output_json: dict[str, Any]) -> None:
        self._write(Path(session(self.config).json), output_json, "Wrote benchmark data in")  # type: ignore[union-attr]

    def _write(self, path: Path, output_json: dict[str, Any], said: str) -> None:
        from pytest_benchmark.utils import safe_dumps

        bs = session(self.config)
        try:
            data = safe_dumps(output_json, ensure_ascii=True, indent=4).encode()  # type: ignore[no-untyped-call]
            write_atomic(path, data)
        except (DiskFullError, OSError) as exc:
            line = str(exc) if isinstance(exc, DiskFullError) else f"cannot write {path}: {exc.strerror or exc}"
            self._fail(f"mobiledl: the run was not saved: {line}")
            return
        bs.logger.info(f"{said}: {path}")  # type: ignore[union-attr]

    def _fail(self, line: str) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(line, red=True, bold=True)
        if self.session is not None and self.session.exitstatus == pytest.ExitCode.OK:
            self.session.exitstatus = pytest.ExitCode.TESTS_FAILED


def baseline_problem(config: pytest.Config) -> str | None:
    """Why ``--benchmark-compare`` has no whole run to compare with (naming the file), or None."""
    bs = session(config)
    if bs is None or not getattr(bs, "compare", None):
        return None
    storage = bs.storage
    if not hasattr(storage, "query"):
        return None if bs.compared_mapping else f"nothing to compare with in {storage}"
    glob = bs.compare if isinstance(bs.compare, str) else "[0-9][0-9][0-9][0-9]_"
    files = [Path(f) for f in storage.query(glob)]
    if not files:
        which = f"matches {bs.compare!r}" if isinstance(bs.compare, str) else "was saved yet"
        return f"no saved run in {storage.path} {which} (--benchmark-autosave saves one)"
    # pytest-benchmark skips a file it cannot load (and then compares with an older one, or none)
    loaded = {(Path(storage.path) / rel).resolve() for rel in bs.compared_mapping or {}}
    for path in files if isinstance(bs.compare, str) else files[-1:]:
        if path.resolve() not in loaded:
            return f"{path} is unreadable ({_why_unreadable(path)}); it is not a saved run to compare with"
        mark = _mark(path)
        if mark.get("partial"):
            return (f"{path} is a partial run ({mark.get('why') or 'its session did not finish'}); compare "
                    "with a complete one (--benchmark-compare=NNNN)")
    return None


def _why_unreadable(path: Path) -> str:
    try:
        data = path.read_bytes()
        json.loads(data)
    except OSError as exc:
        return exc.strerror or str(exc)
    except ValueError as exc:
        return f"{len(data)} bytes, cut short or damaged: {str(exc).splitlines()[0]}"
    return "not in pytest-benchmark's format"


def _mark(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    mark = data.get(MARK) if isinstance(data, dict) else None
    return mark if isinstance(mark, dict) else {}


def partial(data: Any) -> str:
    """Why a saved run (its parsed JSON) is partial, or ``""``."""
    mark = data.get(MARK) if isinstance(data, dict) else None
    if isinstance(mark, dict) and mark.get("partial"):
        return str(mark.get("why") or "its session did not finish")
    return ""


def compared_paths(config: pytest.Config) -> list[str]:
    """The files of the saved runs ``--benchmark-compare`` loaded (their other keys: op profiles)."""
    import os

    bs = session(config)
    root = getattr(getattr(bs, "storage", None), "path", "")  # FileStorage names them relative to its folder
    return [os.path.join(str(root), str(path)) for path in (getattr(bs, "compared_mapping", None) or {})]
