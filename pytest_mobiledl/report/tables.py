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

from pytest_mobiledl import compare, stats
from pytest_mobiledl.keys import VARIANT, build_name, name_of
from pytest_mobiledl.record import RunRecord
from pytest_mobiledl.report import cells

if TYPE_CHECKING:
    import pandas as pd

PLACE = ["model", "device", "backend", "precision"]
CASE = [*PLACE, "threads", "lib"]


def frame(records: Sequence[RunRecord]) -> pd.DataFrame:
    """One row per case: its repeats' values and their estimate."""
    import pandas as pd

    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in records:
        key = (r.model, r.device.get("serial", "?"), r.backend, r.precision, r.threads, cells.lib_name(r))
        row = rows.setdefault(key, {**dict(zip(CASE, key, strict=True)), "library": r.lib, "version": r.lib_version,
                                    "values": [], "records": [],
                                    "statistic": "median" if r.samples_ms is not None else "mean",
                                    "parity_failed": False, "rel_err": None})
        row["values"].append(r.median_ms)
        row["records"].append(r)
        if r.parity is not None and not r.parity.get("passed"):
            row["parity_failed"], row["rel_err"] = True, r.parity.get("max_rel_err")
    for row in rows.values():
        row["estimate"] = stats.estimate(row["values"])
        row["median_ms"] = row["estimate"].value
    return pd.DataFrame(list(rows.values()), columns=[*CASE, "library", "version", "values", "records", "estimate",
                                                      "median_ms", "statistic", "parity_failed", "rel_err"])


def best_per_lib(df: pd.DataFrame, keys: list[str], by: str = "lib") -> pd.DataFrame:
    """Each library's fastest row within each group of ``keys`` (``by="library"``: builds of one
    library count as one library, at its fastest build)."""
    best = df.loc[df.groupby([*keys, by])["median_ms"].idxmin()]
    return best.sort_values([*keys, "median_ms"])


def fragmentation(df: pd.DataFrame) -> pd.DataFrame:
    """Per place, the fastest library at its best (thread count, build), or the tie the data leave.

    ``next ÷ fastest`` is the paired ratio (block by block) of the fastest and the next library.
    """
    import pandas as pd

    failed = df[df["parity_failed"]].groupby(PLACE)
    rows = []
    for place, group in best_per_lib(df[~df["parity_failed"]], PLACE, "library").groupby(PLACE, sort=True):
        by_lib = {row.lib: row for row in group.itertuples()}
        leaders, against = compare.fastest({lib: row.records for lib, row in by_lib.items()})
        first = by_lib[leaders[0]]
        others = [row for row in group.itertuples() if row.lib not in leaders]  # the next the data tell apart
        change, how = against[others[0].lib] if others else (None, "")
        rows.append({
            **dict(zip(PLACE, place, strict=True)),
            "fastest": cells.fastest([by_lib[x] for x in leaders]),
            "typical ms [95% CI]": _ms(first),
            "±": cells.half_width(first.estimate),
            "next": cells.lib_threads(others[0]) if others else "—",
            "next ÷ fastest [95% CI]": cells.ratio(change) if change else "—",
            "paired": how or "—",
            "libs": len(group),
            "parity": _parity(failed.get_group(place) if place in failed.groups else None),
        })
    return pd.DataFrame(rows)


def gap(df: pd.DataFrame) -> pd.DataFrame:
    """Per model × device: slowest ÷ fastest library (paired where they shared blocks); where the
    CI holds 1 the two cannot be told apart, and the row names neither."""
    import pandas as pd

    keys = ["model", "device"]
    rows = []
    for place, group in best_per_lib(df[~df["parity_failed"]], keys, "library").groupby(keys, sort=True):
        if group["library"].nunique() < 2:
            continue
        first, last = group.iloc[0], group.iloc[-1]
        change, how = compare.paired(first["records"], last["records"])
        told = change.low is not None and change.low > 1
        rows.append({
            **dict(zip(keys, place, strict=True)),
            "fastest": cells.fastest([first] if told else [first, last]),
            "typical ms [95% CI]": _ms(first),
            "slowest": cells.lib_threads(last) if told else "—", "slowest ms [95% CI]": _ms(last),
            "gap × [95% CI]": cells.ratio(change) + ("" if told else " (cannot tell)"),
            "paired": how,
        })
    return pd.DataFrame(rows)


