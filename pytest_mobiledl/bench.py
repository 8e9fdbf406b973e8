"""The flow of one item: artifact → runner (deploy, run on the device, parse) → RunRecord on the report."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pytest_mobiledl import parity, plausibility, progress, runners, zoo
from pytest_mobiledl.devices import lock
from pytest_mobiledl.errors import ConversionError, DiskFullError, MobiledlError
from pytest_mobiledl.matrix import repeat_id
from pytest_mobiledl.record import RunRecord
from pytest_mobiledl.steady import Steady

if TYPE_CHECKING:
    from pytest_mobiledl.devices import Device
    from pytest_mobiledl.matrix import Case
    from pytest_mobiledl.options import Selection

#: user_properties key under which an item's record travels to the controller (also across xdist).
RECORD_KEY = "mobiledl_record"
#: user_properties key naming the case's item (the node id without the repeat): what is stored.
ITEM_KEY = "mobiledl_item"
#: engine_options key holding a --variant's label.
VARIANT = "variant"


class Bench:
    """The ``mobiledl`` fixture: runs one repeat of its item's case and keeps the record."""

    def __init__(self, case: Case, repeat: int, selection: Selection, device: Device, item: pytest.Item) -> None:
        self.case = case
        self.repeat = repeat
        self.selection = selection
        self.device = device
        self._item = item
        self.record: RunRecord | None = None

    def run(self) -> RunRecord:
        case, selection = self.case, self.selection
        # pytest.skip/fail outside the except blocks: raised inside one, the cause would be
        # printed again under "During handling of the above exception".
        lib = f"{case.lib}@{case.variant}" if case.variant else case.lib  # failures name the build
        skipped = full = ""
        try:
            artifact = zoo.artifact(case.model, case.lib, case.precision, selection.model_cache, selection.rebuild,
                                    selection.user_models.get(case.model), progress.past_capture(self._item.config))
        except ConversionError as exc:
            skipped = str(exc)  # the converter's own words: a finding about the library, not a bug
        except DiskFullError as exc:
            full = f"{case.device} {lib}: {exc}"  # the machine's problem: a failure, never a skip
        if skipped:
            pytest.skip(skipped)
        if full:
            pytest.fail(full, pytrace=False)
        try:
            # A lock per phone across sessions; waiting for another session's run counts as a run.
            with lock.exclusive(self.device, selection.runner_timeout + lock.GRACE_S):
                runner = runners.runner_for(self.device, case, selection)
                device = Steady(self.device, selection)  # cooldown, cores, clocks, energy: steady.py
                record = device.finish(runner.run(device, case, artifact, selection))
        except MobiledlError as exc:
            failed = f"{case.device} {lib}: {exc}"
        else:
            failed = ""
        if failed:
            pytest.fail(failed, pytrace=False)
        implausible = plausibility.check(record, artifact.meta.get("macs"))
        if implausible:
            pytest.fail(f"{case.device} {lib}: {implausible}", pytrace=False)
        other = zoo.ran_other(artifact, record.artifact_sha256)  # every repeat: parity only for the bytes it checked
        if other:
            pytest.fail(f"{case.device} {lib}: {other}", pytrace=False)
        self.record = record.with_(device=dict(self.device.info()), parity=artifact.parity, repeat=self.repeat)
        if case.variant:  # which build ran: saved with the record, so tables and saved runs tell variants apart
            self.record = self.record.with_(engine_options={**self.record.engine_options, VARIANT: case.variant})
        item_id = self._item.nodeid.replace(f"[{repeat_id(case, self.repeat, self.selection.repeats)}]",
                                            f"[{case.id}]")
        self._item.user_properties += [(RECORD_KEY, self.record.to_dict()), (ITEM_KEY, item_id)]
        if not artifact.parity["passed"]:  # measured, but of a model that is not the source model
            pytest.fail(f"{case.device} {lib}: {parity.describe(artifact.parity)}", pytrace=False)
        return self.record
