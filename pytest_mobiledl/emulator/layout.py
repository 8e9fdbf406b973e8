"""Where each part of a loopback device's folder is (see rootfs.py for what is in it).

A leaf: rootfs writes the folder, sysfs keeps its /sys files current, the sandboxes map device
paths onto it, and each names the parts the same way from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Layout:
    base: Path

    @property
    def root(self) -> Path:
        return self.base / "root"

    @property
    def facts(self) -> Path:
        return self.base / "facts"

    @property
    def meminfo(self) -> Path:
        return self.facts / "meminfo"

    @property
    def cpu(self) -> Path:
        return self.facts / "cpu"

    @property
    def thermal(self) -> Path:
        return self.facts / "thermal"

    @property
    def power_supply(self) -> Path:
        return self.facts / "power_supply"

    def host(self, device_path: str) -> Path:
        """Where a device path's own file lives on this machine (mount points not followed)."""
        return self.root / device_path.lstrip("/")
