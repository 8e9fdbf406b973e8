"""Comparisons as values: cases paired block by block, sessions through their blocks' controls.

Pure functions over records (no pytest, no rendering): ``report/`` renders what they return and
the gate (``results.py``) decides on it. ``stats.py`` holds the statistics underneath.

- **Within a session**, two cases of one block ran together (``blocks.py``): their per-block
  log-ratios are paired (paired t over blocks), so the machine's phases cancel from each ratio.
  Records from before blocks (no ``block``) are compared unpaired (Welch), as they were.
- **Across sessions** (``--benchmark-compare``), no block of one session shares a moment with a
  block of the other. Each block carries its own controls instead: the other cases of the same
  block whose build and artifact did not change between the sessions. An item's value in a
  block is its latency ÷ the geometric mean of those controls there, and the change is Welch on
  those normalised values. Where no unchanged case shares its blocks (or a side has no blocks),
  the item falls back to the session-wide drift correction and says so.
- **Verdict words never claim more than their interval**: ``slower``/``faster`` only where the
  change is established (Benjamini–Hochberg over the family); ``no change`` only where its CI
  lies within ± the equivalence margin (the gate's threshold, else ``MARGIN_PCT``); otherwise
  ``cannot tell (±N %)``, N being the CI's half-width.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from pytest_mobiledl import stats
from pytest_mobiledl.record import RunRecord

#: The equivalence margin (%) of ``no change`` when no gate threshold is given.
MARGIN_PCT = 5.0
#: Fewest unchanged items whose common shift is taken as the machine's drift between two sessions.
MIN_CONTROLS = 4


@dataclass(frozen=True)
class Comparison:
    """One item (or build) against what it is compared with."""

    item: str
    #: What it is compared with: ``the saved run``, or the other case or build.
    against: str
    change: stats.Change
    verdict: str
    #: How it was paired: ``paired (5 blocks)``, ``block controls (3 cases, 5 + 5 blocks)``,
    #: ``session drift ×1.021``, ``unpaired``.
    how: str
    #: Independent units on the smaller side (blocks or repeats): what more repeats would add to.
    units: int


# -- within a session ------------------------------------------------------------------------

def paired(base: Sequence[RunRecord], new: Sequence[RunRecord], by_repeat: bool = False) -> tuple[stats.Change, str]:
    """``new`` ÷ ``base``, paired block by block where both ran in the same blocks.

    ``by_repeat`` pairs records without blocks by their repeat number (``--variant`` builds ran
    adjacent, A B A B, before blocks existed). Fewer than two pairs: unpaired (Welch).
    """
    a, b = _keyed(base, by_repeat), _keyed(new, by_repeat)
    common = sorted(a.keys() & b.keys())
    if len(common) >= 2 and (len(common) == len(a) == len(b) or not by_repeat):
        unit = "blocks" if all(k[0] == "block" for k in common) else "rounds"
        return stats.compare_paired([a[k] for k in common], [b[k] for k in common]), f"paired ({len(common)} {unit})"
    return stats.compare(_values(base), _values(new)), "unpaired"


def fastest(candidates: Mapping[str, Sequence[RunRecord]], alpha: float = stats.ALPHA
            ) -> tuple[list[str], dict[str, tuple[stats.Change, str]]]:
    """The fastest candidate and every one the data cannot tell from it (Holm within the row),
    and each other candidate's change against the fastest (paired where they shared blocks)."""
    ranked = sorted(candidates, key=lambda name: stats.estimate(_values(candidates[name])).value)
    best, rest = ranked[0], ranked[1:]
    against = {name: paired(candidates[best], candidates[name]) for name in rest}
    told = [name for name in rest if against[name][0].told]
    q = dict(zip(told, stats.adjust([against[n][0].pvalue or 0.0 for n in told], "holm"), strict=True))
    return [best] + [name for name in rest if name not in q or q[name] >= alpha], against


# -- verdicts ---------------------------------------------------------------------------------

