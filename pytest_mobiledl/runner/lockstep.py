"""Lockstep: the cases of one block alive together, their timed runs taking turns.

A machine's speed moves in phases of seconds (a co-tenant on the core, its clock, a phone's
heat), so two cases timed seconds apart differ by the phase as much as by themselves, while
cases timed within the same second agree to ~2 % (docs/statistics.md). So the cases a verdict
compares run as one *block*: one fresh runner process per case, all pinned to the same cores.
They start together (imports, untimed); then one at a time each prepares (load, init, first
inference, warm-up: cold-start figures are never measured beside another's load); then the
coordinator gives each a *turn* of ``burst`` timed runs, round after round, each round in another
order (``round_order``: over the rounds each case takes every place and follows every other case
equally often), until every case has its runs (and ``--min-time``); then each prints its record
as it always does.

Only the case whose turn it is may run: the others are stopped (SIGSTOP) between their turns, and
continued (SIGCONT) for their next. Thread pools spin after a run before they sleep (ONNX Runtime's
intra-op pool, OpenMP in ncnn): left running, an idle case's spin ran beside the next case's turn
and slowed it (measured: ONNX Runtime at 2 threads, 2.8 ms alone, 4–7 ms beside its own twin).

Wire, one line per message over a Unix socket: runner → coordinator ``hello SLOT PID`` (on
connect), ``ready`` (after its warm-up), ``done`` (after a turn); coordinator → runner
``prepare``, ``run N``, ``end``. A runner whose link breaks stops with one line on stderr; the
coordinator drops a runner that ends, hangs past the timeout or says something else (continuing
it first), and the block goes on without it.

``python -m pytest_mobiledl.runner --block SPEC`` (runner/block.py) runs a whole block where the
runners run (the loopback emulator).
"""

from __future__ import annotations

import math
import os
import signal
import socket
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

from pytest_mobiledl.errors import MobiledlError

#: Turns per block at the requested runs: more turns pair finer, fewer keep caches warmer.
TURNS = 10


def burst(iterations: int) -> int:
    """Timed runs per turn: the requested runs in about ``TURNS`` turns."""
    return max(1, math.ceil(iterations / TURNS))


class Link:
    """The runner's side: connected after its imports, obeying the coordinator."""

    def __init__(self, path: str, slot: int) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.sock.connect(path)
        except OSError as exc:
            raise MobiledlError(f"cannot join the lockstep block at {path}: {exc.strerror}") from None
        self.file = self.sock.makefile("rw", encoding="ascii", newline="\n")
        self.send(f"hello {slot} {os.getpid()}")

    def send(self, message: str) -> None:
        self.file.write(message + "\n")
        self.file.flush()

    def receive(self) -> str:
        line = self.file.readline()
        if not line:
            raise MobiledlError("the lockstep coordinator ended the block before this case was done")
        return line.strip()


