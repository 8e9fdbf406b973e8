"""``python -m pytest_mobiledl.runner --block SPEC``: a whole lockstep block, run where its runners run.

On the loopback emulator the coordinator runs on the device, beside its runners, and prints one
JSON line per case (returncode, stdout, stderr) when the block ends. A case that this process's
own interpreter runs is forked from it, as the host's fork servers do (runner/serve.py): the
interpreter's start, numpy and this package are paid once per block, not once per case, and each
child imports its library itself. A case of another interpreter (a ``--variant``'s) is started
fresh, as is every case where a thread of this process would survive a fork.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from typing import IO, Protocol

from pytest_mobiledl.runner import lockstep, serve


class Case(Protocol):
    """What the block needs of a case's process: subprocess.Popen's shape."""

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...

    def kill(self) -> None: ...


def block_main(spec_json: str) -> int:
    spec = json.loads(spec_json)
    argvs: list[list[str]] = spec["argvs"]
    timeout = float(spec["timeout"])
    coordinator = lockstep.Coordinator(len(argvs), timeout, folder=".")
    forkable = _forkable()
    cases: list[Case] = []
    outs: list[tuple[IO[str], IO[str]]] = []
    try:
        for slot, argv in enumerate(argvs):
            out: IO[str] = tempfile.TemporaryFile("w+")
            err: IO[str] = tempfile.TemporaryFile("w+")
            outs.append((out, err))
            full = lockstep.lockstep_argv(argv, coordinator.path, slot)
            runner = _runner(argv)
            if forkable and runner == _runner(argvs[0]):  # the interpreter and runner this process is
                cases.append(Forked(serve.fork_case(full[len(runner):], out.fileno(), err.fileno())))
            else:
                cases.append(subprocess.Popen(full, stdout=out, stderr=err, stdin=subprocess.DEVNULL, text=True))
        coordinator.serve(int(spec["iterations"]), float(spec["min_time"]),
                          lambda slot: cases[slot].poll() is not None)
        deadline = time.monotonic() + timeout
        for case, (out, err) in zip(cases, outs, strict=True):
            try:
                code = case.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                case.kill()
                code = case.wait()
            out.seek(0)
            err.seek(0)
            print(json.dumps({"returncode": code, "stdout": out.read(), "stderr": err.read()}), flush=True)
    finally:
        for case in cases:
            if case.poll() is None:
                case.kill()
        coordinator.close()
    return 0


def _runner(argv: list[str]) -> list[str]:
    """The interpreter and runner of a case's argv (``python app.pyz``, ``python -m …``): what precedes its options."""
    return argv[:next((i for i, arg in enumerate(argv) if arg.startswith("--")), len(argv))]


def _forkable() -> bool:
    """Import what every case needs, then whether forking past it is safe (no thread survives)."""
    if not sys.platform.startswith("linux"):
        return False
    importlib.import_module("numpy")
    importlib.import_module("pytest_mobiledl.runner.measure")
    return serve.threads_across_fork() <= 1


class Forked:
    """A forked case, shaped as the subprocess.Popen the block would otherwise hold."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout or 0.0)
            time.sleep(0.01)
        assert self.returncode is not None
        return self.returncode

    def kill(self) -> None:
        try:
            os.killpg(self.pid, signal.SIGKILL)  # its group: whatever the library started goes too
        except ProcessLookupError:
            pass
