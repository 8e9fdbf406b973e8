"""Device services, by the name a client OPENs: shell (v1 and v2), exec, sync."""

from __future__ import annotations

from pytest_mobiledl.emulator.services import shell, sync
from pytest_mobiledl.emulator.services.context import Service


def route(name: str) -> Service | None:
    """The service a client asked for, or None to refuse the stream (as adbd does)."""
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
