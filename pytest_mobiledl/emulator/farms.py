"""A farm: a private adb server and N loopback devices connected to it, for tests and the CLI.

with Farm(devices=2) as f:
    client = adbutils.AdbClient(*f.host_port)
    client.device(f.serials[0]).shell2("getprop ro.product.model", v2=True)
    f.devices[0].faults.push_error = "No space left on device"
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Coroutine, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal, TypeVar

from pytest_mobiledl.emulator import rootfs
from pytest_mobiledl.emulator.chroot import ChrootSandbox, unavailable
from pytest_mobiledl.emulator.device import Device
from pytest_mobiledl.emulator.errors import EmulatorError, SandboxError
from pytest_mobiledl.emulator.layout import Layout
from pytest_mobiledl.emulator.props import DeviceProps
from pytest_mobiledl.emulator.sandbox import RewriteSandbox, Sandbox
from pytest_mobiledl.emulator.server import AdbServer, adb_binary

log = logging.getLogger(__name__)

T = TypeVar("T")
PropsArg = DeviceProps | Sequence[DeviceProps] | None
SandboxMode = Literal["auto", "chroot", "rewrite"]
MODE_ENV = "MOBILEDL_EMULATOR_SANDBOX"


class _LoopThread:
    """One event loop, in a daemon thread, serving every device of the farm."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="mobiledl-emulator", daemon=True)
        self._thread.start()

    def call(self, job: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(job, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self.loop.close()


class Farm:
    """``with Farm(…) as f``: started on entry; closed on exit (server killed, commands killed, sandboxes removed).

    `props`: one DeviceProps for all, or one per device (a shorter list repeats). `expose`: more
    host dirs each chroot device sees (this Python's prefixes and /usr, /etc, /opt always are).
    """

    def __init__(
        self,
        devices: int = 2,
        props: PropsArg = None,
        sandbox: SandboxMode = "auto",
        expose: Sequence[str] = (),
        workdir: str | Path | None = None,
        adb: str | None = None,
    ) -> None:
        if devices < 1:
            raise EmulatorError(f"a farm needs at least one device, got {devices}")
        # Everything that can fail on arguments first, before making a folder to clean up.
        adb = adb or adb_binary()
        self._props = [_device_props(props, index) for index in range(devices)]
        self._owns_workdir = workdir is None
        self.workdir = Path(tempfile.mkdtemp(prefix="mobiledl-farm-") if workdir is None else workdir)
        self._sandbox: SandboxMode = sandbox
        self._expose = tuple(expose)
        self._server = AdbServer(self.workdir / "adb", adb)
        self._loop: _LoopThread | None = None
        self.devices: tuple[Device, ...] = ()

    @property
    def server(self) -> str:
        """ "127.0.0.1:PORT" of the private adb server."""
        return self._server.address

    @property
    def host_port(self) -> tuple[str, int]:
        return "127.0.0.1", self._server.port

    @property
    def serials(self) -> tuple[str, ...]:
        return tuple(device.serial for device in self.devices)

    @property
    def adb_env(self) -> Mapping[str, str]:
        """Environment for a subprocess (adb CLI, adbutils) to use this server and its adb."""
        return self._server.env

    @property
    def adb_path(self) -> str:
        return self._server.adb

    def device(self, serial: str) -> Device:
        for device in self.devices:
            if device.serial == serial:
                return device
        raise EmulatorError(f"no loopback device {serial}; the farm has {', '.join(self.serials)}")

    def start(self) -> Farm:
        try:
            sandboxes = self._prepare()
            self._loop = _LoopThread()
            self.devices = tuple(Device(props, box) for props, box in zip(self._props, sandboxes, strict=True))
            for device in self.devices:
                self._loop.call(device.start())
            for device in self.devices:
                self._server.connect(device.serial)
            self._server.wait_for(list(self.serials))
        except BaseException:
            self.close()
            raise
        return self

    def _prepare(self) -> list[Sandbox]:
        """Start the server and every sandbox side by side: each mostly waits on other processes
        (the server's key generation, the holders' mounts)."""
        with ThreadPoolExecutor(len(self._props) + 1) as pool:
            server = pool.submit(self._server.start)
            jobs = [
                pool.submit(open_sandbox, self.workdir / f"device-{index}", props, self._sandbox, self._expose)
                for index, props in enumerate(self._props)
            ]
        opened = [job.result() for job in jobs if job.exception() is None]
        everything: list[Future[Any]] = [server, *jobs]
        for job in everything:
            failure = job.exception()
            if failure is not None:
                for sandbox in opened:
                    sandbox.close()
                raise failure
        return opened

    def reconnect(self, serial: str, timeout: float = 10.0) -> None:
        """Back to `device` at once after a drop (the server's own retry takes seconds)."""
        self._server.disconnect(serial)
        self._server.connect(serial)
        self._server.wait_for([serial], timeout)

    def state(self, serial: str) -> str:
        return self._server.state(serial)

    def __enter__(self) -> Farm:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._server.stop()
        loop, self._loop = self._loop, None
        try:
            for device in self.devices:
                if loop:
                    loop.call(device.stop())
                else:
                    device.sandbox.close()
        finally:
            self.devices = ()
            if loop:
                loop.close()
            if self._owns_workdir:
                shutil.rmtree(self.workdir, ignore_errors=True)


def open_sandbox(base: Path, props: DeviceProps, mode: SandboxMode = "auto", expose: Sequence[str] = ()) -> Sandbox:
    """Build a device folder under `base` and start its sandbox; `auto` falls back to rewrite."""
    chosen = os.environ.get(MODE_ENV, mode) if mode == "auto" else mode
    if chosen not in ("auto", "chroot", "rewrite"):
        raise SandboxError(f"{MODE_ENV}={chosen!r}: expected auto, chroot or rewrite")
    layout = Layout(base)
    if chosen != "rewrite":
        reason = unavailable()
        if reason is None:
            rootfs.build(layout, props, owner=rootfs.SHELL_UID, build_prop=rootfs.BUILD_PROP)
            try:
                return ChrootSandbox(layout, expose)
            except SandboxError as error:
                reason = str(error)
        if chosen == "chroot":
            raise SandboxError(f"chroot sandbox unavailable: {reason}")
        log.warning("loopback device falls back to path rewriting: %s", reason)
    rootfs.build(layout, props, owner=None, build_prop=str(layout.host(rootfs.BUILD_PROP)))
    return RewriteSandbox(layout)


def _device_props(props: PropsArg, index: int) -> DeviceProps:
    if props is None:
        chosen = DeviceProps()
    elif isinstance(props, DeviceProps):
        chosen = props
    else:
        if not props:
            raise EmulatorError("props: give at least one DeviceProps")
        chosen = props[index % len(props)]
    if "ro.serialno" in chosen.properties:
        return chosen
    return dataclasses.replace(chosen, properties={**chosen.properties, "ro.serialno": f"LOOPBACK{index:04d}"})
