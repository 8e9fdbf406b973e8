"""Saved runs and journals read back into records, each record tagged with the run it came from.

Inputs: pytest-benchmark saved runs and ``--benchmark-json`` files (``*.json``: an object with a
``benchmarks`` list), and journals (``*.jsonl``: read by ``journal.parse``, the reader resume uses,
its version checked, each report's ``record``; or bare record dicts, one a line). A folder stands
for every saved run under it, or every journal when it holds no saved run (a saved session is in
its journal too). A file named on the command line that cannot be read is an error; in a folder
it is skipped with one line, so one stray file does not hide a farm's nights of results.

The run is part of what a report shows: the same item measured in two runs stays two rows. A run
saved by an interrupted session is marked partial (storage.py): in a folder it is left out with
one line (its finished items are in the complete run that resumed it, or in its journal), so two
runs of one build never meet in a table as if they were two libraries; named on the command line
it is read, and its label says ``partial``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_mobiledl import journal, saved
from pytest_mobiledl.errors import MobiledlError, RecordError
from pytest_mobiledl.record import RunRecord, from_dict
from pytest_mobiledl.storage import partial


class InputError(ValueError):
    """One line that says which input was wrong and what would be valid."""


@dataclass(frozen=True)
class Run:
    """One saved run or journal: a short label for tables, where it came from, its records."""

    label: str
    path: Path
    records: tuple[RunRecord, ...]
    when: str = ""  # pytest-benchmark's datetime, when the file has one
    partial: str = ""  # why the session that saved it did not finish ("" for a complete run)
    #: Op profiles saved with the run (``mobiledl_ops``, see ops/); none in older runs.
    profiles: tuple[Any, ...] = ()


def load(paths: Sequence[str | Path], warn: Callable[[str], None] = lambda line: None) -> list[Run]:
    """Every run under ``paths``, oldest first; InputError when there is nothing to report."""
    runs: list[Run] = []
    for given in map(Path, paths):
        if not given.exists():
            raise InputError(f"{given}: no such file or folder; give saved runs (.json), journals (.jsonl) "
                             "or folders holding them (e.g. .benchmarks/)")
        if given.is_dir():
            found = _folder(given, ".json", warn)
            journals = sorted(p for p in given.rglob("*.jsonl") if p.is_file())
            if found and journals:
                # A saved session is also in its journal: reading both would show it twice.
                warn(f"{len(journals)} journal(s) under {given} not read: the saved runs hold their finished "
                     "sessions; name a .jsonl file to read an unsaved one")
            elif not found:
                found = _folder(given, ".jsonl", warn)
            if not found:
                raise InputError(f"{given}: no saved runs (.json) or journals (.jsonl) of pytest-mobiledl in "
                                 "this folder; save runs with --benchmark-autosave or --benchmark-json=FILE")
            runs.extend(found)
        else:
            runs.append(read(given))
    return _labelled(sorted(runs, key=lambda run: (run.when, str(run.path))))


#: The end of a partial run's label (the report's run tags keep it).
PARTIAL = " (partial)"


def _folder(folder: Path, suffix: str, warn: Callable[[str], None]) -> list[Run]:
    found = []
    for path in sorted(p for p in folder.rglob(f"*{suffix}") if p.is_file()):
        try:
            run = read(path)
        except InputError as exc:
            warn(f"skipped {exc}")
            continue
        if run.partial:
            warn(f"skipped {path}: a partial run ({run.partial}); name the file to read it")
            continue
        found.append(run)
    return found


def read(path: Path) -> Run:
    if path.suffix == ".jsonl":
        return Run(_label(path), path, tuple(_journal(path)))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{path}: not readable JSON ({_first_line(exc)}); give a pytest-benchmark saved run "
                         "or --benchmark-json file") from None
    benches = data.get("benchmarks") if isinstance(data, dict) else None
    if not isinstance(benches, list):
        raise InputError(f"{path}: not a pytest-benchmark run (no 'benchmarks' list); give a saved run "
                         "(.benchmarks/…/NNNN_*.json) or a --benchmark-json file")
    records: list[RunRecord] = []
    for bench in benches:
        try:
            records.extend(saved.records(bench))
        except RecordError:
            continue  # another plugin's benchmark in the same run: not ours to report
    if not records:
        raise InputError(f"{path}: holds no results saved by pytest-mobiledl ({len(benches)} other benchmarks)")
    why = partial(data)
    return Run(_label(path) + (PARTIAL if why else ""), path, tuple(records), str(data.get("datetime", "")), why,
               _profiles(path, data))


def _profiles(path: Path, data: dict[str, Any]) -> tuple[Any, ...]:
    try:
        return saved.profiles(data)
    except ValueError as exc:
        raise InputError(f"{path}: {exc}") from None


def _journal(path: Path) -> Iterable[RunRecord]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not readable ({_first_line(exc)})") from None
    records = []
    for number, data in _journal_records(path, lines) if _is_journal(lines) else _record_lines(path, lines):
        try:
            records.append(from_dict(data))
        except RecordError as exc:
            raise InputError(f"{path}:{number}: {exc}") from None
    if not records:
        raise InputError(f"{path}: a journal with no records")
    return records


def _is_journal(lines: Sequence[str]) -> bool:
    try:
        header = json.loads(lines[0]) if lines else None
    except ValueError:
        return False
    return isinstance(header, dict) and journal.HEADER in header


def _journal_records(path: Path, lines: Sequence[str]) -> list[tuple[int, Any]]:
    """journal.py's lines, read by journal.py (its version checked), each finished report's record."""
    try:
        found = journal.parse(path, lines)
    except MobiledlError as exc:
        raise InputError(str(exc)) from None
    return [(e.line, e.record) for e in found.entries if e.record is not None]  # None: skipped or failed early


def _record_lines(path: Path, lines: Sequence[str]) -> list[tuple[int, Any]]:
    """Bare record dicts, one a line."""
    found = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data: Any = json.loads(line)
        except ValueError:
            if number == len(lines):
                continue  # a line cut short by an interrupted session: what came before stands
            raise InputError(f"{path}:{number}: not a JSON line; a journal holds one record per line") from None
        if isinstance(data, dict) and "lib" not in data and (number == 1 or "end" in data):
            continue  # a header or an end line, not a record
        found.append((number, data))
    return found


def _labelled(runs: list[Run]) -> list[Run]:
    """Short labels that tell runs apart: the file's stem, or its folder/stem where stems repeat."""
    stems = [run.label for run in runs]
    out = []
    for run in runs:
        label = run.label if stems.count(run.label) == 1 else f"{run.path.parent.name}/{run.label}"
        out.append(Run(label, run.path, run.records, run.when, run.partial, run.profiles))
    return out


def _label(path: Path) -> str:
    """pytest-benchmark names runs NNNN_commit_datetime: the number is what people say."""
    head = path.stem.split("_")[0]
    return head if head.isdigit() else path.stem


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
