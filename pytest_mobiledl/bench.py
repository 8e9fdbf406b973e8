"""The flow of one item: artifact → deploy → run on the device → parse → RunRecord on the report."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import pytest

from pytest_mobiledl import parity, zoo
from pytest_mobiledl.errors import ConversionError, MobiledlError, RunnerError
from pytest_mobiledl.record import RunRecord, from_json

if TYPE_CHECKING:
    from pytest_mobiledl.devices import Completed, Device
    from pytest_mobiledl.matrix import Case
    from pytest_mobiledl.options import Selection

#: user_properties key under which an item's record travels to the controller (also across xdist).
RECORD_KEY = "mobiledl_record"


class Bench:
    """The ``mobiledl`` fixture: runs its item's case once and keeps the record."""

    def __init__(self, case: Case, selection: Selection, device: Device, item: pytest.Item) -> None:
        self.case = case
        self.selection = selection
        self.device = device
        self._item = item
        self.record: RunRecord | None = None

    def run(self) -> RunRecord:
        case = self.case
        try:
            artifact = zoo.artifact(case.model, case.lib, case.precision, self.selection.model_cache,
                                    self.selection.rebuild)
        except ConversionError as exc:
            pytest.skip(str(exc))  # the converter's own words: a finding about the library, not a bug
        try:
            model_path = self.device.deploy(artifact.path)
            record = parse(self.device.run(self.argv(model_path), self.selection.runner_timeout), case)
        except MobiledlError as exc:
            pytest.fail(f"{case.device} {case.lib}: {exc}", pytrace=False)
        self.record = record.with_(device=dict(self.device.info()), parity=artifact.parity)
        self._item.user_properties.append((RECORD_KEY, self.record.to_dict()))
        if not artifact.parity["passed"]:  # measured, but of a model that is not the source model
            pytest.fail(f"{case.device} {case.lib}: {parity.describe(artifact.parity)}", pytrace=False)
        return self.record

    def argv(self, model_path: str) -> list[str]:
        s, case = self.selection, self.case
        return [sys.executable, "-m", "pytest_mobiledl.runner", "--lib", case.lib, "--model", model_path,
                "--model-id", case.model, "--backend", case.backend, "--precision", case.precision,
                "--threads", str(case.threads), "--warmup", str(s.warmup), "--iterations", str(s.iterations),
                "--min-time", str(s.min_time), "--delay-ms", str(s.delay_ms)]


def parse(done: Completed, case: Case) -> RunRecord:
    """Exactly one valid record for exactly this case, or a RunnerError saying what came instead."""
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise RunnerError(lines[-1] if lines else f"runner exited with status {done.returncode}", done.stderr[-2000:])
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    if len(lines) != 1:
        raise RunnerError(f"runner printed {len(lines)} lines on stdout, expected one record", done.stdout[-2000:])
    record = from_json(lines[0])
    got = (record.lib, record.model, record.backend, record.precision, record.threads)
    want = (case.lib, case.model, case.backend, case.precision, case.threads)
    if got != want:
        raise RunnerError(f"runner reported {got} for case {want}")
    return record
