"""The statistics behind verdicts, on synthetic data whose answer is known.

Per-repeat values are drawn the way this machine makes them: a process-level factor
(log-normal, ~8 % spread) times the true latency. Seeds are fixed, so these are exact checks of
the method's error rates at those seeds, not timing assertions.
"""

from __future__ import annotations

import numpy as np
import pytest

from pytest_mobiledl import compare, stats


def repeats(rng: np.random.Generator, true_ms: float, n: int, spread: float = 0.08) -> list[float]:
    return list(true_ms * np.exp(rng.normal(0, spread, n)))


def test_the_ci_covers_the_true_latency_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(1)
    covered = 0
    for _ in range(1000):
        est = stats.estimate(repeats(rng, 10.0, 5))
        assert est.low is not None and est.high is not None
        covered += est.low <= 10.0 <= est.high
    assert 930 <= covered <= 970


def test_one_repeat_has_no_ci_and_cannot_be_compared() -> None:
    est = stats.estimate([7.0])
    assert (est.low, est.high, est.half_width_pct) == (None, None, None) and est.value == pytest.approx(7.0)
    change = stats.compare([7.0], [8.0, 8.1])
    assert not change.told and compare.verdicts({"x": change}) == {"x": "cannot tell (n/a)"}


def test_a_known_shift_is_found_with_its_size() -> None:
    rng = np.random.default_rng(2)
    change = stats.compare(repeats(rng, 10.0, 8), repeats(rng, 12.0, 8))
    assert change.low is not None and change.high is not None
    assert change.low <= 1.2 <= change.high and change.low > 1
    assert compare.verdicts({"x": change}) == {"x": "slower"}
    assert gate({"x": change}, 10) == ["x"]
    assert gate({"x": change}, 40) == []  # established, but smaller than the threshold


def test_no_shift_is_invented_across_many_items() -> None:
    rng = np.random.default_rng(3)
    flagged = 0
    for _ in range(100):  # 100 sessions of 20 identical items: BH keeps false alarms rare
        changes = {str(i): stats.compare(repeats(rng, 10.0, 5), repeats(rng, 10.0, 5)) for i in range(20)}
        flagged += len(gate(changes, 0))
    assert flagged / 2000 <= 0.01


def test_a_slowdown_among_identical_items_is_caught_and_only_it() -> None:
    rng = np.random.default_rng(4)
    caught = others = 0
    for _ in range(100):
        changes = {str(i): stats.compare(repeats(rng, 10.0, 5), repeats(rng, 10.0, 5)) for i in range(9)}
        changes["slow"] = stats.compare(repeats(rng, 10.0, 5, 0.03), repeats(rng, 12.0, 5, 0.03))
        failing = gate(changes, 10)
        caught += "slow" in failing
        others += len([k for k in failing if k != "slow"])
    assert caught >= 95 and others / 900 <= 0.01


def test_identical_values_without_spread() -> None:
    assert stats.compare([5.0, 5.0], [5.0, 5.0]).pvalue == 1.0
    assert stats.compare([5.0, 5.0], [6.0, 6.0]).pvalue == 0.0
    assert stats.estimate([5.0, 5.0]).half_width_pct == 0


def gate(changes: dict[str, stats.Change], threshold: float) -> list[str]:
    """The gate's decision over these changes, as results.py takes it (compare.failing)."""
    found = compare.judged(changes, lambda key: "base", dict.fromkeys(changes, "unpaired"),
                           dict.fromkeys(changes, 5), threshold)
    return [c.item for c in compare.failing(found, threshold)]


def test_holm_and_bh_adjust_as_published() -> None:
    p = [0.01, 0.04, 0.03, 0.005]
    assert stats.adjust(p, "holm") == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert stats.adjust(p, "bh") == pytest.approx([0.02, 0.04, 0.04, 0.02])


@pytest.mark.parametrize("bad", [[], [0.0], [-1.0, 2.0], [float("nan")]])
def test_bad_values_are_refused(bad: list[float]) -> None:
    with pytest.raises(ValueError, match="finite and > 0"):
        stats.estimate(bad)
