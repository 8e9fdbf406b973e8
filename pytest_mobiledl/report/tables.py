"""Session tables: who wins where (fragmentation), by how much (gap), and what changed (changes).

Every figure is an item's typical latency over its repeats with its 95 % CI (``stats``). Each
library is represented in a group by its best configuration (its fastest thread count), because
that is the question a team asks: which library, set up at its best, is fastest here. A winner is
named only where the data tell it from every other library; otherwise the row says ``tie``.
Summary-only records (a tool that printed a mean) are marked, never silently mixed with medians.
A library whose artifact failed parity is not ranked (its number is of another model); the
``parity`` column names it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pytest_mobiledl import stats
from pytest_mobiledl.record import RunRecord

if TYPE_CHECKING:
    import pandas as pd

PLACE = ["model", "device", "backend", "precision"]
CASE = [*PLACE, "threads", "lib"]


def frame(records: Sequence[RunRecord]) -> pd.DataFrame:
    """One row per case: its repeats' values and their estimate."""
    import pandas as pd

    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in records:
        key = (r.model, r.device.get("serial", "?"), r.backend, r.precision, r.threads, r.lib)
        row = rows.setdefault(key, {**dict(zip(CASE, key, strict=True)), "version": r.lib_version, "values": [],
                                    "statistic": "median" if r.samples_ms is not None else "mean",
                                    "parity_failed": False, "rel_err": None})
        row["values"].append(r.median_ms)
        if r.parity is not None and not r.parity.get("passed"):
            row["parity_failed"], row["rel_err"] = True, r.parity.get("max_rel_err")
    for row in rows.values():
        row["estimate"] = stats.estimate(row["values"])
        row["median_ms"] = row["estimate"].value
    return pd.DataFrame(list(rows.values()), columns=[*CASE, "version", "values", "estimate", "median_ms",
                                                      "statistic", "parity_failed", "rel_err"])


