"""Progress lines for long steps (a conversion, making a variant's environment): what, for which
library, how long so far, shown as they happen and never charged silently to a measurement.

A step says what it starts, says it is still at it every ``EVERY_S`` seconds, and says how long it
took when it ends. Lines go to the terminal past pytest's output capture (also from an xdist
worker, whose stderr is the session's), so a 30 s conversion inside an item is seen then, not after.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest

Say = Callable[[str], None]
#: A step shorter than this says only its start and end; a longer one says it is alive this often.
EVERY_S = 10.0


def stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def past_capture(config: pytest.Config | None) -> Say:
    """Lines to the terminal even while pytest captures a test's output."""
    capman = config.pluginmanager.get_plugin("capturemanager") if config is not None else None
    if capman is None:
        return stderr

    def say(line: str) -> None:
        with capman.global_and_fixture_disabled():
            stderr(line)

    return say


@contextmanager
def step(what: str, say: Say, every: float = EVERY_S, done: str = "", quiet: bool = False) -> Iterator[None]:
    """``mobiledl: <what> …``, then ``… still <what> (N s)`` while it lasts, then the time it took
    (with ``done`` appended: where that time is counted). A failure ends it with its elapsed time.
    ``quiet``: a step shorter than ``every`` says nothing at all (a quick check stays silent)."""
    said = [not quiet]
    if not quiet:
        say(f"mobiledl: {what} …")
    started = time.monotonic()
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(every):
            said[0] = True
            say(f"mobiledl: … still {what} ({time.monotonic() - started:.0f} s)")

    ticker = threading.Thread(target=tick, name="mobiledl-progress", daemon=True)
    ticker.start()
    ok = False
    try:
        yield
        ok = True
    finally:
        stop.set()
        ticker.join()
        elapsed = time.monotonic() - started
        if said[0]:
            say(f"mobiledl: {what}: {'done' if ok else 'stopped'} in {elapsed:.1f} s{done if ok else ''}")
