"""The fork server: ``python -m pytest_mobiledl.runner --serve LIB --parent PID``.

Imports numpy and the library's ``RUNTIME`` modules once, then forks one child per request, and
the child does exactly what ``main(argv)`` does in a fresh process. The server never opens a
session, so each child builds its own from nothing: only the imported code is shared. With
``--without-library`` it imports numpy and the runner only, and each child imports the library
itself: for a library whose import leaves a thread running, which must never be forked past.

Wire (one JSON object per line; requests on stdin, replies on the stdout it started with):
``{"pid", "threads"}`` once imported — ``threads`` > 1 means a thread outlived a fork, and the
server exits (forking it could deadlock a child); then per request ``{"argv", "stdout", "stderr",
"cwd"}`` → ``{"pid"}`` when forked → ``{"returncode", "threads"}`` when the child has ended.
The child's stdout and stderr are the request's files, so its record line stays its own.
"""

from __future__ import annotations

import ctypes
import importlib
import json
import os
import signal
import sys
import traceback
from typing import IO, Any, NoReturn

from pytest_mobiledl import engines

PR_SET_PDEATHSIG = 1
OUTPUTS = ("stdout", "stderr")


def serve(lib: str, parent: int, library: bool = True) -> int:
    die_with_parent(parent)
    reply = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # what the libraries print (MNN does, at import) goes to the server's log
    importlib.import_module("numpy")
    importlib.import_module("pytest_mobiledl.runner.measure")
    for module in engines.get(lib).RUNTIME if library else ():
        importlib.import_module(module)
    threads = threads_across_fork()
    _send(reply, {"pid": os.getpid(), "threads": threads})
    if threads > 1:
        return 0
    for line in sys.stdin:  # ends when the host closes our stdin
        request = json.loads(line)
        out, err = (os.open(request[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600) for name in OUTPUTS)
        pid = fork_case(request["argv"], out, err, cwd=request["cwd"], close=reply)
        os.close(out)
        os.close(err)
        _send(reply, {"pid": pid})
        _, status = os.waitpid(pid, 0)
        _send(reply, {"returncode": os.waitstatus_to_exitcode(status), "threads": threads_across_fork()})
    return 0


def fork_case(argv: list[str], stdout: int, stderr: int, cwd: str = ".", close: IO[str] | None = None) -> int:
    """A forked child that measures the case ``argv`` as a fresh process would, writing to these
    descriptors, in a process group of its own (a timeout kills it and whatever the library
    started, never its parent), ending when its parent ends; its pid."""
    sys.stdout.flush()
    sys.stderr.flush()  # or the child would write our buffered text into its files
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        _child(argv, stdout, stderr, cwd, parent, close)
    try:
        os.setpgid(pid, pid)  # the child does it too: whoever is first, a kill finds the group
    except OSError:
        pass
    return pid


def die_with_parent(parent: int) -> None:
    """Linux kills us when the process that started us ends (even by SIGKILL)."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it ended before we asked
        os._exit(1)


def threads_across_fork() -> int:
    """Threads still alive in this process just after a fork: those the child would lack.

    Counted after a fork, not before, because a pool with a fork handler (numpy's OpenBLAS) stops
    its threads before every fork and starts them again when next used.
    """
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    count = len(os.listdir("/proc/self/task"))
    os.waitpid(pid, 0)
    return count


def _child(argv: list[str], stdout: int, stderr: int, cwd: str, parent: int, close: IO[str] | None) -> NoReturn:
    from pytest_mobiledl.runner.measure import main

    code = 1
    try:
        os.setpgid(0, 0)
        die_with_parent(parent)  # not getppid(): the parent may be gone already
        if close is not None:
            close.close()
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        os.dup2(stdout, 1)
        os.dup2(stderr, 2)
        os.chdir(cwd)
        code = main(argv)
    except SystemExit as exc:  # argparse
        code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    except BaseException:  # noqa: BLE001 - as the interpreter would: a traceback and status 1
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _send(reply: IO[str], message: dict[str, Any]) -> None:
    reply.write(json.dumps(message) + "\n")
    reply.flush()
