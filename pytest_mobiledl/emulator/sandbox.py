"""Where a loopback device's commands run and its files live: a folder standing in for the phone.

Two kinds, one interface:
- `ChrootSandbox` (chroot.py; root with mount namespaces): commands run as uid 2000 in a chroot
  that sees a real /data/local/tmp and the host's binaries and Python interpreters.
- `RewriteSandbox` (here; no privilege needed): commands run as the current user, and device
  paths in the command text (/data/local/tmp, /system, /proc/meminfo, /sys/devices/system/cpu,
  /sys/class/thermal, /sys/class/power_supply)
  are rewritten to the folder. Shebangs and paths built at run time are not rewritten.

`farms.open_sandbox` picks the kind, above both.
"""

from __future__ import annotations

import posixpath
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pytest_mobiledl.emulator import rootfs
from pytest_mobiledl.emulator.errors import SandboxError
from pytest_mobiledl.emulator.layout import Layout

HOST_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"


@dataclass(frozen=True)
class Spawn:
    """How to start one device command on this machine."""

    argv: tuple[str, ...]
    env: Mapping[str, str]
    cwd: str


class Sandbox:
    mode: str = ""
    # Who owns what a push creates (None: whoever runs the emulator).
    owner: int | None = None

    def __init__(self, layout: Layout) -> None:
        self.layout = layout

    def command(self, cmd: str) -> Spawn:
        """`sh -c cmd` on the device, or an interactive `sh` when cmd is empty."""
        raise NotImplementedError

    def resolve(self, device_path: str, follow: bool = True) -> tuple[str, str]:
        """(device path with symlinks resolved as the device sees them, host path to open)."""
        raise NotImplementedError

    def close(self) -> None:
        """Stop everything still running on the device and remove its folder."""
        _remove(self.layout.base)


def writable(device_path: str) -> bool:
    """Where a phone lets the shell user push: /data/local/tmp and below."""
    return device_path == rootfs.TMP or device_path.startswith(rootfs.TMP + "/")


def device_env(root: str = "", path_tail: str = HOST_PATH) -> dict[str, str]:
    """A phone's shell environment; `root` prefixes device paths when they are rewritten."""
    tmp = root + rootfs.TMP
    return {
        "PATH": f"{root}{rootfs.SYSTEM_BIN}:{path_tail}",
        "HOME": tmp,  # a phone says "/"; writable here, since Python tools cache under ~
        "TMPDIR": tmp,
        "ANDROID_DATA": root + "/data",
        "ANDROID_ROOT": root + "/system",
        "SHELL": root + rootfs.SYSTEM_BIN + "/sh",
        "USER": "shell",
        "LOGNAME": "shell",
        "TERM": "dumb",
    }


class RewriteSandbox(Sandbox):
    mode = "rewrite"

    def __init__(self, layout: Layout) -> None:
        super().__init__(layout)
        root = str(layout.root)
        self._targets = {
            rootfs.TMP: root + rootfs.TMP,
            "/system": root + "/system",
            "/proc/meminfo": str(layout.meminfo),
            "/sys/devices/system/cpu": str(layout.cpu),
            "/sys/class/thermal": str(layout.thermal),
            "/sys/class/power_supply": str(layout.power_supply),
        }
        names = "|".join(re.escape(prefix) for prefix in sorted(self._targets, key=len, reverse=True))
        # A device path starts a word and ends at a separator: "/systemd" and "/x/system" stay.
        self._pattern = re.compile(rf"(?<![\w.~/-])({names})(?![\w.-])")
        self._env = device_env(root)

    def rewrite(self, text: str) -> str:
        return self._pattern.sub(lambda match: self._targets[match.group(1)], text)

    def command(self, cmd: str) -> Spawn:
        argv = ("/bin/sh", "-c", self.rewrite(cmd)) if cmd else ("/bin/sh",)
        return Spawn(argv, self._env, str(self.layout.root))

    def resolve(self, device_path: str, follow: bool = True) -> tuple[str, str]:
        path = posixpath.normpath("/" + device_path.lstrip("/"))
        return path, self.rewrite(path)


def _remove(base: Path) -> None:
    """Delete a device folder, unless something is still mounted inside it (never delete through)."""
    prefix = str(base.resolve()) + "/"
    with open("/proc/self/mountinfo") as mounts:
        inside = [line.split()[4] for line in mounts if line.split()[4].startswith(prefix)]
    if inside:
        raise SandboxError(f"not removing {base}: still mounted at {inside[0]}")
    shutil.rmtree(base, ignore_errors=True)
