"""The root sandbox: a private mount namespace, held open by one process chrooted in the device.

Why a holder process rather than `os.unshare` here: a mount namespace belongs to the thread that
made it, and this process (pytest, asyncio) has threads. util-linux does it instead: `unshare
--mount` starts a holder that binds the host's dirs into the device root, the fake /proc and /sys
facts over theirs, then chroots there and waits on its stdin. Each command joins it with `nsenter
--target HOLDER --mount --root --wd --setuid 2000 --setgid 2000`: same namespace, same root, as
the shell user, in a new session so its process group can be killed. Nothing is mounted in the
host's namespace, so nothing leaks if this process dies: the holder sees EOF and the namespace
goes with its last process.
"""

from __future__ import annotations

import os
import select
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from pytest_mobiledl.emulator import rootfs
from pytest_mobiledl.emulator.errors import SandboxError
from pytest_mobiledl.emulator.layout import Layout
from pytest_mobiledl.emulator.sandbox import Sandbox, Spawn, device_env

TOOLS = ("unshare", "nsenter", "chroot", "mount")
# Host dirs every device sees read-only, at the same paths: binaries, libraries, config.
BASE_EXPOSED = ("/usr", "/etc", "/opt")
READY = b"ready\n"
SETUP_TIMEOUT_S = 10.0
_LOOP_LIMIT = 40  # symlinks followed in one path, as the kernel's ELOOP


def unavailable() -> str | None:
    """Why this machine cannot run the root sandbox, or None."""
    if os.geteuid() != 0:
        return "needs root (mount namespace and chroot)"
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        return f"needs util-linux/mount tools on PATH: {', '.join(missing)}"
    return None


def exposed_dirs(extra: Sequence[str] = ()) -> list[str]:
    """Host dirs bound into each device: the base set, this Python's prefixes (so a pushed runner
    can use `sys.executable`), and `extra`; a dir inside another is covered by it."""
    wanted = [*BASE_EXPOSED, sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, *extra]
    real = sorted({os.path.realpath(path) for path in wanted if os.path.isdir(path)})
    kept: list[str] = []
    for path in real:
        if path != "/" and not any(path.startswith(parent + "/") for parent in kept):
            kept.append(path)
    return kept


class ChrootSandbox(Sandbox):
    mode = "chroot"
    owner = rootfs.SHELL_UID

    def __init__(self, layout: Layout, expose: Sequence[str] = ()) -> None:
        super().__init__(layout)
        self._nsenter = shutil.which("nsenter") or "nsenter"
        self._env = device_env()
        self._holder = self._start_holder(exposed_dirs(expose))
        self._base = f"/proc/{self._holder.pid}/root"

    def command(self, cmd: str) -> Spawn:
        user = str(rootfs.SHELL_UID)
        enter = (self._nsenter, "-t", str(self._holder.pid), "-m", "-r", "-w", "-S", user, "-G", user, "--")
        shell = ("/system/bin/sh", "-c", cmd) if cmd else ("/system/bin/sh",)
        return Spawn(enter + shell, self._env, "/")

    def resolve(self, device_path: str, follow: bool = True) -> tuple[str, str]:
        """Symlinks are read the chroot's way: an absolute target starts again at the device root,
        never at the host's (a pushed `ln -s /etc x` must not let a push write the host's /etc)."""
        done: list[str] = []
        todo = [part for part in device_path.split("/") if part not in ("", ".")]
        hops = 0
        while todo:
            name = todo.pop(0)
            if name == "..":
                done = done[:-1]
                continue
            host = self._host([*done, name])
            if (todo or follow) and os.path.islink(host):
                hops += 1
                if hops > _LOOP_LIMIT:
                    raise OSError(40, "Too many levels of symbolic links", device_path)
                target = os.readlink(host)
                done = [] if target.startswith("/") else done
                todo = [part for part in target.split("/") if part not in ("", ".")] + todo
                continue
            done.append(name)
        return "/" + "/".join(done), self._host(done)

    def close(self) -> None:
        if self._holder.poll() is None:
            for pid in self._members():
                _kill(pid)
            if self._holder.stdin:
                self._holder.stdin.close()
            try:
                self._holder.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._holder.kill()
                self._holder.wait()
        super().close()

    def _host(self, parts: list[str]) -> str:
        return self._base + "/" + "/".join(parts)

    def _members(self) -> Iterator[int]:
        """Every process in this device's namespace: what a command left behind, even in a new
        session, ends with the device."""
        try:
            namespace = os.readlink(f"/proc/{self._holder.pid}/ns/mnt")
        except OSError:
            return
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) != self._holder.pid:
                try:
                    if os.readlink(f"/proc/{entry}/ns/mnt") == namespace:
                        yield int(entry)
                except OSError:
                    continue

    def _start_holder(self, exposed: list[str]) -> subprocess.Popen[bytes]:
        script = _holder_script(self.layout, exposed)
        holder = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", script],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        assert holder.stdout is not None and holder.stderr is not None
        ready, _, _ = select.select([holder.stdout], [], [], SETUP_TIMEOUT_S)
        if not ready or holder.stdout.readline() != READY:
            holder.kill()
            error = holder.stderr.read().decode(errors="replace").strip().splitlines()
            holder.wait()
            raise SandboxError(f"namespace setup failed: {error[-1] if error else 'no output'}")
        holder.stdout.close()
        holder.stderr.close()
        return holder


def _holder_script(layout: Layout, exposed: list[str]) -> str:
    root = layout.root
    lines = ["set -e", f"cd {shlex.quote(str(root))}"]
    for name in ("dev", "proc", "sys"):
        _mount_point(root, "/" + name)
    _replicate_top_symlinks(root)
    lines += [
        "mount --rbind /dev dev",
        "mount --rbind /proc proc",
        f"mount --bind {shlex.quote(str(layout.meminfo))} proc/meminfo",
        "mount --rbind /sys sys",
        f"mount --bind {shlex.quote(str(layout.cpu))} sys/devices/system/cpu",
    ]
    for name, facts in (("thermal", layout.thermal), ("power_supply", layout.power_supply)):
        lines.append(f"if [ -d sys/class/{name} ]; then mount --bind {shlex.quote(str(facts))} sys/class/{name}; fi")
    for path in exposed:
        _mount_point(root, path)
        target = shlex.quote("." + path)
        # Read-only is defence in depth (uid 2000 cannot write there anyway), so best effort.
        lines += [f"mount --rbind {shlex.quote(path)} {target}", f"mount -o remount,bind,ro {target} || true"]
    if "/etc" in exposed:
        for name in ("passwd", "group"):
            lines.append(f"mount --bind {shlex.quote(str(layout.facts / name))} etc/{name}")
    lines += [f"printf {shlex.quote(READY.decode())}", "exec chroot . /bin/sh -c 'cd / && exec cat >/dev/null'"]
    return "\n".join(lines)


def _mount_point(root: Path, path: str) -> None:
    """An empty dir at `path` in the device root, each new level 0755 so uid 2000 can walk it."""
    current = root
    for part in Path(path).parts[1:]:
        current = current / part
        if not current.exists():
            current.mkdir()
            current.chmod(0o755)


def _replicate_top_symlinks(root: Path) -> None:
    """Merged-/usr systems link /bin, /lib, /lib64, /sbin into /usr: the device needs the same."""
    for entry in os.scandir("/"):
        if entry.is_symlink():
            target = os.readlink(entry.path)
            link = root / entry.name
            if not target.startswith("/") and not link.is_symlink() and not link.exists():
                link.symlink_to(target)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
