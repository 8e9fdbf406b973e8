"""Interrupts that stop cleanly: SIGTERM becomes Ctrl-C, and runner processes die with their parent.

A CI timeout or ``kill`` sends SIGTERM, whose default ends Python at once: no sessionfinish, no
runner cleanup. As a KeyboardInterrupt it takes pytest's own path for Ctrl-C (the journal keeps
what finished; pytest-benchmark saves what it holds). A SIGKILL cannot be caught: for that the
runner asks the kernel to kill it when its parent dies (Linux ``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import threading
from types import FrameType
from typing import Any

PR_SET_PDEATHSIG = 1
_previous: Any = None


def stop_on_sigterm() -> None:
    """From now on SIGTERM interrupts the session like Ctrl-C (main thread only)."""
    global _previous
    if threading.current_thread() is threading.main_thread() and _previous is None:
        _previous = signal.signal(signal.SIGTERM, _interrupt)


def restore() -> None:
    global _previous
    if _previous is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _previous)
        _previous = None


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"{signal.Signals(signum).name} received")


_LIBC = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True) if os.name == "posix" else None


def die_with_parent(parent: int) -> None:
    """In a child between fork and exec: SIGKILL it when its parent goes, even by SIGKILL.

    Loaded before the fork (``_LIBC``): a child of a threaded parent must not import."""
    if _LIBC is not None and hasattr(_LIBC, "prctl"):
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before prctl: nobody would kill us later
        os._exit(1)
