"""Fork servers for host runs: one per library per pytest process, so a run skips the imports.

A host runner pays the interpreter, numpy and the library's import before it measures anything
(ExecuTorch ~10 s, torch ~3 s). ``runner/serve.py`` pays them once and forks a fresh child per
run; this is its host side. A library whose import leaves a thread running across a fork is
never forked past: its server imports numpy and the runner only, and each child imports the
library (ONNX Runtime on some machines). Where even that server has a thread, runs exec a fresh
interpreter, as without a server.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytest_mobiledl.devices import Completed
from pytest_mobiledl.errors import RunnerError

RUNNER = (sys.executable, "-m", "pytest_mobiledl.runner")
log = logging.getLogger("pytest_mobiledl")


def available() -> bool:
    return sys.platform.startswith("linux")  # prctl, /proc/self/task, /proc/self/status


class Zygotes:
    """The servers of one pytest process, started on first use, ended by ``close``.

    One server per library serves one run at a time. A lockstep block runs several cases of one
    library at once (thread counts, builds): ``reserve`` starts spare servers for them first.
    """

    def __init__(self) -> None:
        self._servers: dict[str, Server] = {}
        self._spares: dict[str, list[Server]] = {}
        self._busy: set[Server] = set()
        self._lock = threading.Lock()
        #: Libraries that run by exec instead, and why.
        self.unsafe: dict[str, str] = {}
        #: Libraries whose servers import only numpy and the runner: each run imports the library.
        self.imported_per_run: dict[str, str] = {}

    def reserve(self, argvs: Sequence[Sequence[str]], timeout: float) -> None:
        """Servers for these runs at once, started now, from this thread: Linux ends a server
        when the thread that started it ends, so a block's worker threads never start one."""
        wanted = Counter(lib for argv in argvs if (lib := _lib(argv)) and lib not in self.unsafe)
        for lib, count in wanted.items():
            if lib not in self._servers and self._start(lib, timeout) is None:
                continue
            spares = self._spares.setdefault(lib, [])
            while 1 + len(spares) < count:
                server = Server(lib, library=lib not in self.imported_per_run)
                try:
                    server.hello(timeout)
                except (ServerGone, TimeoutError):
                    server.close()
                    break
                spares.append(server)

    def run(self, argv: Sequence[str], timeout: float) -> Completed | None:
        """The run through one of the library's servers, or None where it must be exec'd."""
        lib = _lib(argv)
        if lib is None or lib in self.unsafe:
            return None
        with self._lock:
            server = self._take(lib)
        if server is None:
            if lib in self._servers or threading.current_thread() is not threading.main_thread():
                return None  # every server busy: a fresh interpreter, as without servers
            server = self._start(lib, timeout)
            if server is None:
                return None
            self._busy.add(server)
        try:
            done = server.run(list(argv[3:]), timeout)
        except ServerGone as exc:  # killed from outside: this run fails, the next starts a new server
            tail = server.log_tail()
            self._drop(lib, server)
            raise RunnerError(str(exc), tail) from None
        finally:
            with self._lock:
                self._busy.discard(server)
        if server.threads > 1:
            self._refuse(lib, f"a thread appeared in its server after a run ({server.threads} threads)")
        return done

    def close(self) -> None:
        for server in [*self._servers.values(), *(s for spares in self._spares.values() for s in spares)]:
            server.close()
        self._servers.clear()
        self._spares.clear()

    def _take(self, lib: str) -> Server | None:
        for server in [self._servers.get(lib), *self._spares.get(lib, [])]:
            if server is not None and server not in self._busy:
                self._busy.add(server)
                return server
        return None

    def _start(self, lib: str, timeout: float) -> Server | None:
        """The library's server, started now: one that imported the library, else one that did not
        (where the import leaves a thread), else None (its runs are exec'd)."""
        for library in (True, False):
            server = Server(lib, library)
            try:
                server.hello(timeout)
            except ServerGone as exc:  # e.g. not importable: an exec'd runner says why, as it always did
                self.unsafe[lib] = str(exc)
                server.close()
                return None
            except TimeoutError:  # the import alone took the run's time: an exec'd runner would time out too
                tail = server.log_tail()
                server.close()
                raise RunnerError(f"runner timed out after {timeout:g} s (--runner-timeout)", tail) from None
            if server.threads <= 1:
                self._servers[lib] = server
                return server
            server.close()
            if library:
                reason = f"its import leaves {server.threads - 1} thread(s) running across a fork"
                self.imported_per_run[lib] = reason
                log.debug("mobiledl: %s imported per run, in each forked child: %s", lib, reason)
        self.imported_per_run.pop(lib, None)
        self._refuse(lib, f"{reason}, and so does a server without it")
        return None

    def _drop(self, lib: str, server: Server) -> None:
        with self._lock:
            if self._servers.get(lib) is server:
                del self._servers[lib]
            elif server in self._spares.get(lib, []):
                self._spares[lib].remove(server)
        server.close()

    def _refuse(self, lib: str, reason: str) -> None:
        self.unsafe[lib] = reason
        with self._lock:
            servers = [self._servers.pop(lib, None), *self._spares.pop(lib, [])]
        for server in servers:
            if server is not None:
                server.close()
        log.debug("mobiledl: %s runs exec'd, not forked: %s", lib, reason)


