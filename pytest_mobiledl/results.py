"""The session's results, on the controller: read from test reports, stored, summarized.

Records travel on ``report.user_properties``, which xdist serializes from worker to controller,
so this plugin object sees the same reports with or without xdist. It is registered only where
results are gathered (never on an xdist worker), and only it writes storage and prints tables.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from pytest_mobiledl import report, storage
from pytest_mobiledl.bench import RECORD_KEY
from pytest_mobiledl.record import RunRecord, from_dict


class Results:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.records: list[RunRecord] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        data = dict(report.user_properties).get(RECORD_KEY)
        if not isinstance(data, dict):
            return
        self.add(from_dict(data), report.nodeid, report.passed)

    def add(self, record: RunRecord, item: str, passed: bool) -> None:
        """One item's record: from its report, or from the journal a resumed session continues."""
        self.records.append(record)  # tables show parity failures too, in their own column
        if passed:
            storage.add(self.config, item, record)

    @pytest.hookimpl(optionalhook=True)
    def pytest_benchmark_update_machine_info(self, config: pytest.Config, machine_info: dict[str, Any]) -> None:
        # Static facts only: machine_info is compared between runs, so no load averages here.
        machine_info["mobiledl_devices"] = {r.device.get("serial", "?"): dict(r.device) for r in self.records}

    @pytest.hookimpl(wrapper=True)
    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> Generator[None, None, None]:
        # After pytest-benchmark's table, and even when its compare-fail raised.
        try:
            yield
        finally:
            for title, text in report.render(self.records):
                terminalreporter.write_sep("-", title)
                terminalreporter.write_line(text)
