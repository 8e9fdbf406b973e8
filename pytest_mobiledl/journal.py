"""The session journal: every finished item on disk the moment it is known, and ``--mobiledl-resume``.

pytest-benchmark saves only when a session ends, so a CI timeout, an out-of-memory kill or a
dropped SSH session would lose hours of results. The controller (the one process that sees every
report, also under xdist) appends each item's report to a journal and fsyncs it. A later session
with ``--mobiledl-resume`` and the same selection runs only the items that did not pass, and puts
the journaled records back, so its saved run holds every item.

Format, version 1: ``<benchmark storage>/mobiledl-journal/<session>.jsonl``, one JSON object a line.

- line 1, the header: ``{"mobiledl_journal": 1, "session": "20261203T083502-4242",
  "started": "2026-12-03T08:35:02+00:00", "items": [nodeid, …], "settings": {"warmup": 10, …}}``:
  every collected item, in order, and the settings that make its repeats comparable (``SETTINGS``;
  absent in journals written before them).
- one line per finished item report (per repeat: a repeat is an item): ``{"nodeid": …,
  "item": <the case's node id, repeats pooled under it>, "outcome": "passed"|"failed"|"skipped",
  "when": "setup"|"call", "record": <RunRecord dict, schema of record.py> | null}``.
- the last line, when the session ran to its end (not interrupted): ``{"end": "<iso time>",
  "exitstatus": N}``. A journal without it is unfinished: it is what resume continues.

A resumed session appends to the journal it continues, and only when it asks for the same
settings: repeats of 10 warm-up runs and 20 timed ones pooled with repeats of 0 and 500 would be
one item in name only, so a session whose settings differ runs every item afresh and says why.
A reader skips a torn last line (the process was killed mid-write) and rejects a version it does
not know. A full disk stops the journal with one line (a torn line is cut back off, a journal with
no header is removed) and fails the session; what is on disk stays readable.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

import pytest

from pytest_mobiledl.errors import MobiledlError, disk_full, no_space
from pytest_mobiledl.keys import carried, device_of

if TYPE_CHECKING:
    from pytest_mobiledl.record import RunRecord

VERSION = 1
#: The header's key: its value is the format version.
HEADER = "mobiledl_journal"
FOLDER = "mobiledl-journal"
#: The options whose values a resumed session must share with the journal it continues.
SETTINGS = ("warmup", "iterations", "min_time", "delay", "cores")
#: workerinput key: the resumable journals, frozen by the controller, so every worker (and a
#: worker xdist restarts later) deselects the same items.
WORKER_KEY = "mobiledl_resume"


@dataclass(frozen=True)
class Entry:
    nodeid: str
    item: str
    outcome: str
    record: dict[str, Any] | None
    line: int = 0  # its line in the file, for a reader's messages


@dataclass(frozen=True)
class Journal:
    path: Path
    items: tuple[str, ...]
    entries: tuple[Entry, ...]
    finished: bool
    settings: dict[str, Any] | None = None  # None: written before journals kept them

    @property
    def kept(self) -> frozenset[str]:
        """Items that passed: what a resumed session does not run again."""
        return frozenset(e.nodeid for e in self.entries if e.outcome == "passed")


def folder(config: pytest.Config) -> Path:
    """Beside pytest-benchmark's storage (``--benchmark-storage``, a ``file://`` path)."""
    storage = str(config.getoption("benchmark_storage", None) or "file://./.benchmarks")
    path = storage.removeprefix("file://") if storage.startswith("file://") else ".benchmarks"
    return Path(path).expanduser() / FOLDER


def read(path: Path) -> Journal:
    """One journal; a torn line is skipped, an unknown version is a MobiledlError."""
    return parse(path, path.read_text(errors="replace").splitlines())


