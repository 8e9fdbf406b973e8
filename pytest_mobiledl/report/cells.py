"""How the report writes a figure or a name in one table cell: the same words in every table.

Estimates and changes carry their 95 % CI in brackets (``n/a`` where fewer than 2 repeats give
none); a library is named by its build (``lib@label``) and, where thread counts compete, its
best thread count. Plain strings, no pandas: the session's lines use them too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pytest_mobiledl.keys import VARIANT, build_name

if TYPE_CHECKING:
    from pytest_mobiledl.record import RunRecord
    from pytest_mobiledl.stats import Change, Estimate


def estimate(est: Estimate) -> str:
    """``5 [2.87, 8.7]``: the typical value and its CI."""
    if est.low is None or est.high is None:
        return f"{est.value:.3g} [n/a]"
    return f"{est.value:.3g} [{est.low:.3g}, {est.high:.3g}]"


def half_width(est: Estimate) -> str:
    """``12.3%``: the CI's half-width, the smallest change it can detect."""
    pct = est.half_width_pct
    return "n/a" if pct is None else f"{pct:.1f}%"


def ratio(change: Change) -> str:
    """``1.25 [1.10, 1.42]``: a ratio and its CI."""
    if change.low is None or change.high is None:
        return f"{change.ratio:.2f} [n/a]"
    return f"{change.ratio:.2f} [{change.low:.2f}, {change.high:.2f}]"


def pct(change: Change) -> str:
    """``+4.2 [+1.0, +7.5]``: a change in percent and its CI."""
    if change.low is None or change.high is None:
        return f"{change.pct:+.1f} [n/a]"
    return f"{change.pct:+.1f} [{signed_pct(change.low)}, {signed_pct(change.high)}]"


def signed_pct(ratio: float | None) -> str:
    """A ratio as a signed change in percent: 1.042 → ``+4.2`` (``n/a`` for none)."""
    return "n/a" if ratio is None else f"{(ratio - 1) * 100:+.1f}"


def lib_name(record: RunRecord) -> str:
    """``onnxruntime``, or ``onnxruntime@old`` for a --variant's build."""
    return build_name(record.lib, record.engine_options.get(VARIANT) or "")


def lib_threads(row: Any) -> str:
    """``onnxruntime (t4)``: a library (``row.lib``) at the thread count of its row."""
    return f"{row.lib} (t{row.threads})"


def fastest(leaders: Sequence[Any]) -> str:
    """The fastest library's row named, or ``tie: a (t1) ≈ b (t2)`` where the data leave several."""
    if len(leaders) == 1:
        return lib_threads(leaders[0])
    return "tie: " + " ≈ ".join(lib_threads(row) for row in leaders)
