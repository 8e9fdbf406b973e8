"""The paper's analyses over merged runs: pandas frames, no I/O.

``cases`` is the one frame every table and plot starts from: a row per case *per run*, so the
same item measured in two runs stays two rows. Where a library appears in several runs of one
place, its ``lib`` label names the version and the run (``onnxruntime 1.20 @0003``): the session
tables (fragmentation, gap) then rank those as candidates of their own instead of pooling them.

Ratios between configurations (impact) are Welch comparisons on the per-repeat values, with
their 95 % CIs (``stats.compare``); "×2.0" means the slower configuration takes twice as long.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pytest_mobiledl import stats
from pytest_mobiledl.record import FLAGS
from pytest_mobiledl.report import tables
from pytest_mobiledl.report.inputs import Run

if TYPE_CHECKING:
    import pandas as pd

#: The configuration the other factors are measured against: the library's plain CPU float run.
REFERENCE = ("cpu", "fp32")
NAN = float("nan")


def cases(runs: Sequence[Run]) -> pd.DataFrame:
    """One row per (run, case): the session frame's columns plus cold start, memory and stability."""
    import pandas as pd

    parts = []
    for run in runs:
        df = tables.frame(run.records)
        if df.empty:
            continue
        extra = _extras(run.records)
        df["run"] = run.label
        df["base_lib"] = df["lib"]
        for column in next(iter(extra.values())):
            df[column] = [extra[_key(row)][column] for row in df.itertuples()]
        parts.append(df)
    if not parts:
        return pd.DataFrame(columns=[*tables.CASE, "run", "base_lib"])
    df = pd.concat(parts, ignore_index=True)
    return _distinguish(df)


def filtered(df: pd.DataFrame, models: Sequence[str] = (), libs: Sequence[str] = (),
             devices: Sequence[str] = ()) -> pd.DataFrame:
    mask = df["model"].notna()
    for column, wanted in (("model", models), ("base_lib", libs), ("device", devices)):
        if wanted:
            mask &= df[column].isin(wanted)
    return df[mask].reset_index(drop=True)


def impact(df: pd.DataFrame) -> pd.DataFrame:
    """RQ2 per model × device: the library's spread against int8, fp16, threads and an accelerator.

    The library spread is slowest ÷ fastest library, each at its best thread count, on the
    reference configuration (CPU, fp32). Every other factor is measured within the fastest
    library: reference ÷ the best run with that change (int8, fp16, the best thread count
    against the fewest, the best non-CPU backend).
    """
    import pandas as pd

    ok = df[~df["parity_failed"]]
    rows = []
    for (model, device), group in ok.groupby(["model", "device"], sort=True):
        ref = group[(group["backend"] == REFERENCE[0]) & (group["precision"] == REFERENCE[1])]
        if ref.empty:
            continue
        best = tables.best_per_lib(ref, [])
        first, last = best.iloc[0], best.iloc[-1]
        within = group[group["lib"] == first["lib"]]
        factors = {
            "library": stats.compare(first["values"], last["values"]) if len(best) > 1 else None,
            "int8": _speedup(first, _best(within, precision="int8", backend="cpu")),
            "fp16": _speedup(first, _best(within, precision="fp16", backend="cpu")),
            "threads": _threads(ref[ref["lib"] == first["lib"]]),
            "accelerator": _speedup(first, _best(within[within["backend"] != "cpu"])),
        }
        rows.append({"model": model, "device": device, "best library": tables._label(first),
                     **{f"{name} ×": _times(change) for name, change in factors.items()},
                     "largest": _largest(factors)})
    return pd.DataFrame(rows)


def cold_warm(df: pd.DataFrame) -> pd.DataFrame:
    """RQ4: cold start (medians over repeats) against the warm typical latency, per case."""
    rows = df[df["first_ms"].notna()]
    out = rows[["run", "model", "device", "lib", "backend", "precision", "threads",
                "load_ms", "init_ms", "first_ms", "median_ms"]].rename(
        columns={"load_ms": "load ms", "init_ms": "init ms", "first_ms": "first inference ms",
                 "median_ms": "warm ms"})
    out["cold ÷ warm"] = rows["first_ms"] / rows["median_ms"]
    return _rounded(out.sort_values(["model", "device", "lib", "threads", "run"]))


