"""AdbDevice: a phone — or the loopback emulator — behind any adb server, through adbutils.

Files are pushed content-addressed under ``/data/local/tmp/mobiledl/files/<sha256>/``: a runner
or model already there is not pushed again, in this session or the next, and a push lands under
a temporary name first so an interrupted one is never mistaken for the file. Each session runs
in its own working directory, removed at the end. Commands go through ``shell2(v2=True)``
(exit status and separate stderr; adbutils' plain ``shell()`` is quadratic in output size).
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import socket
import uuid
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_mobiledl.devices import Completed
from pytest_mobiledl.errors import MobiledlError, RunnerError

if TYPE_CHECKING:
    import adbutils

ROOT = "/data/local/tmp/mobiledl"
FILES = f"{ROOT}/files"
#: Seconds for the short commands of the device layer itself (properties, mkdir, rm).
QUICK_S = 30.0

PROPS = {
    "manufacturer": "ro.product.manufacturer",
    "model": "ro.product.model",
    "soc": "ro.soc.model",
    "board": "ro.board.platform",
    "abi": "ro.product.cpu.abilist",
    "sdk": "ro.build.version.sdk",
    "release": "ro.build.version.release",
}


def parse_servers(value: str) -> list[tuple[str, int]]:
    """``host:port[,host:port…]``; ValueError names the bad entry."""
    servers = []
    for entry in (v.strip() for v in value.split(",")):
        host, _, port = entry.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{entry!r} is not host:port (e.g. 127.0.0.1:5037)")
        servers.append((host, int(port)))
    return servers


def default_server() -> str:
    """Where adb itself looks: ANDROID_ADB_SERVER_HOST/PORT, else 127.0.0.1:5037."""
    host = os.environ.get("ANDROID_ADB_SERVER_HOST", "127.0.0.1")
    return f"{host}:{os.environ.get('ANDROID_ADB_SERVER_PORT', '5037')}"


def listening(host: str, port: int) -> bool:
    """Probe first: adbutils would otherwise start an adb server as a side effect."""
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def discover(servers: Sequence[tuple[str, int]]) -> dict[str, AdbDevice]:
    """Every device in state ``device`` on every server, by serial."""
    import adbutils

    found: dict[str, AdbDevice] = {}
    for host, port in servers:
        if not listening(host, port):
            raise MobiledlError(f"no adb server answers at {host}:{port} (start one with `adb start-server`)")
        client = adbutils.AdbClient(host=host, port=port, socket_timeout=QUICK_S)
        try:
            infos = client.list()
        except (adbutils.AdbError, OSError) as exc:
            raise MobiledlError(f"cannot list devices of adb server {host}:{port}: {_one_line(exc)}") from None
        for info in infos:
            if info.state != "device":
                continue
            if info.serial in found:
                raise MobiledlError(f"device {info.serial} is on two adb servers ({found[info.serial].server} "
                                    f"and {host}:{port}); give each server its own devices")
            found[info.serial] = AdbDevice(client, info.serial, f"{host}:{port}")
    return found


class AdbDevice:
    def __init__(self, client: adbutils.AdbClient, serial: str, server: str) -> None:
        self.serial = serial
        self.server = server
        self._device = client.device(serial)
        self._pushed: set[str] = set()
        self.workdir = f"{ROOT}/session-{uuid.uuid4().hex[:12]}"

    @cached_property
    def facts(self) -> Mapping[str, Any]:
        """Properties, CPU clocks and memory, read once (a few shell round trips)."""
        props = {key: self.shell(f"getprop {prop}").stdout.strip() for key, prop in PROPS.items()}
        freqs = self.shell("grep -H . /sys/devices/system/cpu/cpu*/cpufreq/cpuinfo_max_freq").stdout
        pairs = re.findall(r"cpu(\d+)/cpufreq/cpuinfo_max_freq:(\d+)", freqs)
        per_core = dict(sorted((int(core), int(khz)) for core, khz in pairs))
        cores = self.shell("cat /sys/devices/system/cpu/possible").stdout.strip()
        mem = re.search(r"MemTotal:\s*(\d+)", self.shell("grep MemTotal /proc/meminfo").stdout)
        return {
            "serial": self.serial, "kind": "adb", "adb_server": self.server, **props,
            "abi": props["abi"].split(",")[0] if props["abi"] else "",
            "abilist": props["abi"].split(","),
            "cores": _count_cpus(cores) or len(per_core),
            "cpu_max_khz": list(per_core.values()),
            "mem_total_mb": int(mem.group(1)) // 1024 if mem else None,
        }

    def info(self) -> Mapping[str, Any]:
        return self.facts

    def deploy(self, local: Path) -> str:
        """Push a file, or a directory with its tree, unless that exact content is there already."""
        import adbutils

        digest = _digest(local)
        remote = f"{FILES}/{digest[:24]}/{local.name}"
        if remote in self._pushed or self.shell(f"test -e {shlex.quote(remote)}").returncode == 0:
            self._pushed.add(remote)
            return remote
        staging = f"{FILES}/{digest[:24]}.{uuid.uuid4().hex[:8]}.part"
        self._checked(f"mkdir -p {shlex.quote(staging)}")
        try:
            for path in sorted(local.rglob("*")) if local.is_dir() else [local]:
                if path.is_file():
                    relative = path.relative_to(local.parent)
                    self._device.sync.push(str(path), f"{staging}/{relative.as_posix()}", mode=0o755)
            self._checked(f"mv {shlex.quote(staging)} {shlex.quote(remote.rsplit('/', 1)[0])}")
        except (adbutils.AdbError, OSError, EOFError) as exc:
            self.shell(f"rm -rf {shlex.quote(staging)}")
            raise RunnerError(f"push of {local.name} to {self.serial} failed: {_one_line(exc)}") from None
        self._pushed.add(remote)
        return remote

    def run(self, argv: Sequence[str], timeout: float) -> Completed:
        import adbutils

        pidfile = f"{self.workdir}/.pid-{uuid.uuid4().hex[:8]}"
        # exec keeps the pid, so a timeout can kill exactly what was started.
        command = (f"mkdir -p {shlex.quote(self.workdir)} && cd {shlex.quote(self.workdir)} && "
                   f"echo $$ > {shlex.quote(pidfile)} && exec {shlex.join(argv)}")
        try:
            done = self._device.shell2(command, timeout=timeout, v2=True)
        except adbutils.AdbTimeout:
            self.shell(f"kill -9 $(cat {shlex.quote(pidfile)}) 2>/dev/null; rm -f {shlex.quote(pidfile)}")
            raise RunnerError(f"runner timed out after {timeout:g} s on {self.serial} (--runner-timeout)") from None
        except (adbutils.AdbError, OSError, EOFError) as exc:
            raise RunnerError(f"lost {self.serial} while running: {_one_line(exc)}") from None
        self.shell(f"rm -f {shlex.quote(pidfile)}")
        return Completed(done.returncode, done.stdout, done.stderr)

    def put(self, content: bytes, remote: str) -> None:
        """Write a small file at an exact path (a native tool's staged inputs)."""
        import adbutils

        self._checked(f"mkdir -p {shlex.quote(remote.rsplit('/', 1)[0])}")
        try:
            self._device.sync.push(content, remote, mode=0o644)
        except (adbutils.AdbError, OSError, EOFError) as exc:
            raise RunnerError(f"push of {remote} to {self.serial} failed: {_one_line(exc)}") from None

    def pull(self, remote: str, local: Path) -> None:
        import adbutils

        try:
            self._device.sync.pull(remote, str(local))
        except (adbutils.AdbError, OSError, EOFError) as exc:
            raise RunnerError(f"pull of {remote} from {self.serial} failed: {_one_line(exc)}") from None

    def cleanup(self) -> None:
        try:
            self.shell(f"rm -rf {shlex.quote(self.workdir)}")
        except MobiledlError:
            pass  # a device gone at the end of the session keeps its folder; the next session's differs

    def shell(self, command: str, timeout: float = QUICK_S) -> Completed:
        """A short command of the device layer; one clear line if the device is gone."""
        import adbutils

        try:
            done = self._device.shell2(command, timeout=timeout, v2=True)
        except (adbutils.AdbError, OSError, EOFError) as exc:
            raise RunnerError(f"device {self.serial} did not answer: {_one_line(exc)}") from None
        return Completed(done.returncode, done.stdout, done.stderr)

    def _checked(self, command: str) -> None:
        done = self.shell(command)
        if done.returncode != 0:
            raise RunnerError(f"{command.split()[0]} failed on {self.serial}: {done.stderr.strip() or done.stdout}")


def _count_cpus(possible: str) -> int:
    """``0-3,6-7`` → 6."""
    total = 0
    for part in filter(None, possible.split(",")):
        low, _, high = part.partition("-")
        if not low.isdigit() or (high and not high.isdigit()):
            return 0
        total += int(high or low) - int(low) + 1
    return total


def _digest(local: Path) -> str:
    """Content hash of a file, or of a directory's relative paths and contents."""
    h = hashlib.sha256()
    for path in sorted(local.rglob("*")) if local.is_dir() else [local]:
        if path.is_file():
            h.update(path.relative_to(local.parent).as_posix().encode() + b"\0")
            with path.open("rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
    return h.hexdigest()


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
