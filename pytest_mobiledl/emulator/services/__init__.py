"""Device services, by the name a client OPENs: shell (v1 and v2), exec, sync."""

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


def route(name: str) -> Service | None:
    """The service a client asked for, or None to refuse the stream (as adbd does)."""
    from pytest_mobiledl.emulator.services import shell, sync

    if name.startswith("shell:"):
        return shell.service(name[len("shell:") :], v2=False)
    if name.startswith("shell,"):
        options, _, cmd = name[len("shell,") :].partition(":")
        return shell.service(cmd, v2="v2" in options.split(","))
    if name.startswith("exec:"):
        return shell.service(name[len("exec:") :], v2=False)
    if name == "sync:":
        return sync.serve
    return None
