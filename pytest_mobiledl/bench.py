"""The flow of one item: artifact → runner (deploy, run on the device, parse) → RunRecord on the report."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import pytest

from pytest_mobiledl import blocks, dispatch, parity, plausibility, progress, zoo
from pytest_mobiledl.devices import lock
from pytest_mobiledl.errors import ConversionError, DiskFullError, MobiledlError
from pytest_mobiledl.keys import ITEM_KEY, RECORD_KEY, VARIANT, build_name, case_item
from pytest_mobiledl.matrix import repeat_id
from pytest_mobiledl.record import RunRecord
from pytest_mobiledl.steady import Steady
from pytest_mobiledl.zoo import Artifact

if TYPE_CHECKING:
    from pytest_mobiledl.devices import Device
    from pytest_mobiledl.matrix import Case
    from pytest_mobiledl.options import Selection

class Bench:
    """The ``mobiledl`` fixture: runs one repeat of its item's case (with its block) and keeps the record."""

    def __init__(self, case: Case, repeat: int, selection: Selection, device: Device, item: pytest.Item,
                 kept: blocks.Kept | None = None) -> None:
        self.case = case
        self.repeat = repeat
        self.selection = selection
        self.device = device
        self._item = item
        self._kept = kept or blocks.Kept()
        self.record: RunRecord | None = None

    def run(self) -> RunRecord:
        case = self.case
        # pytest.skip/fail outside the except blocks: raised inside one, the cause would be
        # printed again under "During handling of the above exception".
        lib = build_name(case.lib, case.variant)  # failures name the build
        block = blocks.member_key(self._item, case, self.repeat)
        outcome = self._kept.take(block, case) or self._run_block(block)
        if outcome.skipped:
            pytest.skip(outcome.skipped)
        if outcome.error is not None or outcome.record is None or outcome.artifact is None:
            pytest.fail(f"{case.device} {lib}: {outcome.error}", pytrace=False)
        record, artifact = outcome.record, outcome.artifact
        implausible = plausibility.check(record, artifact.meta.get("macs"))
        if implausible:
            pytest.fail(f"{case.device} {lib}: {implausible}", pytrace=False)
        other = zoo.ran_other(artifact, record.artifact_sha256)  # every repeat: parity only for the bytes it checked
        if other:
            pytest.fail(f"{case.device} {lib}: {other}", pytrace=False)
        self.record = record.with_(device=dict(self.device.info()), parity=artifact.parity, repeat=self.repeat)
        if case.variant:  # which build ran: saved with the record, so tables and saved runs tell variants apart
            self.record = self.record.with_(engine_options={**self.record.engine_options, VARIANT: case.variant})
        item_id = case_item(self._item.nodeid, repeat_id(case, self.repeat, self.selection.repeats), case.id)
        self._item.user_properties += [(RECORD_KEY, self.record.to_dict()), (ITEM_KEY, item_id)]
        if not artifact.parity["passed"]:  # measured, but of a model that is not the source model
            pytest.fail(f"{case.device} {lib}: {parity.describe(artifact.parity)}", pytrace=False)
        return self.record

    def _run_block(self, block: str) -> blocks.Outcome:
        """This case with the rest of its block that is still to run: its own outcome; the others' are kept."""
        selection = self.selection
        block_cases = self._block()
        mates = block_cases[block_cases.index(self.case) + 1:] if self.case in block_cases else []
        plans = {self.case: self._plan(self.case)}
        if selection.lockstep and isinstance(plans[self.case].runner, dispatch.PythonRunner):  # the block in lockstep
            plans.update({case: self._plan(case) for case in mates})
        together = [c for c in plans if isinstance(plans[c].runner, dispatch.PythonRunner)]
        if len(together) < 2:  # a phone's own tools: this case alone, the others in turn after it
            together = [self.case]
        mode = "lockstep" if len(together) > 1 else "sequence"
        outcomes = {c: blocks.Outcome(p.artifact, error=p.error, skipped=p.skipped) for c, p in plans.items()}
        ready = [c for c in together if plans[c].runner is not None]
        try:
            # A lock per phone across sessions; waiting for another session's run counts as a run.
            with lock.exclusive(self.device, selection.runner_timeout * max(1, len(ready)) + lock.GRACE_S):
                device = Steady(self.device, selection)  # cooldown, cores, clocks, energy: steady.py
                outcomes.update(self._execute(device, ready, plans, mode))
        except MobiledlError as exc:
            outcomes.update({c: blocks.Outcome(plans[c].artifact, error=exc) for c in ready})
        size = len(together) if mode == "lockstep" else len(block_cases)
        ident = blocks.block_id(blocks.block_key(self.case, self.repeat), self._kept.token)
        for case, outcome in outcomes.items():
            if outcome.record is not None:
                record = outcome.record.with_(block={**outcome.record.block, "id": ident, "mode": mode, "size": size})
                outcomes[case] = blocks.Outcome(outcome.artifact, record)
            if case != self.case and (case in together or outcome.error or outcome.skipped):
                self._kept.keep(block, case, outcomes[case])  # a mate run later alone would plan again
        return outcomes[self.case]

    def _execute(self, device: Steady, cases: list[Case], plans: dict[Case, Plan], mode: str
                 ) -> dict[Case, blocks.Outcome]:
        if not cases:
            return {}
        if mode == "sequence":
            case = cases[0]
            artifact, runner = plans[case].artifact, plans[case].runner
            assert artifact is not None and runner is not None
            record = device.finish(runner.run(device, case, artifact, self.selection))
            return {case: blocks.Outcome(artifact, record)}
        commands = []
        for case in cases:
            artifact, runner = plans[case].artifact, plans[case].runner
            assert artifact is not None and isinstance(runner, dispatch.PythonRunner)
            commands.append(runner.command(device, case, artifact, self.selection))
        results = blocks.run_lockstep(device, commands, self.selection)
        parsed: dict[Case, RunRecord | MobiledlError] = {}
        for case, done in zip(cases, results, strict=True):
            try:
                parsed[case] = done if isinstance(done, MobiledlError) else dispatch.parse_record(done, case)
            except MobiledlError as exc:
                parsed[case] = exc
        records = [r for r in parsed.values() if isinstance(r, RunRecord)]
        finished = iter(device.finish_all(records))
        return {case: blocks.Outcome(plans[case].artifact, next(finished)) if isinstance(got, RunRecord)
                else blocks.Outcome(plans[case].artifact, error=got) for case, got in parsed.items()}

    def _plan(self, case: Case) -> Plan:
        """The case's artifact and runner, or why it cannot run (a conversion skip, a runner error)."""
        selection = self.selection
        try:
            artifact = zoo.artifact(case.model, case.lib, case.precision, selection.model_cache, selection.rebuild,
                                    selection.user_models.get(case.model), progress.past_capture(self._item.config))
        except DiskFullError as exc:
            return Plan(error=exc)  # the machine's problem: a failure, never a skip
        except ConversionError as exc:
            return Plan(skipped=str(exc))  # the converter's own words: a finding about the library
        try:
            return Plan(artifact, dispatch.runner_for(self.device, case, selection))
        except MobiledlError as exc:
            return Plan(artifact, error=exc)

    def _block(self) -> list[Case]:
        """Every case of this item's block this session runs, in run order (this one included)."""
        key = blocks.member_key(self._item, self.case, self.repeat)
        return self._kept.members(self._item.session.items).get(key, [self.case])


class Plan(NamedTuple):
    """A case's artifact and runner, or the error that keeps it from running, or why it is skipped."""

    artifact: Artifact | None = None
    runner: dispatch.Runner | None = None
    error: MobiledlError | None = None
    skipped: str = ""