def memory(df: pd.DataFrame) -> pd.DataFrame:
    rows = df[df["rss_max_mb"].notna()]
    out = rows[["run", "model", "device", "lib", "backend", "precision", "threads", "rss_mb", "rss_max_mb"]]
    out = out.rename(columns={"rss_mb": "peak RSS MB (median)", "rss_max_mb": "peak RSS MB (max)"})
    return _rounded(out.sort_values(["model", "device", "lib", "threads", "run"]))


def stability(df: pd.DataFrame) -> pd.DataFrame:
    """How far each case's figure can be trusted: spread between and within processes, and why."""
    out = df[["run", "model", "device", "lib", "backend", "precision", "threads"]].copy()
    out["repeats"] = [len(v) for v in df["values"]]
    out["CV % (repeats)"] = [_cv(v) for v in df["values"]]
    out["CV % (samples)"] = df["within_cv_pct"]
    out["CI ± %"] = [e.half_width_pct for e in df["estimate"]]
    out["load avg (max)"] = df["load_avg"]
    out["flags"] = df["flags"]
    return _rounded(out.sort_values(["model", "device", "lib", "threads", "run"]))


def parity(df: pd.DataFrame) -> pd.DataFrame:
    """The worst error seen per artifact (a converted model file), over every run that used it."""
    import pandas as pd

    rows = []
    for sha, group in df.groupby("artifact", sort=False):
        checked = [p for ps in group["parities"] for p in ps]
        worst = max((p.get("max_rel_err", NAN) for p in checked), default=NAN, key=_nan_low)
        first = group.iloc[0]
        rows.append({"model": first["model"], "lib": first["base_lib"], "precision": first["precision"],
                     "artifact": str(sha)[:12], "runs": ", ".join(sorted(set(group["run"]))),
                     "worst rel err": worst,
                     "worst abs err": max((p.get("max_abs_err", NAN) for p in checked), default=NAN, key=_nan_low),
                     "verdict": ("not checked" if not checked
                                 else "ok" if all(p.get("passed") for p in checked) else "FAILED")})
    out = pd.DataFrame(rows, columns=["model", "lib", "precision", "artifact", "runs", "worst rel err",
                                      "worst abs err", "verdict"])
    return out.sort_values(["model", "lib", "precision"]).reset_index(drop=True)


def environment(runs: Sequence[Run], df: pd.DataFrame | None = None) -> pd.DataFrame:
    """What ran where: per run and device, the device, the library versions and the tools' flags.

    With ``df`` (``cases``, maybe filtered), only the records it shows.
    """
    import pandas as pd

    shown = None if df is None else set(zip(df["run"], df["device"], df["base_lib"], df["model"], strict=True))
    rows = []
    for run in runs:
        by_device: dict[str, list[Any]] = {}
        for r in run.records:
            if shown is not None and (run.label, r.device.get("serial", "?"), r.lib, r.model) not in shown:
                continue
            by_device.setdefault(str(r.device.get("serial", "?")), []).append(r)
        for serial, records in sorted(by_device.items()):
            info = records[0].device
            flags = sorted({(f, r.lib) for r in records for f in r.flags})
            rows.append({
                "run": run.label, "when": run.when[:19], "device": serial,
                "model": info.get("model", "?"), "cpu": info.get("cpu", "?"), "cores": info.get("cores", "?"),
                "system": info.get("system", "?"),
                "libraries": ", ".join(sorted({f"{r.lib} {r.lib_version}" for r in records})),
                "flags": "; ".join(f"{lib}: {flag} ({FLAGS[flag]})" for flag, lib in flags) or "—",
            })
    return pd.DataFrame(rows)


