"""AdbDevice: a phone — or the loopback emulator — behind any adb server, through adbutils.

Files are pushed content-addressed under ``/data/local/tmp/mobiledl/files/<sha256>/``: a runner
or model already there is not pushed again, in this session or the next, and a push lands under
a temporary name first so an interrupted one is never mistaken for the file. Each session runs
in its own working directory, removed at the end. Commands and pushes speak the adb server's
protocol on plain sockets (``shell,v2:``: exit status and separate stderr; ``sync:``), without
adbutils' per-call version query and closing sleeps; adbutils finds the devices and moves the
native tools' small files.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import shlex
import shutil
import socket
import stat
import struct
import subprocess
import time
import uuid
import zlib
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_mobiledl.devices import QUICK_S, Completed, Kind
from pytest_mobiledl.digests import known_sha256
from pytest_mobiledl.errors import MobiledlError, RunnerError

if TYPE_CHECKING:
    import adbutils

ROOT = "/data/local/tmp/mobiledl"
FILES = f"{ROOT}/files"
#: The phone's lock folder: held for each run (see ``hold``).
LOCK = f"{ROOT}/lock"
#: The most a sync DATA record carries (64 KiB, its header included).
SYNC_DATA = 64 * 1024 - 8

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


def discover(servers: Sequence[tuple[str, int]],
             known: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, AdbDevice]:
    """Every device in state ``device`` on every server, by serial; ``known``: facts already read
    of some of them (by the xdist controller, for its workers)."""
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
            found[info.serial] = AdbDevice(client, info.serial, f"{host}:{port}", (known or {}).get(info.serial))
    return found


class CommandTimeout(TimeoutError):
    """A device command that ran past its timeout (a slow adb server's handshake is not one)."""


class AdbDevice:
    kind = Kind.ADB

    def __init__(self, client: adbutils.AdbClient, serial: str, server: str,
                 facts: Mapping[str, Any] | None = None) -> None:
        self.serial = serial
        self.server = server
        self._facts = facts
        self._device = client.device(serial)
        self._pushed: set[str] = set()
        self._reaped = False
        #: Pid files of runs that ended, removed by the next shell command (one round trip fewer a run).
        self._ended: list[str] = []
        #: Who holds the phone's lock: this machine, this process, this device object.
        self._token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.workdir = f"{ROOT}/session-{uuid.uuid4().hex[:12]}"

    def info(self) -> Mapping[str, Any]:
        if self._facts is None:
            self._facts = self._read_facts()
        return self._facts

    def _read_facts(self) -> Mapping[str, Any]:
        """Properties, CPU clocks and memory, in one shell round trip."""
        reads = [*(f"getprop {prop}" for prop in PROPS.values()),
                 "grep -H . /sys/devices/system/cpu/cpu*/cpufreq/cpuinfo_max_freq",
                 "cat /sys/devices/system/cpu/possible", "grep MemTotal /proc/meminfo"]
        # A NUL between the answers: no property value or sysfs line holds one.
        answers = self.shell("; printf '\\0'; ".join(f"{read} 2>/dev/null" for read in reads)).stdout.split("\0")
        answers += [""] * (len(reads) - len(answers))  # a device that closed early: what came
        props = {key: answers[i].strip() for i, key in enumerate(PROPS)}
        freqs, cores, meminfo = answers[len(PROPS):len(PROPS) + 3]
        pairs = re.findall(r"cpu(\d+)/cpufreq/cpuinfo_max_freq:(\d+)", freqs)
        per_core = dict(sorted((int(core), int(khz)) for core, khz in pairs))
        mem = re.search(r"MemTotal:\s*(\d+)", meminfo)
        return {
            "serial": self.serial, "kind": "adb", "adb_server": self.server, **props,
            "abi": props["abi"].split(",")[0] if props["abi"] else "",
            "abilist": props["abi"].split(","),
            "cores": _count_cpus(cores.strip()) or len(per_core),
            "cpu_max_khz": list(per_core.values()),
            "mem_total_mb": int(mem.group(1)) // 1024 if mem else None,
        }

    def deploy(self, local: Path) -> str:
        """Push a file, or a directory with its tree, unless that exact content is there already.

        One sync connection asks whether it is there and sends it; one command then checks what
        landed and gives it its content-addressed name (the device makes the staging folders)."""
        digest = _digest(local)
        remote = f"{FILES}/{digest[:24]}/{local.name}"
        if remote in self._pushed:
            return remote
        staging = f"{FILES}/{digest[:24]}.{uuid.uuid4().hex[:8]}.part"
        files = {path.relative_to(local.parent).as_posix(): path
                 for path in (sorted(local.rglob("*")) if local.is_dir() else [local]) if path.is_file()}
        try:
            with self._transport("sync:") as conn:
                if _stat_mode(conn, remote):  # pushed by an earlier session
                    self._pushed.add(remote)
                    return remote
                sums = {name: _send(conn, path, f"{staging}/{name}") for name, path in files.items()}
            self._commit(staging, remote.rsplit("/", 1)[0], sums)
        except (OSError, EOFError, RunnerError) as exc:
            self._remove(staging)
            reason = str(exc) if isinstance(exc, RunnerError) else self._reason(exc)
            raise RunnerError(f"push of {local.name} to {self.serial} failed: {reason}") from None
        self._pushed.add(remote)
        return remote

    @contextmanager
    def _transport(self, service: str) -> Iterator[socket.socket]:
        """A connection to one of the device's services through its adb server (SERVICES.TXT), on a
        plain socket: adbutils asks the server's version before each transport and sleeps 10 ms in
        each close, 20 ms per connection (a push made five: 0.1 s, as long as 16 MiB take to send)."""
        host, _, port = self.server.rpartition(":")
        with socket.create_connection((host, int(port)), timeout=QUICK_S) as conn:
            for request in (f"host:transport:{self.serial}", service):
                conn.sendall(b"%04x" % len(request.encode()) + request.encode())
                status = _exactly(conn, 4)
                if status != b"OKAY":
                    reason = _exactly(conn, int(_exactly(conn, 4), 16)) if status == b"FAIL" else status
                    raise RunnerError(reason.decode(errors="replace").strip())
            yield conn

    def _commit(self, staging: str, folder: str, sums: Mapping[str, tuple[int, int]]) -> None:
        """The content address names what was meant to land: the device checks what did (POSIX
        ``cksum``, toybox's since Android 6) and only then renames the staging folder. Where the
        folder is there already (another session pushed the same thing meanwhile) this push is
        dropped: ``mv`` would otherwise move it inside that folder."""
        quoted = shlex.quote(staging)
        check = ""
        if sums:
            expected = "\n".join(f"{crc} {size} ./{name}" for name, (crc, size) in sums.items())
            names = " ".join(shlex.quote(f"./{name}") for name in sums)
            check = (f"if command -v cksum >/dev/null; then got=$(cksum {names}); "
                     f"[ \"$got\" = {shlex.quote(expected)} ] || {{ printf '%s\\n' \"$got\"; exit 3; }}; fi && ")
        with self._transport(f"shell,v2:mkdir -p {quoted} && cd {quoted} && {check}cd / && "
                             f"if [ -e {shlex.quote(folder)} ]; then rm -rf {quoted}; else mv {quoted} "
                             f"{shlex.quote(folder)}; fi") as conn:
            done = _shell_v2(conn)
        if done.returncode == 3:
            landed = set(done.stdout.splitlines())
            altered = [name for name, (crc, size) in sums.items() if f"{crc} {size} ./{name}" not in landed]
            raise RunnerError(f"{', '.join(altered) or 'a file'} arrived altered (its CRC on the device differs "
                              "from the host's)")
        if done.returncode != 0:
            raise RunnerError(f"could not move the push into place on {self.serial}: "
                              f"{done.stderr.strip() or done.stdout.strip() or f'status {done.returncode}'}")

    def _remove(self, staging: str) -> None:
        try:
            self.shell(f"rm -rf {shlex.quote(staging)}")
        except RunnerError:
            pass  # a device gone mid-push: the next session's push uses another staging name

    def run(self, argv: Sequence[str], timeout: float) -> Completed:
        self._server_alive()
        pidfile = f"{self.workdir}/.pid-{uuid.uuid4().hex[:8]}"
        # exec keeps the pid, so a timeout can kill exactly what was started.
        command = (f"mkdir -p {shlex.quote(self.workdir)} && cd {shlex.quote(self.workdir)} && "
                   f"echo $$ > {shlex.quote(pidfile)} && exec {shlex.join(argv)}")
        try:
            done = self._command(command, timeout)
        except CommandTimeout:
            self.shell(f"kill -9 $(cat {shlex.quote(pidfile)}) 2>/dev/null; rm -f {shlex.quote(pidfile)}")
            raise RunnerError(f"runner timed out after {timeout:g} s on {self.serial} (--runner-timeout)") from None
        except (OSError, EOFError, RunnerError) as exc:
            raise RunnerError(f"lost {self.serial} while running: {self._reason(exc)}") from None
        self._ended.append(pidfile)
        return done

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

    @contextmanager
    def hold(self, run_s: float, wait_s: float) -> Iterator[None]:
        """The phone's own lock, for sessions on other machines sharing it through an adb server.

        ``mkdir`` is atomic; the folder says until when its holder may run (its runner timeout),
        so a holder that died is overtaken after that, never while its run could still be going."""
        lock, token = shlex.quote(LOCK), shlex.quote(self._token)
        take = (f"mkdir -p {ROOT} && now=$(date +%s) && if mkdir {lock} 2>/dev/null || "
                f"[ \"$(cat {lock}/until 2>/dev/null || echo 0)\" -lt \"$now\" ]; then "
                f"echo $((now + {math.ceil(run_s)})) > {lock}/until && echo {token} > {lock}/owner && "
                f"echo taken; fi")
        deadline = time.monotonic() + wait_s
        while self.shell(take).stdout.strip() != "taken":
            if _dead_here(self.shell(f"cat {lock}/owner 2>/dev/null").stdout.strip()):
                self.shell(f"rm -rf {lock}")  # left by a killed session of this machine
                continue
            if time.monotonic() > deadline:
                raise RunnerError(f"{self.serial} is busy: a session on another machine holds {LOCK} "
                                  f"(one run per phone at a time)")
            time.sleep(0.5)
        try:
            yield
        finally:
            try:
                self.shell(f"[ \"$(cat {lock}/owner 2>/dev/null)\" = {token} ] && rm -rf {lock}")
            except RunnerError:
                pass  # a phone gone mid-run keeps its lock until its time is up

    def reserve(self, argvs: Sequence[Sequence[str]], timeout: float) -> None:
        pass  # a block runs on the device under one coordinator (``--block``): nothing to start here

    def reap(self) -> None:
        """Kill runners that a killed session left running here (found by their pid files), once."""
        if self._reaped:
            return
        self._reaped = True
        self.shell(f"for f in {ROOT}/session-*/.pid-*; do [ -f \"$f\" ] || continue; p=$(cat \"$f\"); "
                   f"grep -q {ROOT} /proc/$p/cmdline 2>/dev/null && kill -9 $p; rm -f \"$f\"; done")

    def _reason(self, exc: BaseException) -> str:
        """The cause in words: adbutils' errors name the symptom (``Expected 5 bytes, got 0``)."""
        host, _, port = self.server.rpartition(":")
        if not listening(host, int(port)):
            return f"the adb server {self.server} went away"
        text = " ".join(str(exc).split())
        if isinstance(exc, (EOFError, ConnectionError)) or re.match(r"Expected \d+ bytes", text):
            return "the connection to the device closed (unplugged, rebooted, or adbd restarted)"
        return text.removeprefix("FAIL").strip(" :") or type(exc).__name__

    def _server_alive(self) -> None:
        """adbutils starts an adb server when it finds none, one that would outlive the session:
        a dead server fails this device's items instead."""
        host, _, port = self.server.rpartition(":")
        if not listening(host, int(port)):
            raise RunnerError(f"adb server {self.server} is gone; not starting one "
                              "(restart it with `adb start-server`, then rerun with --mobiledl-resume)")

    def shell(self, command: str, timeout: float = QUICK_S) -> Completed:
        """A short command of the device layer; one clear line if the device is gone."""
        self._server_alive()
        ended, self._ended = self._ended, []
        if ended:  # gone before anything else runs here: reap (another session's) never sees a stale pid
            command = f"rm -f {shlex.join(ended)}; {command}"
        try:
            return self._command(command, timeout)
        except (OSError, EOFError, RunnerError) as exc:
            raise RunnerError(f"device {self.serial} did not answer: {self._reason(exc)}") from None

    def _command(self, command: str, timeout: float) -> Completed:
        """``shell,v2:`` (exit status, stderr apart) on a plain socket, within ``timeout`` in all:
        adbutils' ``shell2`` pays 20 ms of connections and sleeps each call, and a block makes five."""
        deadline = time.monotonic() + timeout
        with self._transport(f"shell,v2:{command}") as conn:
            try:
                return _shell_v2(conn, deadline)
            except TimeoutError:  # the command's own deadline, not the server's handshake
                raise CommandTimeout(f"no end within {timeout:g} s") from None

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
    """The address of what lands: a file's name and content, or a directory's relative paths and
    contents. The name is part of it: the same bytes under two names (a user's copy of a cached
    model) are two files in two folders, never a second name sought in the first one's folder."""
    h = hashlib.sha256()
    if local.is_file():
        h.update(local.name.encode() + b"\0" + known_sha256(local).encode())
        return h.hexdigest()
    for path in sorted(local.rglob("*")):
        if path.is_file():
            h.update(path.relative_to(local.parent).as_posix().encode() + b"\0")
            h.update(known_sha256(path).encode())
    return h.hexdigest()


def _stat_mode(conn: socket.socket, remote: str) -> int:
    """A sync STAT's mode: 0 where nothing is (adbd answers a missing path with zeros)."""
    path = remote.encode()
    conn.sendall(b"STAT" + struct.pack("<I", len(path)) + path)
    reply = _exactly(conn, 16)
    if reply[:4] != b"STAT":
        raise RunnerError(f"the device answered {reply[:4]!r} to a sync STAT")
    mode: int = struct.unpack("<I", reply[4:8])[0]
    return mode


def _exactly(conn: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise EOFError(f"Expected {size} bytes, got {len(data)}")
        data += chunk
    return bytes(data)


def _send(conn: socket.socket, local: Path, remote: str, mode: int = 0o755) -> tuple[int, int]:
    """A sync SEND that keeps the device's reason for refusing it (adbutils' push says only
    ``FAIL``): a full or read-only phone then says so. Returns what ``cksum`` on the device should
    say of the file (its CRC and size), computed beside the send: in line, Python's CRC made a push
    half again as long."""
    with ThreadPoolExecutor(1) as pool:
        check = pool.submit(_file_cksum, local)
        target = f"{remote},{stat.S_IFREG | mode}".encode()
        conn.sendall(b"SEND" + struct.pack("<I", len(target)) + target)
        with local.open("rb") as f:
            for chunk in iter(lambda: f.read(SYNC_DATA), b""):
                conn.sendall(b"DATA" + struct.pack("<I", len(chunk)) + chunk)
        conn.sendall(b"DONE" + struct.pack("<I", int(time.time())))
        status = _exactly(conn, 8)
        if status[:4] != b"OKAY":
            reason = _exactly(conn, struct.unpack("<I", status[4:])[0]).decode(errors="replace")
            raise RunnerError(reason.strip() or status[:4].decode(errors="replace"))
        return check.result()


def _file_cksum(path: Path) -> tuple[int, int]:
    """What ``cksum`` says of a file: the host's own where it has one (POSIX; coreutils' runs at
    memory speed in a process of its own), else computed here (~5× slower, holding the GIL)."""
    tool = shutil.which("cksum")
    if tool:
        done = subprocess.run([tool, "--", str(path)], capture_output=True, text=True, check=False)
        fields = done.stdout.split()
        if done.returncode == 0 and len(fields) >= 2 and fields[0].isdigit() and fields[1].isdigit():
            return int(fields[0]), int(fields[1])
    check = _Cksum()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 18), b""):  # small: the send needs the GIL between writes
            check.update(chunk)
    return check.value(), check.size