def parse(path: Path, lines: Sequence[str]) -> Journal:
    """A journal's lines (``path`` names it in errors): the one reader, for resume and for reports."""
    try:
        header = json.loads(lines[0])
    except (IndexError, ValueError):
        raise MobiledlError(f"{path} has no journal header") from None
    if not isinstance(header, dict) or header.get(HEADER) != VERSION:
        raise MobiledlError(f"{path} is not a version {VERSION} mobiledl journal")
    entries, finished = [], False
    for number, line in enumerate(lines[1:], 2):
        try:
            data = json.loads(line)
        except ValueError:
            continue  # torn by a kill mid-write (a resumed session appends after it): that item runs again
        if not isinstance(data, dict):
            continue
        if "end" in data:
            finished = True
        elif "nodeid" in data:
            nodeid = str(data["nodeid"])
            entries.append(Entry(nodeid, str(data.get("item", nodeid)), str(data.get("outcome", "")),
                                 data.get("record"), number))
    settings = header.get("settings")
    return Journal(path, tuple(header["items"]), tuple(entries), finished,
                   settings if isinstance(settings, dict) else None)


def unfinished(directory: Path) -> list[Journal]:
    """Journals of sessions that did not run to their end, newest first."""
    found = []
    for path in sorted(directory.glob("*.jsonl"), key=lambda p: p.stat().st_mtime, reverse=True):
        try:
            journal = read(path)
        except (OSError, MobiledlError):
            continue
        if not journal.finished:
            found.append(journal)
    return found


class Resume:
    """Deselects what a resumable journal already holds; registered wherever items are collected."""

    def __init__(self, candidates: Iterable[tuple[Sequence[str], Iterable[str]]]) -> None:
        self.candidates = [(tuple(items), frozenset(kept)) for items, kept in candidates]

    @pytest.hookimpl(trylast=True)  # after -k/-m deselection: the selection as it runs
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        ids = tuple(item.nodeid for item in items)
        for candidate_items, kept in self.candidates:
            if candidate_items == ids:
                done = [item for item in items if item.nodeid in kept]
                if done:
                    config.hook.pytest_deselected(items=done)
                    items[:] = [item for item in items if item.nodeid not in kept]
                return


class Results(Protocol):
    """Where a resumed session puts the kept items' records back (``results.Results``)."""

    def add(self, record: RunRecord, item: str, passed: bool) -> None: ...


