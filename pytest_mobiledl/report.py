"""Session tables: who wins where (fragmentation) and by how much (gap).

Each library is represented in a group by its best configuration (its fastest thread count),
because that is the question a team asks: which library, set up at its best, is fastest here.
Summary-only records (a tool that printed a mean) are marked, never silently mixed with medians.
A library whose artifact failed parity is not ranked (its number is of another model); the
``parity`` column names it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pytest_mobiledl.record import RunRecord

if TYPE_CHECKING:
    import pandas as pd

PLACE = ["model", "device", "backend", "precision"]


def frame(records: Sequence[RunRecord]) -> pd.DataFrame:
    import pandas as pd

    rows = [{"model": r.model, "device": r.device.get("serial", "?"), "backend": r.backend,
             "precision": r.precision, "threads": r.threads, "lib": r.lib, "version": r.lib_version,
             "median_ms": r.median_ms, "statistic": "median" if r.samples_ms is not None else "mean",
             "parity_failed": r.parity is not None and not r.parity.get("passed"),
             "rel_err": (r.parity or {}).get("max_rel_err")}
            for r in records]
    return pd.DataFrame(rows, columns=[*PLACE, "threads", "lib", "version", "median_ms", "statistic",
                                       "parity_failed", "rel_err"])


def best_per_lib(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Each library's fastest row within each group of ``keys``."""
    best = df.loc[df.groupby([*keys, "lib"])["median_ms"].idxmin()]
    return best.sort_values([*keys, "median_ms"])


def fragmentation(df: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    failed = df[df["parity_failed"]].groupby(PLACE)
    rows = []
    for place, group in best_per_lib(df[~df["parity_failed"]], PLACE).groupby(PLACE, sort=True):
        first = group.iloc[0]
        second = group.iloc[1] if len(group) > 1 else None
        rows.append({
            **dict(zip(PLACE, place, strict=True)),
            "fastest": f"{first.lib} (t{first.threads})",
            "median ms": _ms(first),
            "runner-up": f"{second.lib} (t{second.threads})" if second is not None else "—",
            "runner-up ms": _ms(second) if second is not None else "—",
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
        rows.append({
            **dict(zip(keys, place, strict=True)),
            "fastest": first.lib, "ms": _ms(first),
            "slowest": last.lib, "slowest ms": _ms(last),
            "gap ×": round(last.median_ms / first.median_ms, 2),
        })
    return pd.DataFrame(rows)


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
                 tabulate(fragmentation(df), headers="keys", tablefmt="github", showindex=False))]
    gaps = gap(df)
    if not gaps.empty:
        sections.append(("mobiledl gap: slowest ÷ fastest library per model × device",
                         tabulate(gaps, headers="keys", tablefmt="github", showindex=False)))
    return sections


def _parity(failed: pd.DataFrame | None) -> str:
    if failed is None:
        return "ok"
    worst = failed.groupby("lib")["rel_err"].max()
    return "failed: " + ", ".join(f"{lib} ({err:.1e})" if err == err else lib for lib, err in worst.items())


def _ms(row: pd.Series) -> str:
    value = f"{row.median_ms:.2f}"
    return value if row.statistic == "median" else f"{value} (mean)"
