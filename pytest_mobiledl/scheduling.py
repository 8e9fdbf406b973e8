"""xdist scheduling: every item of a device runs on that device's worker, one at a time.

A device is the unit of work (xdist's "scope"): a worker takes whole devices and never shares
one, so no phone ever runs two items at once. The host counts as one device, since two runs on
its cores would slow each other down. Every other test is a scope of its own, so it is spread
over the workers as xdist's default ``load`` mode would.
Test ids are left untouched (xdist_group would append ``@group`` to node ids and break
``--benchmark-compare`` between runs with and without xdist).

When a worker dies, its device's unfinished items are not moved to another worker (the crash
may have left the phone in any state): they are reported as errors naming the device, and every
other device goes on.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling

from pytest_mobiledl.keys import device_of


class DeviceScheduling(LoadScopeScheduling):  # type: ignore[misc]
    def __init__(self, config: pytest.Config, log: Any, serials: Iterable[str]) -> None:
        super().__init__(config, log)
        self.serials = sorted(serials, key=len, reverse=True)  # longest first: "emulator-5554" before "emu"

    def _split_scope(self, nodeid: str) -> str:
        return device_of(nodeid, self.serials) or nodeid

    def remove_node(self, node: Any) -> str | None:
        workload = self.assigned_work.get(node, {})
        pending = [(scope, nodeid) for scope, unit in workload.items() for nodeid, done in unit.items() if not done]
        device = device_of(pending[0][1], self.serials) if pending else None
        if device is None:  # shut down cleanly, or crashed on a test that is not a device's
            crashitem: str | None = super().remove_node(node)
            return crashitem
        crashitem = pending[0][1]  # items run in order: the first unfinished one was running
        lost = [nodeid for scope, nodeid in pending if scope == device and nodeid != crashitem]
        for nodeid in [crashitem, *lost]:
            workload[device][nodeid] = True  # so the base class does not hand them to another worker
        super().remove_node(node)  # requeues the other devices' unfinished work, if any
        for nodeid in lost:
            self._report_lost(nodeid, device, crashitem, node)
        return crashitem  # xdist reports the crash on it

    def _report_lost(self, nodeid: str, device: str, crashitem: str, node: Any) -> None:
        fspath, _, name = nodeid.partition("::")
        report = pytest.TestReport(
            nodeid=nodeid, location=(fspath, None, name), keywords={}, outcome="failed", when="setup",
            longrepr=f"{device}: not run: worker {node.gateway.id} crashed running {crashitem} on this device",
        )
        self.config.hook.pytest_runtest_logreport(report=report)

