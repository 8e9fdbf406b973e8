"""A private, real adb server for loopback devices: never the user's server on 5037.

It runs the adb binary shipped in the adbutils wheel (pinned, so every machine and CI run the same
adb 36; ADBUTILS_ADB_PATH in `env` makes adbutils use it too) as `adb server nodaemon`, a child of
this process, with its own HOME (adbkey), TMPDIR (log) and port. mDNS, USB and the emulator port
scan are off: the server sees only the devices it is told to connect.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import time
from pathlib import Path

from pytest_mobiledl.emulator.errors import AdbUnavailable, EmulatorError

ADB_PATH_ENV = "ADBUTILS_ADB_PATH"
_AVOID_PORTS = range(5037, 5586)  # the default server and the emulator range


def adb_binary() -> str:
    """The adb inside the installed adbutils wheel (found without importing adbutils)."""
    spec = importlib.util.find_spec("adbutils")
    if spec is None or not spec.submodule_search_locations:
        raise AdbUnavailable("adbutils is not installed: pip install adbutils (it ships the adb binary)")
    path = Path(next(iter(spec.submodule_search_locations))) / "binaries" / "adb"
    if not os.access(path, os.X_OK):
        raise AdbUnavailable(f"adbutils ships no runnable adb at {path}")
    return str(path)


def free_port() -> int:
    for _ in range(20):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port: int = probe.getsockname()[1]
        if port not in _AVOID_PORTS:
            return port
    raise EmulatorError("no free local port outside 5037-5585")


class AdbServer:
    def __init__(self, workdir: Path, adb: str | None = None) -> None:
        self.adb = adb or adb_binary()
        self.workdir = workdir
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        """What a subprocess (the adb CLI, adbutils) needs to use this server and no other."""
        return {
            "HOME": str(self.workdir / "home"),
            "TMPDIR": str(self.workdir / "tmp"),
            "ANDROID_ADB_SERVER_PORT": str(self.port),
            ADB_PATH_ENV: self.adb,
            "ADB_MDNS": "0",  # else it multicasts on the network
            "ADB_USB": "0",
            "ADB_EMU": "0",
        }

    def start(self, timeout: float = 10.0) -> None:
        for name in ("home", "tmp"):
            (self.workdir / name).mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        env = {key: value for key, value in os.environ.items() if not key.startswith(("ANDROID_", "ADB"))}
        log = self.workdir / "adb-server.log"
        with open(log, "ab") as output:
            self._process = subprocess.Popen(
                [self.adb, "-P", str(self.port), "server", "nodaemon"],
                env={**env, **self.env},
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=output,
                start_new_session=True,  # a Ctrl-C meant for us reaches it through stop(), in order
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise EmulatorError(f"adb server exited with {self._process.returncode}: see {log}")
            try:
                self.query("host:version")
                return
            except OSError:
                time.sleep(0.01)
        self.stop()
        raise EmulatorError(f"adb server not answering on {self.address} after {timeout:.0f}s: see {log}")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        try:
            self.query("host:kill")
            process.wait(timeout=5)
        except (OSError, EmulatorError, subprocess.TimeoutExpired):
            process.kill()
            process.wait()

    def connect(self, serial: str) -> None:
        answer = self.query(f"host:connect:{serial}")
        if not answer.startswith(("connected to", "already connected")):
            raise EmulatorError(f"adb connect {serial}: {answer}")

    def disconnect(self, serial: str) -> None:
        self.query(f"host:disconnect:{serial}")

    def state(self, serial: str) -> str:
        """ "device", "offline", ... or the server's reason (e.g. "device '...' not found")."""
        try:
            return self.query(f"host-serial:{serial}:get-state")
        except EmulatorError as error:
            return str(error)

    def wait_for(self, serials: list[str], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        pending = list(serials)
        while pending:
            pending = [serial for serial in pending if self.state(serial) != "device"]
            if pending and time.monotonic() > deadline:
                raise EmulatorError(f"{pending[0]} is {self.state(pending[0])!r}, not 'device', after {timeout}s")
            if pending:
                time.sleep(0.005)

    def query(self, request: str) -> str:
        """One host request (smart-socket protocol): OKAY + hex length + payload, or FAIL + reason."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as conn:
            data = request.encode()
            conn.sendall(b"%04x" % len(data) + data)
            status = _read(conn, 4)
            if status not in (b"OKAY", b"FAIL"):
                raise EmulatorError(f"adb server answered {status!r} to {request}")
            if request == "host:kill" and status == b"OKAY":
                return ""
            text = _read(conn, int(_read(conn, 4), 16)).decode(errors="replace")
        if status == b"FAIL":
            raise EmulatorError(text)
        return text


def _read(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ConnectionError(f"adb server closed the connection after {len(data)} of {size} bytes")
        data += chunk
    return data
