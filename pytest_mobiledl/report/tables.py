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

from collections.abc import Callable, Mapping, Sequence
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
        key = (r.model, r.device.get("serial", "?"), r.backend, r.precision, r.threads, lib_name(r))
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


#: Fewest unchanged items whose common shift is taken as the machine's drift between two sessions.
MIN_CONTROLS = 4


def drift(current: Mapping[str, Sequence[RunRecord]], baseline: Mapping[str, Sequence[RunRecord]]
          ) -> tuple[float, int] | None:
    """How much the machine moved between the sessions: the median ratio of the items whose build
    and artifact are the same on both sides (the controls), and their count; None below
    ``MIN_CONTROLS``. A session on a busier machine or a warmer phone slows every item alike;
    a library's regression moves its own items only."""
    import numpy as np

    ratios = [stats.estimate(_values(now)).value / stats.estimate(_values(baseline[item])).value
              for item, now in current.items() if item in baseline and _same_build(baseline[item], now)]
    if len(ratios) < MIN_CONTROLS:
        return None
    return float(np.exp(np.median(np.log(ratios)))), len(ratios)


def changes(current: Mapping[str, Sequence[RunRecord]], baseline: Mapping[str, Sequence[RunRecord]],
            shift: float = 1.0) -> tuple[pd.DataFrame, dict[str, stats.Change]]:
    """Each current item against its baseline (scaled by the machine's ``shift``, see ``drift``):
    the table, and the changes the gate decides on."""
    import pandas as pd

    found = {item: stats.compare([v * shift for v in _values(baseline[item])], _values(records))
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
            "artifact": "same" if _artifacts(base) == _artifacts(now) else "differs",
        })
    return pd.DataFrame(rows), found


def _same_build(base: Sequence[RunRecord], now: Sequence[RunRecord]) -> bool:
    """Same library version, same artifact bytes, and no slowdown injected on one side only: an
    item whose own code changed is no control, or the change it carries leaks into the drift."""
    return (_versions(base) == _versions(now) and _artifacts(base) == _artifacts(now)
            and _injected(base) == _injected(now))


def _injected(records: Sequence[RunRecord]) -> set[bool]:
    return {"injected_delay" in r.flags for r in records}


CHANGES_NOTE = ("change: current ÷ baseline typical latency over their repeats, 95 % CI (Welch on logs); "
                "verdict: established at 5 % false discoveries (Benjamini–Hochberg over the items), else "
                "no change; cannot tell: a side has fewer than 2 repeats")


def lib_name(record: RunRecord) -> str:
    """``onnxruntime``, or ``onnxruntime@old`` for a --variant's build."""
    label = record.engine_options.get("variant")
    return f"{record.lib}@{label}" if label else record.lib


def variants(items: Mapping[str, Sequence[RunRecord]], order: Sequence[tuple[str, str]] = ()
             ) -> tuple[pd.DataFrame, dict[str, stats.Change]]:
    """The A/B table: each case's variants against its first (in ``order``, ``(lib, label)`` as given).

    Returns the table and the changes the gate decides on, keyed ``case lib@label``.
    """
    import pandas as pd

    rank = {key: i for i, key in enumerate(order)}
    cases = _by_variant(items)
    found: dict[str, stats.Change] = {}
    rows = []
    for key, by_label in cases.items():
        labels = sorted(by_label, key=lambda label: (rank.get((key[1], label), len(rank)), label))
        base = by_label[labels[0]]
        for label in labels:
            records, name = by_label[label], f"{_case_name(key)} {key[1]}@{label}"
            change = None if label == labels[0] else _paired(base, records)
            if change is not None:
                found[name] = change
            rows.append({"case": _case_name(key), "variant": f"{key[1]}@{label}", "version": _versions(records),
                         "ms [95% CI]": _estimate(stats.estimate(_values(records))),
                         "change % [95% CI]": "—" if change is None else _pct(change), "name": name,
                         "artifact": "same" if _artifacts(records) == _artifacts(base) else "differs"})
    verdicts = stats.verdicts(found)
    for row in rows:
        row["verdict"] = verdicts.get(row.pop("name"), "—")
    return pd.DataFrame(rows), found


def base_of(table: pd.DataFrame) -> Callable[[str], str]:
    """For a key of ``variants``' changes (``case lib@label``): the variant it was compared with."""
    first = dict(zip(table["case"][::-1], table["variant"][::-1], strict=True))  # the first row of each case wins
    return lambda key: first[key.rpartition(" ")[0]]


VARIANTS_NOTE = ("change: variant ÷ the case's first variant, over repeats interleaved process by process, "
                 "95 % CI (paired t on the logs, round by round; Welch where a repeat is missing); verdict: "
                 "established at 5 % false discoveries (Benjamini–Hochberg over the table), else no change")


def sweep(records: Sequence[RunRecord]) -> pd.DataFrame:
    """One row per case and variant: the data of a trend plot (``.to_csv()``), from a session or a saved run."""
    import pandas as pd

    groups: dict[tuple[Any, ...], list[RunRecord]] = {}
    for r in records:
        key = (r.lib, r.engine_options.get("variant", ""), r.device.get("serial", "?"), r.model, r.backend,
               r.precision, r.threads)
        groups.setdefault(key, []).append(r)
    rows = []
    for key, group in groups.items():
        est = stats.estimate(_values(group))
        rows.append({**dict(zip(SWEEP_KEYS, key, strict=True)), "version": _versions(group),
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
            row = {"variant": f"{lib}@{variant}", "version": "/".join(sorted(set(runs["version"])))}
            for run in runs.itertuples():
                est = stats.Estimate(run.median_ms, _nan_none(run.low_ms), _nan_none(run.high_ms), run.repeats)
                row[f"{run.device}-{run.model}-{run.backend}-{run.precision}-t{run.threads}"] = _estimate(est)
            rows.append(row)
    return pd.DataFrame(rows)


def _nan_none(value: Any) -> float | None:
    return None if value is None or value != value else float(value)


def _paired(base: Sequence[RunRecord], new: Sequence[RunRecord]) -> stats.Change:
    """Repeat k of two variants ran one after the other: compare them pair by pair when every
    repeat of each side has its partner, else (a repeat failed) as two independent samples."""
    a, b = ({r.repeat: r.median_ms for r in side} for side in (base, new))
    if a.keys() != b.keys():
        return stats.compare(list(a.values()), list(b.values()))
    rounds = sorted(a)
    return stats.compare_paired([a[k] for k in rounds], [b[k] for k in rounds])


def _by_variant(items: Mapping[str, Sequence[RunRecord]]) -> dict[tuple[Any, ...], dict[str, list[RunRecord]]]:
    """Cases (device, lib, model, backend, precision, threads) with variants → label → repeats."""
    cases: dict[tuple[Any, ...], dict[str, list[RunRecord]]] = {}
    for records in items.values():
        for r in records:
            label = r.engine_options.get("variant")
            if label:
                key = (r.device.get("serial", "?"), r.lib, r.model, r.backend, r.precision, r.threads)
                cases.setdefault(key, {}).setdefault(label, []).append(r)
    return dict(sorted(cases.items()))


def _case_name(key: tuple[Any, ...]) -> str:
    device, _, model, backend, precision, threads = key
    return f"{device}-{model}-{backend}-{precision}-t{threads}"


def _artifacts(records: Sequence[RunRecord]) -> set[str]:
    return {r.artifact_sha256 for r in records}


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
