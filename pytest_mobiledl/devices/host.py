"""HostDevice: this machine, one fresh process per run (forked from a library's server, or exec'd)."""

from __future__ import annotations

import os
import platform
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from functools import cache
from pathlib import Path
from typing import Any

from pytest_mobiledl.devices import QUICK_S, Completed, Kind, zygote
from pytest_mobiledl.errors import RunnerError
from pytest_mobiledl.interrupts import die_with_parent


class HostDevice:
    serial = "host"
    workdir = "."
    kind = Kind.HOST

    def __init__(self, fork: bool = False) -> None:
        #: Runner runs fork from a server that imported the library once (devices/zygote.py).
        self.zygotes = zygote.Zygotes() if fork and zygote.available() else None

    def info(self) -> Mapping[str, Any]:
        return _host_info()

    def deploy(self, local: Path) -> str:
        return str(local)

    def run(self, argv: Sequence[str], timeout: float) -> Completed:
        done = self.zygotes.run(argv, timeout) if self.zygotes else None
        if done is not None:
            return done
        # A session of its own, so a timeout kills the runner and anything it started; and it dies
        # with this process, so a killed session leaves no runner at 100 % CPU behind.
        parent = os.getpid()
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True, preexec_fn=lambda: die_with_parent(parent))
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            _, stderr = proc.communicate()
            raise RunnerError(f"runner timed out after {timeout:g} s (--runner-timeout)", stderr[-2000:]) from None
        except BaseException:  # Ctrl-C, SIGTERM (as KeyboardInterrupt): the group goes with us
            _kill_group(proc)
            proc.wait()
            raise
        return Completed(proc.returncode, stdout, stderr)

    def shell(self, command: str, timeout: float = QUICK_S) -> Completed:
        return self.run(["sh", "-c", command], timeout)

    def put(self, content: bytes, remote: str) -> None:
        path = Path(remote)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)

    def pull(self, remote: str, local: Path) -> None:
        shutil.copyfile(remote, local)

    def hold(self, run_s: float, wait_s: float) -> AbstractContextManager[None]:
        return nullcontext()  # a session's own machine: nothing else runs its runners

    def reap(self) -> None:
        pass  # a killed session's runners died with it (die_with_parent)

    def reserve(self, argvs: Sequence[Sequence[str]], timeout: float) -> None:
        """Get ready to run these at once (a lockstep block): a fork server for each."""
        if self.zygotes:
            self.zygotes.reserve(argvs, timeout)

    def cleanup(self) -> None:
        if self.zygotes:
            self.zygotes.close()


def _kill_group(proc: subprocess.Popen[str]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@cache
def _host_info() -> Mapping[str, Any]:
    return {
        "serial": "host",
        "kind": "host",
        "model": platform.node(),
        "system": f"{platform.system()} {platform.release()}",
        "abi": platform.machine(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