def _extras(records: Sequence[Any]) -> dict[tuple[Any, ...], dict[str, Any]]:
    grouped: dict[tuple[Any, ...], list[Any]] = {}
    for r in records:
        key = (r.model, r.device.get("serial", "?"), r.backend, r.precision, r.threads, r.lib)
        grouped.setdefault(key, []).append(r)
    out = {}
    for key, rs in grouped.items():
        rss = [r.peak_rss_mb for r in rs if r.peak_rss_mb is not None]
        loads = [r.load_avg_1m for r in rs if r.load_avg_1m is not None]
        within = [_cv(r.samples_ms) for r in rs if r.samples_ms is not None and len(r.samples_ms) > 1]
        out[key] = {
            "load_ms": _median(r.load_ms for r in rs), "init_ms": _median(r.init_ms for r in rs),
            "first_ms": _median(r.first_inference_ms for r in rs),
            "rss_mb": statistics.median(rss) if rss else None, "rss_max_mb": max(rss) if rss else None,
            "load_avg": max(loads) if loads else None,
            "within_cv_pct": _median(within),
            "flags": ", ".join(sorted({f for r in rs for f in r.flags})),
            "artifact": rs[0].artifact_sha256, "parities": [dict(r.parity) for r in rs if r.parity is not None],
            "samples": [s for r in rs for s in (r.samples_ms or (r.median_ms,))],
        }
    return out


def _key(row: Any) -> tuple[Any, ...]:
    return (row.model, row.device, row.backend, row.precision, row.threads, row.lib)


def _distinguish(df: pd.DataFrame) -> pd.DataFrame:
    """Name version and run where one library on one device comes from several runs.

    Per device, not per row, so a library keeps one label across models and precisions.
    """
    runs = df.groupby(["device", "base_lib"])["run"].transform("nunique")
    several = runs > 1
    df.loc[several, "lib"] = df.loc[several, "base_lib"] + " " + df.loc[several, "version"] + " @" \
        + df.loc[several, "run"]
    return df


def _best(df: pd.DataFrame, **where: str) -> Any | None:
    for column, value in where.items():
        df = df[df[column] == value]
    return None if df.empty else df.loc[df["median_ms"].idxmin()]


def _speedup(reference: Any, other: Any | None) -> stats.Change | None:
    """reference ÷ other: how many times faster the change makes it (below 1: slower)."""
    return None if other is None else stats.compare(other["values"], reference["values"])


def _threads(df: pd.DataFrame) -> stats.Change | None:
    if df["threads"].nunique() < 2:
        return None
    fewest = df.loc[df["threads"].idxmin()]
    return _speedup(fewest, df.loc[df["median_ms"].idxmin()])


def _times(change: stats.Change | None) -> str:
    if change is None:
        return "—"
    if change.low is None or change.high is None:
        return f"{change.ratio:.2f} [n/a]"
    return f"{change.ratio:.2f} [{change.low:.2f}, {change.high:.2f}]"


def _largest(factors: dict[str, stats.Change | None]) -> str:
    """The factor that moves latency most, and whether the data can tell it from the runner-up."""
    known = sorted(((name, c) for name, c in factors.items() if c is not None), key=lambda x: -x[1].ratio)
    if not known:
        return "—"
    (name, top), rest = known[0], known[1:]
    if not rest:
        return f"{name} (only factor measured)"
    second_name, second = rest[0]
    clear = top.low is not None and second.high is not None and top.low > second.high
    return f"{name} ×{top.ratio:.2f} > {second_name} ×{second.ratio:.2f}" + ("" if clear else " (CIs overlap)")


def _cv(values: Sequence[float] | None) -> float | None:
    if values is None or len(values) < 2:
        return None
    return statistics.stdev(values) / statistics.fmean(values) * 100


def _median(values: Any) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _nan_low(value: float) -> float:
    return float("-inf") if value != value else value


def _rounded(df: pd.DataFrame) -> pd.DataFrame:
    return df.round(3).reset_index(drop=True)
