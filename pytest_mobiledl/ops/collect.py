"""The session's op profiles, on the controller: gathered from reports, saved with the run, shown short.

Profiles travel on ``report.user_properties`` (``OPS_KEY``) like records, so xdist carries them.
They are saved inside the run's JSON through pytest-benchmark's public ``pytest_benchmark_update_json``
hook, under ``mobiledl_ops`` (``saved.PROFILES``: a list of OpProfile dicts, each with its ``schema``): the saved run
and ``--benchmark-json`` keep them, runs saved before profiles existed simply have none, and
RunRecord is untouched. Against ``--benchmark-compare``, the compared file's profiles give the
"which op class changed" table.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import Any

import pytest

from pytest_mobiledl import journal, saved, storage
from pytest_mobiledl.keys import OPS_KEY
from pytest_mobiledl.ops.profile import OpProfile, from_dict

#: Beside the journals: profiles of a session that saved no run.
FOLDER = "mobiledl-ops"


class Collector:
    def __init__(self, config: pytest.Config, variant_order: Sequence[str] = ()) -> None:
        self.config = config
        self.variant_order = list(variant_order)  # --variant labels as given: the first is each library's base
        self.profiles: list[OpProfile] = []
        self.saved: Path | None = None  # where the profiles went when no run was saved to hold them
        self._in_run = False

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" and report.passed:
            data = dict(report.user_properties).get(OPS_KEY)
            if isinstance(data, dict):
                self.profiles.append(from_dict(data))

    @pytest.hookimpl(optionalhook=True)
    def pytest_benchmark_update_json(self, config: pytest.Config, benchmarks: Any, output_json: dict[str, Any]) -> None:
        if self.profiles:
            output_json[saved.PROFILES] = [p.to_dict() for p in self.profiles]
            self._in_run = True

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        # After pytest-benchmark saved (its hook wraps this one). A session of profiling items only
        # saves no run (it has no benchmark): the profiles get a file of their own beside the journals.
        if self.profiles and not self._in_run:
            folder = journal.folder(self.config).parent / FOLDER
            folder.mkdir(parents=True, exist_ok=True)
            self.saved = folder / f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.json"
            self.saved.write_text(json.dumps({saved.PROFILES: [p.to_dict() for p in self.profiles]}) + "\n")

    @pytest.hookimpl(wrapper=True)
    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> Generator[None, None, None]:
        try:
            yield
        finally:
            if self.profiles:
                terminalreporter.write_line("")
                terminalreporter.write_line(self.summary())
                if self.saved:
                    terminalreporter.write_line(f"op profiles (no run saved to hold them) written to {self.saved}")

    def summary(self) -> str:
        """Short: the best-of-all projection, the classes that differ most, what changed since the compared run."""
        from tabulate import tabulate

        from pytest_mobiledl.report import ops

        df = ops.frame(self.profiles)
        parts = []
        for title, table in (("op profiles: where libraries differ most", ops.differ_most(df, top=2)),
                             ("best of all (projection; caveats: docs/ops.md)", ops.projection(df)),
                             ("which op class changed since the compared run", ops.changes(self._compared(),
                                                                                           self.profiles)),
                             ("which op class changed between the --variant builds",
                              ops.variant_changes(self.profiles, self.variant_order))):
            if not table.empty:
                parts.append(f"--- {title}\n" + tabulate(table, headers="keys", tablefmt="github", showindex=False,
                                                          missingval="—"))
        missing: dict[tuple[str, str], list[str]] = {}
        for p in self.profiles:
            if not p.ops:  # one line per library and reason, naming its models
                missing.setdefault((p.label, p.note.partition(": its per-layer sum")[0]), []).append(p.model)
        for (label, note), models in sorted(missing.items()):
            parts.append(f"no profile: {label} ({', '.join(sorted(models))}): {note}")
        return "\n\n".join(parts) or "op profiles: nothing to compare (one library per case)"

    def _compared(self) -> list[OpProfile]:
        out: list[OpProfile] = []
        for path in storage.compared_paths(self.config):
            try:
                with open(path, encoding="utf-8") as f:
                    out.extend(saved.profiles(json.load(f)))
            except (OSError, ValueError):
                continue  # the compared run stays compared for latency; its profiles are not required
        return out