MIN_CONTROLS = compare.MIN_CONTROLS
drift = compare.drift


def changes(current: Mapping[str, Sequence[RunRecord]], baseline: Mapping[str, Sequence[RunRecord]],
            margin_pct: float | None = None) -> tuple[pd.DataFrame, list[compare.Comparison], str]:
    """Each current item against its baseline (``compare.sessions``): the table, the comparisons
    the gate decides on, and the note on the machine's drift."""
    import pandas as pd

    found, note = compare.sessions(current, baseline, margin_pct)
    rows = []
    for c in found:
        base, now = baseline[c.item], current[c.item]
        rows.append({
            "item": name_of(c.item),
            "baseline": f"{compare.versions(base)} {_typical(base)}",
            "current": f"{compare.versions(now)} {_typical(now)}",
            "change % [95% CI]": cells.pct(c.change),
            "verdict": c.verdict,
            "judged on": c.how,
            "artifact": _artifact(base, now),
        })
    return pd.DataFrame(rows), found, note


def changes_note(margin_pct: float | None) -> str:
    return ("change: current ÷ baseline over their repeats, 95 % CI; judged on the item ÷ the unchanged cases of "
            "its own blocks (block controls) where they exist, else the typical latency relative to the machine's "
            "drift; " + _verdict_words("the items", margin_pct))


def _verdict_words(family: str, margin_pct: float | None) -> str:
    margin = compare.MARGIN_PCT if margin_pct is None else margin_pct
    return (f"slower/faster: established at 5 % false discoveries (Benjamini–Hochberg over {family}); "
            f"no change: the whole CI within ±{margin:g} %; cannot tell (±N %): neither")


def variants(items: Mapping[str, Sequence[RunRecord]], order: Sequence[tuple[str, str]] = (),
             margin_pct: float | None = None) -> tuple[pd.DataFrame, list[compare.Comparison]]:
    """The A/B table: each case's variants against its first (in ``order``, ``(lib, label)`` as given),
    paired block by block. Returns the table and the comparisons the gate decides on, keyed
    ``case lib@label``."""
    import pandas as pd

    rank = {key: i for i, key in enumerate(order)}
    cases = _by_variant(items)
    changes: dict[str, stats.Change] = {}
    how: dict[str, str] = {}
    units: dict[str, int] = {}
    bases: dict[str, str] = {}
    rows = []
    for key, by_label in cases.items():
        labels = sorted(by_label, key=lambda label: (rank.get((key[1], label), len(rank)), label))
        base = by_label[labels[0]]
        for label in labels:
            build = build_name(key[1], label)
            records, name = by_label[label], f"{_case_name(key)} {build}"
            if label != labels[0]:
                changes[name], how[name] = compare.paired(base, records, by_repeat=True)
                units[name], bases[name] = min(len(base), len(records)), build_name(key[1], labels[0])
            rows.append({"case": _case_name(key), "variant": build, "version": compare.versions(records),
                         "typical ms [95% CI]": _typical(records),
                         "change % [95% CI]": "—" if label == labels[0] else cells.pct(changes[name]), "name": name,
                         "judged on": how.get(name, "—"), "artifact": _artifact(records, base)})
    found = compare.judged(changes, bases.__getitem__, how, units, margin_pct)
    words = {c.item: c.verdict for c in found}
    for row in rows:
        row["verdict"] = words.get(row.pop("name"), "—")
    return pd.DataFrame(rows), found


def variants_note(margin_pct: float | None) -> str:
    return ("change: variant ÷ the case's first variant, 95 % CI, paired block by block (builds run together in "
            "lockstep; rounds of repeats for runs saved before blocks; unpaired where a repeat is missing); "
            + _verdict_words("the table", margin_pct))


