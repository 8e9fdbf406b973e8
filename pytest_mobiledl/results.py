"""The session's results, on the controller: read from test reports, stored, compared, summarized.

Records travel on ``report.user_properties``, which xdist serializes from worker to controller,
so this plugin object sees the same reports with or without xdist. It is registered only where
results are gathered (never on an xdist worker), and only it writes storage and prints tables.
Each repeat is its own test item; an item's repeats are pooled into one stored result when the
session finishes, before pytest-benchmark saves.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pytest

from pytest_mobiledl import saved, storage
from pytest_mobiledl.bench import ITEM_KEY, RECORD_KEY
from pytest_mobiledl.errors import RecordError
from pytest_mobiledl.record import RunRecord, from_dict

if TYPE_CHECKING:
    from pytest_mobiledl import stats
    from pytest_mobiledl.variants import Variant

# report and stats load pandas, numpy and scipy: only when a session has results to show.


class Results:
    def __init__(self, config: pytest.Config, devices: Mapping[str, Mapping[str, Any]],
                 compare_fail: float | None, page: str = "", variants: Sequence[Variant] = ()) -> None:
        self.config = config
        self.page = page  # --mobiledl-report
        self.devices = devices
        self.compare_fail = compare_fail
        self.variant_order = [(v.lib, v.label) for v in variants]
        self.variants: Any = None  # the A/B table, when a case ran under several --variant builds
        self.trend: Any = None  # the sweep table, when a library ran under three builds or more
        self.records: list[RunRecord] = []  # every repeat, parity failures too: tables show them
        self.items: dict[str, list[RunRecord]] = {}  # item → its passed repeats: what is stored
        self.regressions: list[str] = []
        self.changes: Any = None  # the changes table, when a saved run was compared
        self.drift_note = ""

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        props = dict(report.user_properties)
        data = props.get(RECORD_KEY)
        if not isinstance(data, dict):
            return
        self.add(from_dict(data), str(props.get(ITEM_KEY, report.nodeid)), report.passed)

    def add(self, record: RunRecord, item: str, passed: bool) -> None:
        """One repeat's record: from its report, or from the journal a resumed session continues."""
        self.records.append(record)
        if passed:
            self.items.setdefault(item, []).append(record)

    @pytest.hookimpl(optionalhook=True)
    def pytest_benchmark_update_machine_info(self, config: pytest.Config, machine_info: dict[str, Any]) -> None:
        # Static facts of the selected devices, known before anything runs: pytest-benchmark asks
        # when it loads a run to compare with, and a value that changed would warn every time.
        machine_info["mobiledl_devices"] = {serial: dict(info) for serial, info in self.devices.items()}

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> Generator[None, None, None]:
        # Before pytest-benchmark's own sessionfinish, which saves what its session holds.
        for nodeid, records in self.items.items():
            storage.add(self.config, nodeid, sorted(records, key=lambda r: r.repeat))
        baseline = self._baseline()
        if baseline:
            from pytest_mobiledl import report

            moved = report.drift(self.items, baseline)
            table, found = report.changes(self.items, baseline, moved[0] if moved else 1.0)
            self.changes = None if table.empty else table
            self.drift_note = (f"machine drift: the {moved[1]} items whose build and artifact did not change moved "
                               f"×{moved[0]:.3f} between the sessions (median); changes are relative to it"
                               if moved else f"no drift correction: fewer than {report.MIN_CONTROLS} unchanged "
                               "items to measure the machine's drift between the sessions")
            if self.compare_fail is not None:
                self._gate(found, self.compare_fail, lambda item: "the saved run")
        if self.variant_order:
            self._variants()
        if self.regressions and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> Generator[None, None, None]:
        # After pytest-benchmark's table, and even when its compare-fail raised.
        try:
            yield
        finally:
            self._summary(terminalreporter)

    def _summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.records:
            from pytest_mobiledl import report

            sections = report.render(self.records)
            from tabulate import tabulate

            if self.changes is not None:
                sections.append(("mobiledl changes: against the saved run (--benchmark-compare)",
                                 tabulate(self.changes, headers="keys", tablefmt="github", showindex=False)
                                 + "\n" + report.CHANGES_NOTE + "\n" + self.drift_note))
            if self.variants is not None:
                sections.append(("mobiledl variants: each build against the case's first (--variant)",
                                 tabulate(self.variants, headers="keys", tablefmt="github", showindex=False)
                                 + "\n" + report.VARIANTS_NOTE))
            if self.trend is not None:
                sections.append(("mobiledl sweep: typical ms [95% CI] per build (--variant)",
                                 tabulate(self.trend, headers="keys", tablefmt="github", showindex=False)))
            for title, text in sections:
                terminalreporter.write_sep("-", title)
                terminalreporter.write_line(text)
            for line in self.regressions:
                terminalreporter.write_line(line, red=True, bold=True)
            from pytest_mobiledl.report.conditions import lines  # phones' temperatures, clocks, throttling

            for line in lines(self.records):
                terminalreporter.write_line(line)
            if self.page:
                self._page(terminalreporter)

    def _page(self, terminalreporter: pytest.TerminalReporter) -> None:
        from pathlib import Path

        from pytest_mobiledl.report import cli

        path = Path(self.page).expanduser()
        try:
            cli.session_page(path, self.records)
        except OSError as exc:
            terminalreporter.write_line(f"mobiledl: --mobiledl-report={self.page}: cannot write ({exc.strerror})",
                                        red=True)
            return
        terminalreporter.write_line(f"mobiledl: HTML report written to {path}")

    def _baseline(self) -> dict[str, list[RunRecord]]:
        baseline = {}
        for fullname, bench in storage.compared(self.config).items():
            try:
                baseline[fullname] = saved.records(bench)
            except RecordError:
                continue  # not a result of this plugin: pytest-benchmark compares it on its own
        return baseline

    def _variants(self) -> None:
        """The A/B table over the items that ran under --variant builds, gated like a saved run."""
        from pytest_mobiledl import report

        table, found = report.variants(self.items, self.variant_order)
        if table.empty:
            return
        self.variants = table
        trend = report.trend(report.sweep([r for records in self.items.values() for r in records]),
                             self.variant_order)
        self.trend = None if trend.empty else trend
        if self.compare_fail is not None:
            self._gate(found, self.compare_fail, report.base_of(table))

    def _gate(self, found: Mapping[str, stats.Change], threshold: float, against: Callable[[str], str]) -> None:
        """--mobiledl-compare-fail: one line per item whose established slowdown reaches the threshold."""
        from pytest_mobiledl import stats

        for item in stats.gate(found, threshold):
            change = found[item]
            low, high = change.low or change.ratio, change.high or change.ratio
            self.regressions.append(
                f"mobiledl: {item.rpartition('::')[2]} is {change.pct:.1f} % slower "
                f"[95% CI {(low - 1) * 100:+.1f}, {(high - 1) * 100:+.1f}] than {against(item)} "
                f"(--mobiledl-compare-fail={threshold:g}%)")