def best_per_lib(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Each library's fastest row within each group of ``keys``."""
    best = df.loc[df.groupby([*keys, "lib"])["median_ms"].idxmin()]
    return best.sort_values([*keys, "median_ms"])


def fragmentation(df: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    failed = df[df["parity_failed"]].groupby(PLACE)
    rows = []
    for place, group in best_per_lib(df[~df["parity_failed"]], PLACE).groupby(PLACE, sort=True):
        by_lib = {row.lib: row for row in group.itertuples()}
        leaders = stats.fastest({lib: row.values for lib, row in by_lib.items()})
        first = by_lib[leaders[0]]
        others = [row for row in group.itertuples() if row.lib not in leaders]
        rows.append({
            **dict(zip(PLACE, place, strict=True)),
            "fastest": _label(first) if len(leaders) == 1 else "tie: " + " ≈ ".join(_label(by_lib[x]) for x in leaders),
            "median ms [95% CI]": _ms(first),
            "±": _half_width(first.estimate),
            "next": _label(others[0]) if others else "—",
            "next ms [95% CI]": _ms(others[0]) if others else "—",
            "libs": len(group),
            "parity": _parity(failed.get_group(place) if place in failed.groups else None),
        })
    return pd.DataFrame(rows)


def gap(df: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    keys = ["model", "device"]
    rows = []
    for place, group in best_per_lib(df[~df["parity_failed"]], keys).groupby(keys, sort=True):
        if group["lib"].nunique() < 2:
            continue
        first, last = group.iloc[0], group.iloc[-1]
        change = stats.compare(first["values"], last["values"])
        rows.append({
            **dict(zip(keys, place, strict=True)),
            "fastest": first.lib, "ms [95% CI]": _ms(first),
            "slowest": last.lib, "slowest ms [95% CI]": _ms(last),
            "gap × [95% CI]": _ratio(change),
        })
    return pd.DataFrame(rows)


def changes(current: Mapping[str, Sequence[RunRecord]], baseline: Mapping[str, Sequence[RunRecord]]
            ) -> tuple[pd.DataFrame, dict[str, stats.Change]]:
    """Each current item against its baseline: the table, and the changes the gate decides on."""
    import pandas as pd

    found = {item: stats.compare(_values(baseline[item]), _values(records))
             for item, records in current.items() if item in baseline}
    verdicts = stats.verdicts(found)
    rows = []
    for item, change in found.items():
        base, now = baseline[item], current[item]
        rows.append({
            "item": item.rpartition("::")[2],
            "baseline": f"{_versions(base)} {_estimate(stats.estimate(_values(base)))}",
            "current": f"{_versions(now)} {_estimate(stats.estimate(_values(now)))}",
            "change % [95% CI]": _pct(change),
            "verdict": verdicts[item],
            "artifact": "same" if {r.artifact_sha256 for r in base} == {r.artifact_sha256 for r in now} else "differs",
        })
    return pd.DataFrame(rows), found


CHANGES_NOTE = ("change: current ÷ baseline typical latency over their repeats, 95 % CI (Welch on logs); "
                "verdict: established at 5 % false discoveries (Benjamini–Hochberg over the items), else "
                "no change; cannot tell: a side has fewer than 2 repeats")


def render(records: Sequence[RunRecord]) -> list[tuple[str, str]]:
    """(title, text) sections for the terminal."""
    from tabulate import tabulate

    if not records:
        return []
    df = frame(records)
    libs = sorted(df["lib"].unique())
    if len(libs) < 2:
        return [("mobiledl", f"only one library measured ({libs[0]}): no fragmentation or gap to show; "
                             "select more with --libs")]
    sections = [("mobiledl fragmentation: fastest library per model × device × backend × precision",
                 tabulate(fragmentation(df), headers="keys", tablefmt="github", showindex=False)
                 + "\n" + _footnote(df))]
    gaps = gap(df)
    if not gaps.empty:
        sections.append(("mobiledl gap: slowest ÷ fastest library per model × device",
                         tabulate(gaps, headers="keys", tablefmt="github", showindex=False)))
    return sections


def _footnote(df: pd.DataFrame) -> str:
    repeats = sorted({len(v) for v in df["values"]})
    few = " — below 2 repeats no CI can be told: run with --repeats=5" if repeats[0] < 2 else ""
    return (f"typical latency over {'/'.join(map(str, repeats))} repeats (fresh processes) with its 95 % CI; "
            f"± is the CI half-width, the smallest change this run could detect; a tie is a difference "
            f"the data cannot tell{few}")


def _values(records: Sequence[RunRecord]) -> list[float]:
    return [r.median_ms for r in records]


def _versions(records: Sequence[RunRecord]) -> str:
    return "/".join(sorted({r.lib_version for r in records}))


def _label(row: Any) -> str:
    return f"{row.lib} (t{row.threads})"


def _estimate(est: stats.Estimate) -> str:
    if est.low is None or est.high is None:
        return f"{est.value:.3g} [n/a]"
    return f"{est.value:.3g} [{est.low:.3g}, {est.high:.3g}]"


def _ms(row: Any) -> str:
    value = _estimate(row.estimate)
    return value if row.statistic == "median" else f"{value} (mean)"


def _half_width(est: stats.Estimate) -> str:
    pct = est.half_width_pct
    return "n/a" if pct is None else f"{pct:.1f}%"


def _ratio(change: stats.Change) -> str:
    if change.low is None or change.high is None:
        return f"{change.ratio:.2f} [n/a]"
    return f"{change.ratio:.2f} [{change.low:.2f}, {change.high:.2f}]"


def _pct(change: stats.Change) -> str:
    if change.low is None or change.high is None:
        return f"{change.pct:+.1f} [n/a]"
    return f"{change.pct:+.1f} [{(change.low - 1) * 100:+.1f}, {(change.high - 1) * 100:+.1f}]"


def _parity(failed: pd.DataFrame | None) -> str:
    if failed is None:
        return "ok"
    worst = failed.groupby("lib")["rel_err"].max()
    return "failed: " + ", ".join(f"{lib} ({err:.1e})" if err == err else lib for lib, err in worst.items())