def sweep(records: Sequence[RunRecord]) -> pd.DataFrame:
    """One row per case and variant: the data of a trend plot (``.to_csv()``), from a session or a saved run."""
    import pandas as pd

    groups: dict[tuple[Any, ...], list[RunRecord]] = {}
    for r in records:
        key = (r.lib, r.engine_options.get(VARIANT, ""), r.device.get("serial", "?"), r.model, r.backend,
               r.precision, r.threads)
        groups.setdefault(key, []).append(r)
    rows = []
    for key, group in groups.items():
        est = stats.estimate(_values(group))
        rows.append({**dict(zip(SWEEP_KEYS, key, strict=True)), "version": compare.versions(group),
                     "median_ms": est.value, "low_ms": est.low, "high_ms": est.high, "repeats": est.repeats})
    return pd.DataFrame(rows, columns=[*SWEEP_KEYS, "version", "median_ms", "low_ms", "high_ms", "repeats"])


SWEEP_KEYS = ["lib", "variant", "device", "model", "backend", "precision", "threads"]


def trend(frame: pd.DataFrame, order: Sequence[tuple[str, str]] = (), least: int = 3) -> pd.DataFrame:
    """Per library with ``least`` variants or more: a row per variant (in ``order``), a column per case."""
    import pandas as pd

    rank = {key: i for i, key in enumerate(order)}
    rows = []
    for lib, group in frame[frame["variant"] != ""].groupby("lib", sort=True):
        if group["variant"].nunique() < least:
            continue
        for variant, runs in sorted(group.groupby("variant"), key=lambda kv: (rank.get((lib, kv[0]), len(rank)),
                                                                               kv[0])):
            row = {"variant": build_name(lib, variant), "version": "/".join(sorted(set(runs["version"])))}
            for run in runs.itertuples():
                est = stats.Estimate(run.median_ms, _nan_none(run.low_ms), _nan_none(run.high_ms), run.repeats)
                row[f"{run.device}-{run.model}-{run.backend}-{run.precision}-t{run.threads}"] = cells.estimate(est)
            rows.append(row)
    return pd.DataFrame(rows)


def _nan_none(value: Any) -> float | None:
    return None if value is None or value != value else float(value)


def _by_variant(items: Mapping[str, Sequence[RunRecord]]) -> dict[tuple[Any, ...], dict[str, list[RunRecord]]]:
    """Cases (device, lib, model, backend, precision, threads) with variants → label → repeats."""
    cases: dict[tuple[Any, ...], dict[str, list[RunRecord]]] = {}
    for records in items.values():
        for r in records:
            label = r.engine_options.get(VARIANT)
            if label:
                key = (r.device.get("serial", "?"), r.lib, r.model, r.backend, r.precision, r.threads)
                cases.setdefault(key, {}).setdefault(label, []).append(r)
    return dict(sorted(cases.items()))


def _case_name(key: tuple[Any, ...]) -> str:
    device, _, model, backend, precision, threads = key
    return f"{device}-{model}-{backend}-{precision}-t{threads}"


def fragmentation_note(df: pd.DataFrame) -> str:
    """The fragmentation table's note: how its figures were made from how many repeats."""
    repeats = sorted({len(v) for v in df["values"]})
    few = " — below 2 repeats no CI can be told: run with --repeats=5" if repeats[0] < 2 else ""
    return (f"typical ms: the geometric mean of the medians of {'/'.join(map(str, repeats))} repeats (fresh "
            "processes), with its 95 % CI (absolute: it carries the machine's moves between blocks); ± is its "
            "half-width. next ÷ fastest and tie: paired within blocks (cases run together), far tighter. "
            "pytest-benchmark's table above pools every run's samples into one median, so its order can differ"
            f"{few}")


def _values(records: Sequence[RunRecord]) -> list[float]:
    return [r.median_ms for r in records]


def _typical(records: Sequence[RunRecord]) -> str:
    return cells.estimate(stats.estimate(_values(records)))


def _artifact(records: Sequence[RunRecord], other: Sequence[RunRecord]) -> str:
    return "same" if compare.artifacts(records) == compare.artifacts(other) else "differs"


def _ms(row: Any) -> str:
    value = cells.estimate(row.estimate)
    return value if row.statistic == "median" else f"{value} (mean)"


def _parity(failed: pd.DataFrame | None) -> str:
    if failed is None:
        return "ok"
    worst = failed.groupby("lib")["rel_err"].max()
    return "failed: " + ", ".join(f"{lib} ({err:.1e})" if err == err else lib for lib, err in worst.items())
