"""What a service may use of its device, and the shape of a service."""

from __future__ import annotations

import os
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from pytest_mobiledl.emulator.faults import Faults
from pytest_mobiledl.emulator.sandbox import Sandbox
from pytest_mobiledl.emulator.streams import Stream


@dataclass
class Context:
    """What a service may use of its device."""

    sandbox: Sandbox
    faults: Faults
    # Process groups of running commands, so the device can kill them (fault or shutdown).
    commands: set[int] = field(default_factory=set)
    # Called with each shell command's text before it starts (the sysfs model's triggers).
    watchers: list[Callable[[str], None]] = field(default_factory=list)

    def kill_commands(self, sig: int = signal.SIGKILL) -> int:
        killed = 0
        for group in list(self.commands):
            try:
                os.killpg(group, sig)
                killed += 1
            except ProcessLookupError:
                pass
        return killed


Service = Callable[[Stream, Context], Awaitable[None]]
