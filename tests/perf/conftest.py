"""The plugin's own speed figures, printed together at the end (pytester output stays captured).

Two sizes, one code path: **quick** (the default; CI runs it) measures each figure at small sizes,
still as a ratio taken in one run, interleaved, with a loose bound that catches a broken figure and
never a timing target; **full** (``MOBILEDL_PERF=full pytest -m perf tests/perf``, by hand) measures
at the sizes the figures in docs/perf.md were taken at. An environment variable rather than an
option: pytest reads a conftest's options only when its folder is named on the command line.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import pytest

FIGURES = pytest.StashKey[list[str]]()
MODE_ENV = "MOBILEDL_PERF"
MODES = ("quick", "full")
T = TypeVar("T")


@dataclass(frozen=True)
class Perf:
    """The sizes of this run: ``perf.pick(quick=3, full=8)``."""

    mode: str

    @property
    def full(self) -> bool:
        return self.mode == "full"

    def pick(self, quick: T, full: T) -> T:
        return full if self.full else quick


def mode() -> Perf:
    value = os.environ.get(MODE_ENV, "quick").strip() or "quick"
    if value not in MODES:
        raise pytest.UsageError(f"{MODE_ENV}={value}: choose {' or '.join(MODES)}")
    return Perf(value)


def pytest_configure(config: pytest.Config) -> None:
    mode()  # a bad value stops the run before any figure is measured


@pytest.fixture(scope="session")
def perf() -> Perf:
    return mode()


@pytest.fixture
def figure(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Report one measured figure: ``figure("fidelity … = 1.01")``."""
    return request.config.stash.setdefault(FIGURES, []).append


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    figures = config.stash.get(FIGURES, [])
    if figures:
        terminalreporter.section(f"perf figures ({mode().mode}; {MODE_ENV}=full for the sizes of docs/perf.md)")
        for line in figures:
            terminalreporter.write_line(line)