class Coordinator:
    """The block's side: a listening socket; ``serve`` runs the block over whoever joined."""

    def __init__(self, size: int, timeout: float, folder: str | None = None) -> None:
        self.size = size
        self.timeout = timeout
        self.folder = tempfile.mkdtemp(prefix="mobiledl-block-", dir=folder)
        self.path = os.path.join(self.folder, "s")
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(self.path)
        self.server.listen(size)
        self.links: dict[int, Any] = {}
        self.pids: dict[int, int] = {}
        #: Slots dropped, and why (the runner's own stderr usually says more).
        self.dropped: dict[int, str] = {}

    def serve(self, iterations: int, min_time: float, gone: Callable[[int], bool]) -> None:
        """Wait for every runner that has not ended, prepare each in turn, then the turns, then end."""
        self._join(gone)
        for slot in sorted(self.links):
            self._ask(slot, "prepare", "ready")
        runs, step, started, rounds = 0, burst(iterations), time.monotonic(), 0
        while self.links and (runs < iterations or time.monotonic() - started < min_time):
            for slot in round_order(sorted(self.links), rounds):
                self._ask(slot, f"run {step}", "done")
            runs, rounds = runs + step, rounds + 1
        for slot in list(self.links):
            self._signal(slot, signal.SIGCONT)
            self._say(slot, "end")
            self._close(slot)

    def close(self) -> None:
        for slot in list(self.links):
            self._close(slot)
        self.server.close()
        for name in (self.path, self.folder):
            try:
                os.rmdir(name) if name == self.folder else os.unlink(name)
            except OSError:
                pass

    def _join(self, gone: Callable[[int], bool]) -> None:
        deadline = time.monotonic() + self.timeout
        self.server.settimeout(0.05)
        while len(self.links) < self.size and time.monotonic() < deadline:
            if all(gone(slot) for slot in range(self.size) if slot not in self.links):
                break  # the rest ended before joining (a bad argument, an import error): go on without them
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            conn.settimeout(self.timeout)
            stream = conn.makefile("rw", encoding="ascii", newline="\n")
            hello = stream.readline().split()
            if len(hello) == 3 and hello[0] == "hello" and hello[1].isdigit() and hello[2].isdigit():
                self.links[int(hello[1])] = (conn, stream)
                self.pids[int(hello[1])] = int(hello[2])
                self._signal(int(hello[1]), signal.SIGSTOP)  # its import may have left a thread running
            else:
                conn.close()

    def _ask(self, slot: int, message: str, answer: str) -> None:
        """Its turn: continued, told, answered, stopped again."""
        self._signal(slot, signal.SIGCONT)
        if slot in self.links and self._say(slot, message):
            stream = self.links[slot][1]
            try:
                got = stream.readline().strip()
            except OSError:
                got = "(timed out)"
            if got != answer:
                self.dropped[slot] = f"said {got or 'nothing (it ended)'!r} to {message!r}"
                self._close(slot)
                return
            self._signal(slot, signal.SIGSTOP)

    def _signal(self, slot: int, sig: signal.Signals) -> None:
        try:
            os.kill(self.pids[slot], sig)
        except (KeyError, ProcessLookupError, PermissionError):
            pass  # it ended (its own outcome says how) or was never ours to stop

    def _say(self, slot: int, message: str) -> bool:
        stream = self.links[slot][1]
        try:
            stream.write(message + "\n")
            stream.flush()
            return True
        except OSError:
            self.dropped[slot] = f"went away before {message!r}"
            self._close(slot)
            return False

    def _close(self, slot: int) -> None:
        self._signal(slot, signal.SIGCONT)  # never leave a process stopped
        conn, stream = self.links.pop(slot)
        for part in (stream, conn):
            try:
                part.close()
            except OSError:
                pass


def round_order(slots: list[int], k: int) -> list[int]:
    """Round k's order, from a Williams design: over the rounds every case takes every place, and
    follows every other case, equally often (over n rounds for n cases, 2n where n is odd).

    What a turn leaves behind (an idle second core after a 1-thread case, warm caches after its own
    library) then falls on every case alike. Rotation (A B C, B C A, …) balanced the places only:
    within a round each case followed the same one, and LiteRT at 2 threads, always following a
    1-thread case, read 5–31 % slower than an identical build that followed a 2-thread one.
    For two cases it is A B, B A, … as before.
    """
    n = len(slots)
    if n < 2:
        return list(slots)
    # 0, 1, n-1, 2, n-2, …: its steps (+1, -2, +3, …) are every nonzero step mod n once, for even n
    base = [(i + 1) // 2 if i % 2 else (n - i // 2) % n for i in range(n)]
    row, mirrored = (k % n, False) if n % 2 == 0 else ((k // 2) % n, k % 2 == 1)
    order = [slots[(b + row) % n] for b in base]
    return order[::-1] if mirrored else order


def lockstep_argv(argv: Sequence[str], path: str, slot: int) -> list[str]:
    return [*argv, "--lockstep", path, "--slot", str(slot)]