def _lib(argv: Sequence[str]) -> str | None:
    """The library of a runner argv a server can serve, or None."""
    if tuple(argv[:3]) != RUNNER or "--lib" not in argv[3:-1]:
        return None
    return argv[argv.index("--lib") + 1]


class ServerGone(Exception):
    pass


class Server:
    """One ``--serve LIB`` process: its own session, its log in a temporary folder."""

    def __init__(self, lib: str, library: bool = True) -> None:
        self.lib = lib
        self.folder = Path(tempfile.mkdtemp(prefix=f"mobiledl-zygote-{lib}-"))
        argv = [*RUNNER, "--serve", lib, "--parent", str(os.getpid()), *(() if library else ("--without-library",))]
        with (self.folder / "server.log").open("wb") as server_log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=server_log,
                                         start_new_session=True)
        self._buffer = b""
        self.threads = 0
        #: The child of the last run (tests read it).
        self.last_pid = 0

    def hello(self, timeout: float) -> None:
        self.threads = self._reply(time.monotonic() + timeout)["threads"]

    def run(self, argv: list[str], timeout: float) -> Completed:
        deadline = time.monotonic() + timeout
        out, err = self.folder / "stdout", self.folder / "stderr"
        request = {"argv": argv, "stdout": str(out), "stderr": str(err), "cwd": os.getcwd()}
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(request).encode() + b"\n")
            self.proc.stdin.flush()
        except OSError:
            raise ServerGone(f"the {self.lib} fork server has ended") from None
        try:
            self.last_pid = self._reply(deadline + 30)["pid"]  # forking is quick; the deadline is the child's
        except TimeoutError:
            raise ServerGone(f"the {self.lib} fork server stopped answering") from None
        try:
            ended = self._reply(deadline)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.last_pid, signal.SIGKILL)
            self._reply(time.monotonic() + 30)
            raise RunnerError(f"runner timed out after {timeout:g} s (--runner-timeout)",
                              _read(err)[-2000:]) from None
        self.threads = ended["threads"]
        return Completed(ended["returncode"], _read(out), _read(err))

    def log_tail(self) -> str:
        return _read(self.folder / "server.log")[-2000:]

    def close(self) -> None:
        """Closing its stdin ends the server; a kill makes sure."""
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _reply(self, deadline: float) -> dict[str, Any]:
        """The next reply line, or TimeoutError at the deadline, or ServerGone at its end."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
            chunk = os.read(fd, 65536)
            if not chunk:
                raise ServerGone(f"the {self.lib} fork server ended: {_last_line(self.log_tail())}")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        reply: dict[str, Any] = json.loads(line)
        return reply


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"
