"""Long steps say what they do, that they are still at it, and how long they took."""

from __future__ import annotations

import time

import pytest

from pytest_mobiledl import progress


def test_a_step_says_its_start_that_it_is_alive_and_its_time() -> None:
    lines: list[str] = []
    with progress.step("converting m for lib (fp32)", lines.append, every=0.05, done=" (where it counts)"):
        time.sleep(0.3)
    assert lines[0] == "mobiledl: converting m for lib (fp32) …"
    assert any(line.startswith("mobiledl: … still converting m for lib (fp32) (") for line in lines[1:-1])
    assert lines[-1].startswith("mobiledl: converting m for lib (fp32): done in 0.")
    assert lines[-1].endswith(" s (where it counts)")


def test_a_failed_step_says_it_stopped() -> None:
    lines: list[str] = []
    with pytest.raises(ValueError), progress.step("making x", lines.append, done=" (unsaid)"):
        raise ValueError("no")
    assert lines[-1].startswith("mobiledl: making x: stopped in ") and "unsaid" not in lines[-1]


def test_a_quiet_step_says_nothing_when_quick_and_what_it_does_when_long() -> None:
    lines: list[str] = []
    with progress.step("checking", lines.append, every=0.5, quiet=True):
        pass
    assert lines == []
    with progress.step("building my.py (its build())", lines.append, every=0.05, quiet=True):
        time.sleep(0.2)
    assert lines[0].startswith("mobiledl: … still building my.py (its build()) (")
    assert lines[-1].startswith("mobiledl: building my.py (its build()): done in ")