def verdicts(changes: Mapping[str, stats.Change], margin_pct: float | None = None,
             alpha: float = stats.ALPHA) -> dict[str, str]:
    """The verdict word per key, Benjamini–Hochberg over the family (see the module's docstring)."""
    margin = MARGIN_PCT if margin_pct is None else margin_pct
    told = [key for key, change in changes.items() if change.told]
    q = dict(zip(told, stats.adjust([changes[k].pvalue or 0.0 for k in told]), strict=True))
    out = {}
    for key, change in changes.items():
        if not change.told:
            out[key] = "cannot tell (n/a)"
        elif q[key] < alpha:
            out[key] = "slower" if change.ratio > 1 else "faster"
        elif within(change, margin):
            out[key] = "no change"
        else:
            out[key] = f"cannot tell (±{half_width_pct(change):.0f} %)"
    return out


def within(change: stats.Change, margin_pct: float) -> bool:
    """The whole CI lies inside ± the margin: an equivalence judgement (two one-sided tests at 2.5 %)."""
    if change.low is None or change.high is None:
        return False
    return change.low >= 1 - margin_pct / 100 and change.high <= 1 + margin_pct / 100


def half_width_pct(change: stats.Change) -> float:
    if change.low is None or change.high is None:
        return math.inf
    return (change.high - change.low) / 2 * 100


def judged(changes: Mapping[str, stats.Change], against: Callable[[str], str], how: Mapping[str, str],
           units: Mapping[str, int], margin_pct: float | None) -> list[Comparison]:
    words = verdicts(changes, margin_pct)
    return [Comparison(key, against(key), change, words[key], how[key], units[key]) for key, change in changes.items()]


# -- the gate ---------------------------------------------------------------------------------

def failing(comparisons: Iterable[Comparison], threshold_pct: float) -> list[Comparison]:
    """Established slowdowns of at least the threshold."""
    return [c for c in comparisons if c.verdict == "slower" and c.change.pct >= threshold_pct]


def undecided(comparisons: Iterable[Comparison], threshold_pct: float) -> list[Comparison]:
    """Items the gate cannot clear: a slowdown of the threshold is still inside their CI."""
    return [c for c in comparisons if c.verdict != "slower" and c.verdict != "faster"
            and (c.change.high is None or c.change.high > 1 + threshold_pct / 100)]


def repeats_needed(comparison: Comparison, threshold_pct: float) -> int | None:
    """Repeats that would narrow this CI to ± half the threshold (√n scaling; None: cannot say)."""
    width = half_width_pct(comparison.change)
    if not math.isfinite(width) or comparison.units < 2:
        return None
    return max(comparison.units + 1, math.ceil(comparison.units * (width / (threshold_pct / 2)) ** 2))


# -- across sessions --------------------------------------------------------------------------

def sessions(current: Mapping[str, Sequence[RunRecord]], baseline: Mapping[str, Sequence[RunRecord]],
             margin_pct: float | None = None) -> tuple[list[Comparison], str]:
    """Every item of both runs against its baseline: block-normalised where it can be, else
    relative to the session's drift. Returns the comparisons and a note on the drift."""
    both = [item for item in current if item in baseline]
    controls = {item for item in both if same_build(baseline[item], current[item])}
    moved = drift(current, baseline, controls)
    shift = moved[0] if moved else 1.0
    changes, how, units = {}, {}, {}
    for item in both:
        others = [c for c in controls if c != item and _place(current[c]) == _place(current[item])]
        found = _normalised(item, others, current, baseline)
        if found is not None:
            changes[item], how[item], units[item] = found
            continue
        base = baseline[item]
        changes[item] = stats.compare([v * shift for v in _values(base)], _values(current[item]))
        how[item] = f"session drift ×{shift:.3f}" if moved else "uncorrected"
        units[item] = min(len(base), len(current[item]))
    note = (f"machine drift: the {moved[1]} items whose build and artifact did not change moved ×{moved[0]:.3f} "
            "between the sessions (median); items without block controls are relative to it" if moved
            else f"no session drift correction: fewer than {MIN_CONTROLS} unchanged items")
    return judged(changes, lambda item: "the saved run", how, units, margin_pct), note


