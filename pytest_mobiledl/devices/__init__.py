"""Devices: where a runner runs. Host, ADB phones and the emulator are interchangeable behind ``Device``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True)
class Completed:
    """What a command left behind on the device."""

    returncode: int
    stdout: str
    stderr: str


class Device(Protocol):
    #: Unique id, first in every test id: ``host`` or the adb serial.
    serial: str

    #: A scratch directory for this session, where commands run.
    workdir: str

    def info(self) -> Mapping[str, Any]:
        """Static facts (model, CPU, cores, memory…) that go into every record of this device."""
        ...

    def deploy(self, local: Path) -> str:
        """Make a file available on the device (only if changed); returns its path there."""
        ...

    def run(self, argv: Sequence[str], timeout: float) -> Completed:
        """Run argv there; raises RunnerError on timeout after killing what it started."""
        ...

    def cleanup(self) -> None:
        """Remove what this session put on the device."""
        ...