def _shell_v2(conn: socket.socket, deadline: float | None = None) -> Completed:
    """A ``shell,v2:`` stream read to its exit packet: [u8 id][u32 length][data]; 1 stdout, 2 stderr,
    3 exit. Past ``deadline`` (``time.monotonic``) a read raises ``TimeoutError``."""
    out, err = bytearray(), bytearray()
    while True:
        if deadline is not None:
            conn.settimeout(max(deadline - time.monotonic(), 1e-3))
        kind, length = struct.unpack("<BI", _exactly(conn, 5))
        data = _exactly(conn, length)
        if kind == 3:
            return Completed(data[0] if data else 255, out.decode(errors="replace"), err.decode(errors="replace"))
        (out if kind == 1 else err if kind == 2 else bytearray()).extend(data)


#: Each byte with its bits in reverse order.
_REVERSED = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))


class _Cksum:
    """POSIX ``cksum`` (CRC-32 taken most significant bit first, the length appended), as the bytes
    go by. zlib's CRC-32 is the same polynomial taken least significant bit first: it runs over
    each byte reversed, and its register is reversed back at the end."""

    def __init__(self) -> None:
        self.crc = 0xFFFFFFFF  # zlib's start value for a register of 0
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self.crc = zlib.crc32(chunk.translate(_REVERSED), self.crc)
        self.size += len(chunk)

    def value(self) -> int:
        length = self.size.to_bytes((self.size.bit_length() + 7) // 8, "little")
        register = zlib.crc32(length.translate(_REVERSED), self.crc) ^ 0xFFFFFFFF
        return int(f"{register:032b}"[::-1], 2) ^ 0xFFFFFFFF


def _dead_here(owner: str) -> bool:
    """True for a lock owner that was a process of this machine and is gone."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False



def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
