"""Faults a reliability test injects into a running loopback device."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Faults:
    """Knobs read at each event, so a test may flip them while the device runs.

    Mutable on purpose (unlike the package's records): it is live device state, not a result.
    The one-shot faults are methods on `Device`: `drop()` and `kill_commands()`.
    """

    # Every new stream (shell, push, pull) waits this long before the device answers its OPEN:
    # a slow or loaded phone. A client whose timeout is shorter sees AdbTimeout.
    open_delay_s: float = 0.0
    # Non-empty: every push (sync SEND) is answered FAIL with this message, as a full or
    # read-only phone does.
    push_error: str = ""
    # A service prefix ("shell", "sync:"): the device drops its transport when such a stream
    # opens, as a phone whose cable is pulled at that moment.
    drop_on_open: str = ""
    # True: the device refuses new transports, so after a drop it stays gone (unplugged).
    offline: bool = False

    def clear(self) -> None:
        self.open_delay_s = 0.0
        self.push_error = ""
        self.drop_on_open = ""
        self.offline = False
