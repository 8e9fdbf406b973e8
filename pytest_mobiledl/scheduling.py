"""xdist scheduling: every item of a device runs on that device's worker, one at a time.

A device is the unit of work (xdist's "scope"): a worker takes whole devices and never shares
one, so no phone ever runs two items at once. The host counts as one device, since two runs on
its cores would slow each other down. Other tests keep xdist's usual per-module scopes.
Test ids are left untouched (xdist_group would append ``@group`` to node ids and break
``--benchmark-compare`` between runs with and without xdist).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling


class DeviceScheduling(LoadScopeScheduling):  # type: ignore[misc]
    def __init__(self, config: pytest.Config, log: Any, serials: Iterable[str]) -> None:
        super().__init__(config, log)
        self.serials = sorted(serials, key=len, reverse=True)  # longest first: "emulator-5554" before "emu"

    def _split_scope(self, nodeid: str) -> str:
        return device_of(nodeid, self.serials) or nodeid.split("::", 1)[0]


def device_of(nodeid: str, serials: Iterable[str]) -> str | None:
    """The device of a benchmark item (its id starts with the serial), or None."""
    _, bracket, param = nodeid.partition("[")
    if bracket:
        for serial in serials:
            if param.startswith(f"{serial}-"):
                return serial
    return None
