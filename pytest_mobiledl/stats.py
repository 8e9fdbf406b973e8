"""Verdicts from repeats: an item's typical latency with its 95 % CI, comparisons, ties, the gate.

Pure functions over per-repeat values (no pytest here). The unit of replication is the *repeat*:
one fresh runner process, or one invocation of a library's own tool. Samples inside one process
share its caches, clocks and neighbours, so they say little about the next process; the
variance that decides verdicts on a shared machine or a warm phone is between processes.

Method (docs/statistics.md has the reasoning and references):

- each repeat is reduced to its median (a summary-only tool's mean stands in);
- on the log scale, those per-repeat values are independent draws around the item's typical
  latency (process effects are multiplicative: a busy core slows every run of a process by a
  factor). The item's value is their geometric mean; its CI is Student's t on the logs;
- two items (or an item and its baseline) are compared with Welch's t-test on the logs: the
  change is the ratio of geometric means, with its CI and p-value; two builds whose repeats ran
  in alternation (``--variant``) are compared pair by pair (paired t on the logs);
- a family of comparisons (all items of a session compare) is controlled with
  Benjamini–Hochberg; the libraries of one fragmentation row with Holm (``adjust``).

Pairing by blocks, verdict words and the gate are ``compare.py``'s, on top of these.

Fewer than two repeats on either side cannot estimate the between-process variance: the CI is
then ``None`` and a comparison says it cannot tell, rather than guess from one process.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

LEVEL = 0.95
ALPHA = 0.05


@dataclass(frozen=True)
class Estimate:
    """An item's typical latency (ms) and its CI; ``low``/``high`` are None below two repeats."""

    value: float
    low: float | None
    high: float | None
    repeats: int

    @property
    def half_width_pct(self) -> float | None:
        """Half the CI's width in % of the value: the smallest change this run could detect."""
        if self.low is None or self.high is None:
            return None
        return (self.high - self.low) / 2 / self.value * 100


@dataclass(frozen=True)
class Change:
    """``new`` against ``base`` as a ratio of typical latencies (1.10 = 10 % slower)."""

    ratio: float
    low: float | None
    high: float | None
    pvalue: float | None

    @property
    def pct(self) -> float:
        return (self.ratio - 1) * 100

    @property
    def told(self) -> bool:
        """Whether the data can say anything: both sides had two repeats or more."""
        return self.pvalue is not None


def estimate(values: Sequence[float], level: float = LEVEL) -> Estimate:
    """The geometric mean of per-repeat values with Student's t CI on their logs."""
    logs = _logs(values)
    centre = float(np.mean(logs))
    if len(logs) < 2:
        return Estimate(math.exp(centre), None, None, len(logs))
    from scipy import stats

    sem = float(np.std(logs, ddof=1)) / math.sqrt(len(logs))
    if sem == 0:
        low = high = centre
    else:
        low, high = stats.t.interval(level, len(logs) - 1, loc=centre, scale=sem)
    return Estimate(math.exp(centre), math.exp(low), math.exp(high), len(logs))


def compare(base: Sequence[float], new: Sequence[float], level: float = LEVEL) -> Change:
    """Welch's t-test on log values: the ratio new ÷ base, its CI and the two-sided p-value."""
    a, b = _logs(base), _logs(new)
    ratio = math.exp(float(np.mean(b) - np.mean(a)))
    if len(a) < 2 or len(b) < 2:
        return Change(ratio, None, None, None)
    if np.ptp(a) == 0 and np.ptp(b) == 0:  # no spread at all: only identical values are equal
        same = ratio == 1
        return Change(ratio, ratio, ratio, 1.0 if same else 0.0)
    from scipy import stats

    result = stats.ttest_ind(b, a, equal_var=False)
    ci = result.confidence_interval(level)
    return Change(ratio, math.exp(ci.low), math.exp(ci.high), float(result.pvalue))


def compare_paired(base: Sequence[float], new: Sequence[float], level: float = LEVEL) -> Change:
    """Paired t-test on log values, pair k being base's and new's k-th repeat.

    For repeats run one after the other in rounds (``--variant`` builds, A B A B …): what drifts
    between rounds hits both sides of a pair and cancels from the per-round ratio.
    """
    a, b = _logs(base), _logs(new)
    if len(a) != len(b):
        raise ValueError(f"paired values need equal counts, got {len(a)} and {len(b)}")
    diff = b - a
    ratio = math.exp(float(np.mean(diff)))
    if len(diff) < 2:
        return Change(ratio, None, None, None)
    if np.ptp(diff) == 0:  # every round the same ratio: only a ratio of 1 is no change
        return Change(ratio, ratio, ratio, 1.0 if ratio == 1 else 0.0)
    from scipy import stats

    result = stats.ttest_rel(b, a)
    ci = result.confidence_interval(level)
    return Change(ratio, math.exp(ci.low), math.exp(ci.high), float(result.pvalue))


def adjust(pvalues: Sequence[float], method: str = "bh") -> list[float]:
    """Family-wise adjusted p-values: Benjamini–Hochberg (``bh``) or Holm (``holm``)."""
    if not pvalues:
        return []
    p = np.asarray(pvalues, dtype=float)
    if method == "bh":
        from scipy import stats

        return [float(v) for v in stats.false_discovery_control(p, method="bh")]
    order = np.argsort(p)
    adjusted = np.empty_like(p)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[index]))
        adjusted[index] = running
    return [float(v) for v in adjusted]


def _logs(values: Sequence[float]) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"per-repeat values must be finite and > 0, got {list(values)}")
    logs: np.ndarray = np.log(arr)
    return logs