def _normalised(item: str, others: Sequence[str], current: Mapping[str, Sequence[RunRecord]],
                baseline: Mapping[str, Sequence[RunRecord]]) -> tuple[stats.Change, str, int] | None:
    """The item ÷ its block's controls, per block, in each session: Welch on those; None if either
    session has fewer than two blocks holding the item and every control."""
    if not others:
        return None
    sides = [_block_ratios(item, others, run) for run in (baseline, current)]
    if min(len(side) for side in sides) < 2:
        return None
    change = stats.compare(sides[0], sides[1])
    cases = f"{len(others)} case{'s' if len(others) > 1 else ''}"
    return change, f"block controls ({cases}, {len(sides[0])} + {len(sides[1])} blocks)", min(map(len, sides))


def _block_ratios(item: str, others: Sequence[str], run: Mapping[str, Sequence[RunRecord]]) -> list[float]:
    blocks: dict[str, dict[str, float]] = {}
    for name in (item, *others):
        for r in run[name]:
            if r.block.get("id"):
                blocks.setdefault(r.block["id"], {})[name] = math.log(r.median_ms)
    ratios = []
    for values in blocks.values():
        if len(values) == 1 + len(others):
            ratios.append(math.exp(values[item] - float(np.mean([values[o] for o in others]))))
    return ratios


def drift(current: Mapping[str, Sequence[RunRecord]], baseline: Mapping[str, Sequence[RunRecord]],
          controls: Iterable[str] | None = None) -> tuple[float, int] | None:
    """How much the machine moved between the sessions: the median ratio of the items whose build
    and artifact are the same on both sides (the controls), and their count; None below
    ``MIN_CONTROLS``. A session on a busier machine or a warmer phone slows every item alike;
    a library's regression moves its own items only."""
    if controls is None:
        controls = [item for item in current if item in baseline and same_build(baseline[item], current[item])]
    ratios = [stats.estimate(_values(current[item])).value / stats.estimate(_values(baseline[item])).value
              for item in controls]
    if len(ratios) < MIN_CONTROLS:
        return None
    return float(np.exp(np.median(np.log(ratios)))), len(ratios)


def same_build(base: Sequence[RunRecord], now: Sequence[RunRecord]) -> bool:
    """Same library version, same artifact bytes, and no slowdown injected on one side only: an
    item whose own code changed is no control, or the change it carries leaks into the drift."""
    return (versions(base) == versions(now) and artifacts(base) == artifacts(now)
            and _injected(base) == _injected(now))


def _injected(records: Sequence[RunRecord]) -> set[str]:
    """The test-only slowdown each record ran with (its amount where the record says it)."""
    return {str(r.engine_options.get("injected_delay", "flag")) if "injected_delay" in r.flags else ""
            for r in records}


# -- small readers of records -------------------------------------------------------------------

def versions(records: Sequence[RunRecord]) -> str:
    return "/".join(sorted({r.lib_version for r in records}))


def artifacts(records: Sequence[RunRecord]) -> set[str]:
    return {r.artifact_sha256 for r in records}


def _values(records: Sequence[RunRecord]) -> list[float]:
    return [r.median_ms for r in records]


def _place(records: Sequence[RunRecord]) -> tuple[str, str, str, str]:
    r = records[0]
    return str(r.device.get("serial", "?")), r.model, r.backend, r.precision


def _keyed(records: Sequence[RunRecord], by_repeat: bool) -> dict[tuple[str, str], float]:
    keyed = {}
    for r in records:
        if r.block.get("id"):
            keyed["block", str(r.block["id"])] = r.median_ms
        elif by_repeat:
            keyed["repeat", str(r.repeat)] = r.median_ms
    return keyed
