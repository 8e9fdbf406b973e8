"""``mobiledl report PATH...``: saved runs and journals merged into tables, an HTML page and CSV files.

Exit codes: 0 done; 2 bad input (one line on stderr: what was wrong and what would be valid);
1 an output that cannot be written (one line naming it; a full disk says so, and no file is left
half-written: the page is written whole or not at all, the CSV files all or none).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_mobiledl.errors import DiskFullError, disk_full, no_space
from pytest_mobiledl.record import RunRecord
from pytest_mobiledl.report.inputs import InputError, Run, load

if TYPE_CHECKING:
    import pandas as pd

    from pytest_mobiledl.report.contents import Table


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("report", help="tables, an HTML page and CSV from saved runs and journals",
                            description="Merge pytest-benchmark saved runs, --benchmark-json files and "
                                        "journals (.jsonl) into the report's tables; folders are searched.")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="saved runs, journals, or folders (.benchmarks/)")
    parser.add_argument("--html", type=Path, metavar="FILE", help="write one self-contained HTML page")
    parser.add_argument("--csv", type=Path, metavar="DIR", help="write one CSV file per table")
    for name in ("models", "libs", "devices"):
        parser.add_argument(f"--{name}", default="", help=f"only these {name}, comma separated")


def run(args: argparse.Namespace) -> int:
    try:
        runs = load(args.paths, warn=_warn)
        df = select(runs, _list(args.models), _list(args.libs), _list(args.devices))
    except InputError as exc:
        print(f"mobiledl report: {exc}", file=sys.stderr)
        return 2
    from pytest_mobiledl.report import contents, page

    for option, target in (("--html", args.html), ("--csv", args.csv)):
        problem = target is not None and _unwritable(target, folder=option == "--csv")
        if problem:  # before the work, not after it
            print(f"mobiledl report: {option} {target}: {problem}", file=sys.stderr)
            return 2
    sections = contents.build(runs, df)
    print(page.text(sections))
    try:
        if args.csv:
            written = write_csv(sections, args.csv)
            print(f"\n{len(written)} CSV files in {args.csv}")
        if args.html:
            write_html(args.html, runs, df, sections)
            print(f"HTML report: {args.html}")
    except OSError as exc:
        print(f"mobiledl report: {exc if isinstance(exc, DiskFullError) else _cannot(exc)}", file=sys.stderr)
        return 1
    return 0


def _unwritable(path: Path, folder: bool) -> str | None:
    from pytest_mobiledl.options import writable_folder

    if not folder and path.is_dir():
        return "is a folder; give the HTML file to write"
    if folder and path.exists() and not path.is_dir():
        return "is a file; give a folder for the CSV files"
    problem = writable_folder(path if folder else path.parent)
    return problem.replace("converted models", "the report") if problem else None


def _cannot(exc: OSError) -> str:
    return f"cannot write {exc.filename or 'the report'}: {exc.strerror or exc}"


def write_csv(sections: Sequence[Table], folder: Path) -> list[Path]:
    """The CSV files, all or none: written beside ``folder`` first, then moved in."""
    import shutil
    import tempfile

    from pytest_mobiledl.report import page

    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".mobiledl-csv-", dir=folder))
    try:
        written = page.csv(sections, staging)
        for path in written:
            os.replace(path, folder / path.name)
    except OSError as exc:
        if disk_full(exc):
            raise no_space(folder) from None
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return [folder / path.name for path in written]


def select(runs: Sequence[Run], models: Sequence[str], libs: Sequence[str], devices: Sequence[str]
           ) -> pd.DataFrame:
    """The merged frame, filtered; a filter that matches nothing is an InputError naming what is there."""
    from pytest_mobiledl.report import analyses

    df = analyses.cases(runs)
    for option, column, wanted in (("models", "model", models), ("libs", "base_lib", libs),
                                   ("devices", "device", devices)):
        present = sorted(set(df[column]))
        missing = [w for w in wanted if w not in present]
        if missing:
            raise InputError(f"--{option}: {', '.join(missing)} not in these runs; they hold {', '.join(present)}")
    chosen = analyses.filtered(df, models, libs, devices)
    if chosen.empty:
        raise InputError("no case of these runs has all of the --models, --libs and --devices asked for together")
    return chosen


def write_html(path: Path, runs: Sequence[Run], df: pd.DataFrame, sections: Sequence[Table] | None = None) -> None:
    from pytest_mobiledl.report import contents, page, plots

    sections = sections if sections is not None else contents.build(runs, df)
    shown = sorted(set(df["run"])) if not df.empty else []
    summary = (f"{len(df)} cases from {len(shown)} run(s) ({', '.join(shown)}), "
               f"{df['base_lib'].nunique() if not df.empty else 0} libraries, "
               f"{df['device'].nunique() if not df.empty else 0} device(s). "
               "The same item measured in several runs stays one row per run.")
    from pytest_mobiledl.storage import write_atomic

    html = page.html_page("pytest-mobiledl report", summary, sections, plots.make(df))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, html.encode("utf-8"))


def session_page(path: Path, records: Sequence[RunRecord], compared: Sequence[Table] = ()) -> None:
    """--mobiledl-report: the page over this session's records, with the tables the session printed."""
    from pytest_mobiledl.report import analyses, contents

    runs = [Run("session", path, tuple(records))]
    df = analyses.cases(runs)
    write_html(path, runs, df, contents.merged(contents.build(runs, df), contents.session(records, compared)))


def _list(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _warn(line: str) -> None:
    print(f"mobiledl report: {line}", file=sys.stderr)