class Writer:
    """The controller's journal: header once the items are known, a line per finished report."""

    def __init__(self, config: pytest.Config, results: Results, serials: Iterable[str], resume: bool) -> None:
        self.config = config
        self.results = results
        self.serials = tuple(serials)
        self.directory = folder(config)
        self.settings = settings(config)
        found = unfinished(self.directory) if resume else []
        # Another warm-up, run count or min-time: its repeats cannot pool with this session's.
        self.candidates = [j for j in found if j.settings is None or j.settings == self.settings]
        self.refused = [j for j in found if j not in self.candidates]
        self.resume = resume
        self.file: IO[str] | None = None
        self.note = ""
        self.broken = ""  # the line that stopped the journal (a full disk)

    # -- where the selection becomes known: collection (no xdist) or a worker's collection (xdist)

    @pytest.hookimpl(trylast=True)  # after -k/-m deselection: the selection as it runs
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        Resume([(j.items, j.kept) for j in self.candidates]).pytest_collection_modifyitems(config, items)
        self._open([item.nodeid for item in items])

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[WORKER_KEY] = [[list(j.items), sorted(j.kept)] for j in self.candidates]

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: Sequence[str]) -> None:
        if self.file is None:
            self._open(list(ids))

    def _open(self, to_run: list[str]) -> None:
        chosen = next((j for j in self.candidates if [i for i in j.items if i not in j.kept] == to_run), None)
        if self.config.option.collectonly:  # nothing will finish: no journal, but say what resume keeps
            if chosen is not None:
                self._say(f"resumed: would keep {len(chosen.kept)} of {len(chosen.items)} items ({chosen.path})")
            return
        if chosen is not None:
            self.file = chosen.path.open("a")
            if not _ends_a_line(chosen.path):  # a kill tore the last line: never glue the next onto it
                self.file.write("\n")
            self._restore(chosen)
        elif any(device_of(nodeid, self.serials) for nodeid in to_run):  # else: other tests, no journal
            session = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{os.getpid()}"
            path = self.directory / f"{session}.jsonl"
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                self.file = path.open("a")
            except OSError as exc:
                self._stop(exc, path)
            else:
                self._append({HEADER: VERSION, "session": session, "started": _now(), "items": to_run,
                              "settings": self.settings})
                if self.file is None:  # not even the header fit: no empty journal is left behind
                    path.unlink(missing_ok=True)
            refused = next((j for j in self.refused if list(j.items) == to_run), None)
            if refused is not None:
                differs = _differs(refused.settings or {}, self.settings)
                self.note = (f"resumed: not {refused.path}: it ran with {differs}; its repeats would not pool "
                             f"with these: running all {len(to_run)} items afresh")
            elif self.resume:
                self.note = (f"resumed: no unfinished session with this selection in {self.directory}; "
                             f"running all {len(to_run)} items")
        if self.note:
            self._say(self.note)

    def _restore(self, journal: Journal) -> None:
        """Put the kept items' records back, so the saved run and the tables hold every item."""
        from pytest_mobiledl.record import from_dict

        kept = journal.kept
        for entry in journal.entries:
            if entry.outcome == "passed" and entry.record is not None:  # not an earlier failure of it
                self.results.add(from_dict(entry.record), entry.item, passed=True)
        self.note = f"resumed: kept {len(kept)} of {len(journal.items)} items ({journal.path})"

    def _say(self, line: str) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(line)

    # -- as results arrive

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.file is None or not (report.when == "call" or (report.when == "setup" and not report.passed)):
            return
        record, item = carried(report)
        self._append({"nodeid": report.nodeid, "item": item, "outcome": report.outcome, "when": report.when,
                      "record": record})

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.broken and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED  # results that are not on disk are no pass
        if self.file is None:
            return
        if session.exitstatus not in (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.INTERNAL_ERROR):
            self._append({"end": _now(), "exitstatus": int(session.exitstatus)})
        self.file.close()
        self.file = None

    def _append(self, data: dict[str, Any]) -> None:
        if self.file is None:
            return  # stopped by a full disk
        line = json.dumps(data, separators=(",", ":")) + "\n"
        start = self.file.tell()
        try:
            self.file.write(line)
            self.file.flush()
            os.fsync(self.file.fileno())  # on disk now: a SIGKILL a moment later keeps it
        except OSError as exc:
            self._stop(exc, Path(self.file.name), start, len(line))

    def _stop(self, exc: OSError, path: Path, start: int | None = None, size: int = 0) -> None:
        """A journal that cannot be written: cut back what was torn, say it once, fail the session."""
        if self.file is not None:
            try:
                self.file.close()  # flushing again may fail as well: its buffer is lost either way
            except OSError:
                pass
            self.file = None
        if start is not None:
            try:
                os.truncate(path, start)
            except OSError:
                pass
        problem = str(no_space(path, size)) if disk_full(exc) else f"cannot write {path}: {exc.strerror or exc}"
        self.broken = f"mobiledl: the journal stopped: {problem}; this session cannot be resumed past here"
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(self.broken, red=True, bold=True)


def settings(config: pytest.Config) -> dict[str, Any]:
    """The session's values of ``SETTINGS``, as JSON keeps them."""
    from pytest_mobiledl.options import value

    found: dict[str, Any] = json.loads(json.dumps({name: value(config, name) for name in SETTINGS}))
    return found  # as JSON keeps it: tuples become lists


def _differs(old: dict[str, Any], new: dict[str, Any]) -> str:
    """``--warmup=10 --iterations=20``, where this session asks ``--warmup=0 --iterations=500``."""
    names = [n for n in SETTINGS if old.get(n) != new.get(n)]
    flag = {n: "--" + n.replace("_", "-") for n in names} | {"delay": "--mobiledl-delay-ms"}

    def said(values: dict[str, Any]) -> str:
        return " ".join(f"{flag[n]}={values.get(n)}" for n in names)

    return f"{said(old)}, where this session asks {said(new)}"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())


def _ends_a_line(path: Path) -> bool:
    """True for an empty file or one whose last byte ends a line."""
    with path.open("rb") as f:
        if f.seek(0, os.SEEK_END) == 0:
            return True
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"
