"""The session's results, on the controller: read from test reports, stored, compared, summarized.

Records travel on ``report.user_properties``, which xdist serializes from worker to controller,
so this plugin object sees the same reports with or without xdist. It is registered only where
results are gathered (never on an xdist worker), and only it writes storage and prints tables.
Each repeat is its own test item; an item's repeats are pooled into one stored result when the
session finishes, before pytest-benchmark saves.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pytest

from pytest_mobiledl import saved, storage
from pytest_mobiledl.errors import RecordError
from pytest_mobiledl.keys import carried, name_of
from pytest_mobiledl.record import RunRecord, from_dict

if TYPE_CHECKING:
    from pytest_mobiledl.compare import Comparison
    from pytest_mobiledl.options import Selection
    from pytest_mobiledl.report.contents import Table

# report and stats load pandas, numpy and scipy: only when a session has results to show.


class Results:
    def __init__(self, config: pytest.Config, devices: Mapping[str, Mapping[str, Any]], selection: Selection) -> None:
        self.config = config
        self.page = selection.report  # --mobiledl-report
        self.devices = devices
        self.compare_fail = selection.compare_fail
        self.strict = selection.compare_strict
        self.variant_order = [(v.lib, v.label) for v in selection.variants]
        self.records: list[RunRecord] = []  # every repeat, parity failures too: tables show them
        self.items: dict[str, list[RunRecord]] = {}  # item → its passed repeats: what is stored
        self.regressions: list[str] = []
        self.gate_notes: list[str] = []  # what the gate could not judge, and what would let it
        self.compared: list[Table] = []  # changes, variants, sweep: what this session compared
        self.page_note = ""  # where --mobiledl-report's page went

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        data, item = carried(report)
        if data is not None:
            self.add(from_dict(data), item, report.passed)

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
        self.items = storage.pooled(self.config, self.items)  # only repeats that agree on how they ran
        for nodeid, records in self.items.items():
            storage.add(self.config, nodeid, sorted(records, key=lambda r: r.repeat))
        baseline = self._baseline()
        if baseline:
            from pytest_mobiledl import report
            from pytest_mobiledl.report.contents import Table

            table, found, drift = report.changes(self.items, baseline, self.compare_fail)
            if not table.empty:
                self.compared.append(Table("changes", "Changes: against the saved run (--benchmark-compare)",
                                           report.changes_note(self.compare_fail) + "\n" + drift, table))
            if self.compare_fail is not None:
                self._gate(found, self.compare_fail)
        if self.variant_order:
            self._variants()
        if self.page and self.records:  # written now: a report asked for and not written fails the session
            self._page()
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
        if not self.records:
            return
        from tabulate import tabulate

        from pytest_mobiledl.report import conditions, contents

        for table in contents.session(self.records, self.compared):  # what the HTML page shows too
            terminalreporter.write_sep("-", f"mobiledl {table.title[0].lower()}{table.title[1:]}")
            if not table.frame.empty:
                terminalreporter.write_line(tabulate(table.frame, headers="keys", tablefmt="github", showindex=False))
            terminalreporter.write_line(table.note)
        for line in [*warnings(self.items, self.devices), *self.gate_notes]:
            terminalreporter.write_line(line, yellow=True)
        for line in self.regressions:
            terminalreporter.write_line(line, red=True, bold=True)
        for line in conditions.lines(self.records):  # phones' temperatures, clocks, throttling
            terminalreporter.write_line(line)
        if self.page_note:
            terminalreporter.write_line(self.page_note)

    def _page(self) -> None:
        """Write --mobiledl-report's page now, while the session's exit status can still say it failed."""
        from pathlib import Path

        from pytest_mobiledl.report import cli

        path = Path(self.page).expanduser()
        try:
            cli.session_page(path, self.records, self.compared)
        except OSError as exc:
            self.regressions.append(f"mobiledl: --mobiledl-report={self.page}: cannot write ({exc.strerror})")
            return
        self.page_note = f"mobiledl: HTML report written to {path}"

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
        from pytest_mobiledl.report.contents import Table

        table, found = report.variants(self.items, self.variant_order, self.compare_fail)
        if table.empty:
            return
        self.compared.append(Table("variants", "Variants: each build against the case's first (--variant)",
                                   report.variants_note(self.compare_fail), table))
        trend = report.trend(report.sweep([r for records in self.items.values() for r in records]),
                             self.variant_order)
        if not trend.empty:
            self.compared.append(Table("sweep", "Sweep: typical ms [95% CI] per build (--variant)",
                                       "each build's typical latency per case, in the order the builds were given",
                                       trend))
        if self.compare_fail is not None:
            self._gate(found, self.compare_fail)

    def _gate(self, found: Sequence[Comparison], threshold: float) -> None:
        """--mobiledl-compare-fail: one line per item whose established slowdown reaches the threshold;
        a line on what it could not judge (with --mobiledl-compare-strict, those fail too)."""
        from pytest_mobiledl import compare
        from pytest_mobiledl.report.cells import signed_pct

        for c in compare.failing(found, threshold):
            ci = f"[95% CI {signed_pct(c.change.low)}, {signed_pct(c.change.high)}]"
            self.regressions.append(f"mobiledl: {name_of(c.item)} is {c.change.pct:.1f} % slower {ci} than "
                                    f"{c.against} (--mobiledl-compare-fail={threshold:g}%; {c.how})")
        unjudged = compare.undecided(found, threshold)
        if not unjudged:
            return
        needed = [n for c in unjudged if (n := compare.repeats_needed(c, threshold)) is not None]
        more = f"; about --repeats={max(needed)} would narrow them to ±{threshold / 2:g} %" if needed else ""
        self.gate_notes.append(f"mobiledl: the gate could not judge {len(unjudged)} of {len(found)} items at "
                               f"{threshold:g} %: their 95 % CI still holds a {threshold:g} % slowdown{more}")
        if self.strict:
            self.regressions += [f"mobiledl: {name_of(c.item)}: cannot tell whether it is "
                                 f"{threshold:g} % slower ({signed_pct(c.change.low)}, {signed_pct(c.change.high)}; "
                                 f"{c.verdict}) (--mobiledl-compare-strict)" for c in unjudged]


#: A repeat this much slower than its item's typical latency ran in a slow phase of the machine.
SLOWED = 1.2


def warnings(items: Mapping[str, Sequence[RunRecord]], devices: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """What makes this session's figures weaker than they look, one line each."""
    import os
    import platform

    from pytest_mobiledl import stats

    lines = []
    few = sorted({len(rs) for rs in items.values() if len(rs) < 3})
    if few:
        lines.append(f"mobiledl: {sum(len(rs) < 3 for rs in items.values())} items have {'/'.join(map(str, few))} "
                     "repeat(s): below 3 a CI is n/a or very wide (Student's t is 12.7 at 2); use --repeats=5")
    records = [r for rs in items.values() for r in rs]
    cores = os.cpu_count() or 1
    loads = [r.load_avg_1m for r in records if r.load_avg_1m is not None and r.device.get("serial") == "host"]
    slowed = [r.median_ms > SLOWED * stats.estimate([x.median_ms for x in rs]).value
              for rs in items.values() if len(rs) >= 3 for r in rs]
    if loads and max(loads) > cores:
        share = f"; {sum(slowed) / len(slowed):.0%} of repeats ran ≥ {SLOWED - 1:.0%} slower than their item's " \
                "typical latency" if slowed else ""
        lines.append(f"mobiledl: this machine was loaded: load average up to {max(loads):.1f} on {cores} cores "
                     f"({sum(v > cores for v in loads) / len(loads):.0%} of host runs began above {cores}){share}; "
                     "absolute latencies carry it, paired verdicts much less")
    local = [s for s, info in devices.items() if s == "host" or (platform.machine() in str(info.get("abilist", ""))
             and str(info.get("adb_server", "")).startswith(("127.", "localhost")))]
    if len(local) > 1:
        lines.append(f"mobiledl: {', '.join(local)} run on this machine's cores (the host and loopback emulated "
                     "devices): with -n they slow each other; compare within a device, not across them")
    return lines

