"""Devices: where a runner runs. Host, ADB phones and the emulator are interchangeable behind ``Device``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Protocol

#: Seconds a short command of the device layer may take (a state read, a file test).
QUICK_S = 30.0


@dataclass(frozen=True)
class Completed:
    """What a command left behind on the device."""

    returncode: int
    stdout: str
    stderr: str


class Kind(str, Enum):
    """What a device is, for the few choices that depend on it (``Device.kind``)."""

    #: This machine: this package's runner in a fresh local process, pinning itself; no state to read.
    HOST = "host"
    #: A phone (or the loopback emulator) through an adb server: its own tools, taskset, state read around runs.
    ADB = "adb"


class Device(Protocol):
    """What a device can do. The host, an adb phone and the steady-state wrapper around either
    all implement every method; where one has nothing to do (the host's lock), it does nothing."""

    #: Unique id, first in every test id: ``host`` or the adb serial.
    serial: str
    #: A scratch directory for this session, where commands run.
    workdir: str
    kind: Kind

    def info(self) -> Mapping[str, Any]:
        """Static facts (model, CPU, cores, memory…) that go into every record of this device."""
        ...

    def deploy(self, local: Path) -> str:
        """Make a file available on the device (only if changed); returns its path there."""
        ...

    def run(self, argv: Sequence[str], timeout: float) -> Completed:
        """Run argv there; raises RunnerError on timeout after killing what it started."""
        ...

    def shell(self, command: str, timeout: float = QUICK_S) -> Completed:
        """A short shell command of the device layer (one round trip on a phone)."""
        ...

    def put(self, content: bytes, remote: str) -> None:
        """Write a small file at an exact path (a native tool's staged inputs)."""
        ...

    def pull(self, remote: str, local: Path) -> None:
        """Copy a file from the device (a native tool's outputs)."""
        ...

    def hold(self, run_s: float, wait_s: float) -> AbstractContextManager[None]:
        """The device's own lock against sessions on other machines, for one run of up to ``run_s``."""
        ...

    def reap(self) -> None:
        """Kill runners a killed session left running here (once per session)."""
        ...

    def reserve(self, argvs: Sequence[Sequence[str]], timeout: float) -> None:
        """Get ready to run these commands at once (a lockstep block)."""
        ...

    def cleanup(self) -> None:
        """Remove what this session put on the device."""
        ...
