"""One run at a time on a phone, across sessions.

Within a session the xdist scheduler gives each device to one worker. Two sessions (two
terminals, two CI jobs on one machine) would still measure on one phone at once, each slowing
the other unflagged. So every run holds a lock file keyed by the adb server and serial; a second
session waits for the phone (bounded) and then fails its item with one line. The host is not
locked: it is its own device per session, as before. Sessions on other machines that share a
phone through one adb server meet at the phone's own lock folder (``AdbDevice.hold``).
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_mobiledl.devices import Kind
from pytest_mobiledl.errors import RunnerError

if TYPE_CHECKING:
    from pytest_mobiledl.devices import Device

FOLDER = Path(tempfile.gettempdir()) / "mobiledl-locks"
#: Seconds a session waits for a busy phone beyond one run's --runner-timeout.
GRACE_S = 10.0
#: Serials found busy in this process, with how long was waited.
_BUSY: dict[str, float] = {}


def path(server: str, serial: str) -> Path:
    key = hashlib.sha256(f"{server}/{serial}".encode()).hexdigest()[:16]
    return FOLDER / f"{''.join(c if c.isalnum() else '_' for c in serial)[:40]}-{key}.lock"


@contextmanager
def exclusive(device: Device, wait_s: float) -> Iterator[None]:
    """Hold ``device`` for one run; RunnerError naming it if another session holds it past ``wait_s``."""
    server = device.info().get("adb_server")
    if device.kind is Kind.HOST or not server:
        yield
        return
    from filelock import FileLock, Timeout

    FOLDER.mkdir(parents=True, exist_ok=True)
    lock = FileLock(path(server, device.serial))
    try:
        # Once a phone was found busy, its other items fail at once instead of each waiting.
        lock.acquire(timeout=0 if device.serial in _BUSY else wait_s)
    except Timeout:
        _BUSY[device.serial] = _BUSY.get(device.serial, wait_s)
        raise RunnerError(f"{device.serial} is busy: another pytest-mobiledl session kept it for "
                          f"{_BUSY[device.serial]:g} s (one run per phone at a time; lock {lock.lock_file})") from None
    _BUSY.pop(device.serial, None)
    try:
        with device.hold(wait_s, wait_s):
            device.reap()  # nobody else runs here now: a runner still alive is a killed session's leftover
            yield
    finally:
        lock.release()
