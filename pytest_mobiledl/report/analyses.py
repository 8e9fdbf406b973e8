"""The paper's analyses over merged runs: pandas frames, no I/O.

``cases`` is the one frame every table and plot starts from: a row per case *per run*, so the
same item measured in two runs stays two rows. Runs go by short tags (``run_tags``: pytest-benchmark's
number, else ``r1``, ``r2``…; the ``runs`` table is their legend). Where a library appears in several
runs of one place, its ``lib`` label names the run, and the version where versions differ
(``onnxruntime 1.20 @0003``): the session tables (fragmentation, gap) then rank those as candidates
of their own instead of pooling them. A ``--variant`` build keeps its label (``onnxruntime@old``);
``base_lib`` is the library, ``variant`` the build's label: two builds of one library are one library.

Ratios between configurations (impact) are Welch comparisons on the per-repeat values, with
their 95 % CIs (``stats.compare``); "×2.0" means the slower configuration takes twice as long.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pytest_mobiledl import compare, stats
from pytest_mobiledl.keys import VARIANT
from pytest_mobiledl.record import FLAGS
from pytest_mobiledl.report import cells, conditions, tables
from pytest_mobiledl.report.inputs import PARTIAL, Run

if TYPE_CHECKING:
    import pandas as pd

#: The configuration the other factors are measured against: the library's plain CPU float run.
REFERENCE = ("cpu", "fp32")
NAN = float("nan")


def cases(runs: Sequence[Run]) -> pd.DataFrame:
    """One row per (run, case): the session frame's columns plus cold start, memory and stability."""
    import pandas as pd

    tags = run_tags(runs)
    parts = []
    for run in runs:
        df = tables.frame(run.records)
        if df.empty:
            continue
        extra = _extras(run.records)
        df["run"] = tags[run.label]
        df["base_lib"] = [lib.partition("@")[0] for lib in df["lib"]]
        df["variant"] = [lib.partition("@")[2] for lib in df["lib"]]
        for column in next(iter(extra.values())):
            df[column] = [extra[_key(row)][column] for row in df.itertuples()]
        parts.append(df)
    if not parts:
        return pd.DataFrame(columns=[*tables.CASE, "version", "values", "estimate", "median_ms", "statistic",
                                     "parity_failed", "rel_err", "run", "base_lib", "variant"])
    df = pd.concat(parts, ignore_index=True)
    return _distinguish(df)


#: A run's own label up to this length is its tag (pytest-benchmark's ``0003``); longer ones get ``rN``.
SHORT_LABEL = 8


def run_tags(runs: Sequence[Run]) -> dict[str, str]:
    """Run label → the short tag tables and plots use; ``runs_legend`` lists them.

    A journal's label is its session (``20261206T181634-19971``): in a ranking label and a heatmap
    column it made cells ~230 characters wide, so long labels become ``r1``, ``r2``… in run order.
    """
    names = {run.label: run.label.removesuffix(PARTIAL) for run in runs}
    tags = {label: name if len(name) <= SHORT_LABEL else f"r{k}" for k, (label, name) in enumerate(names.items(), 1)}
    if len(set(tags.values())) < len(tags):  # a short label that reads like another run's tag
        tags = {label: f"r{k}" for k, label in enumerate(names, 1)}
    return {label: tag + (PARTIAL if label.endswith(PARTIAL) else "") for label, tag in tags.items()}


def runs_legend(runs: Sequence[Run], df: pd.DataFrame | None = None) -> pd.DataFrame:
    """The legend of the run tags: each run's file, when it was made, its devices and builds.

    With ``df`` (``cases``, maybe filtered), only the runs, devices and libraries it shows.
    """
    import pandas as pd

    tags = run_tags(runs)
    shown = None if df is None else set(zip(df["run"], df["device"], df["base_lib"], strict=True))
    rows = []
    for run in runs:
        records = [r for r in run.records
                   if shown is None or (tags[run.label], r.device.get("serial", "?"), r.lib) in shown]
        if records:
            rows.append({"run": tags[run.label], "file": run.path.name, "when": run.when[:19] or "—",
                         "devices": ", ".join(sorted({str(r.device.get("serial", "?")) for r in records})),
                         "libraries": ", ".join(sorted({f"{cells.lib_name(r)} {r.lib_version}" for r in records})),
                         "records": len(records)})
    return pd.DataFrame(rows, columns=["run", "file", "when", "devices", "libraries", "records"])


def filtered(df: pd.DataFrame, models: Sequence[str] = (), libs: Sequence[str] = (),
             devices: Sequence[str] = ()) -> pd.DataFrame:
    mask = df["model"].notna()
    for column, wanted in (("model", models), ("base_lib", libs), ("device", devices)):
        if wanted:
            mask &= df[column].isin(wanted)
    return df[mask].reset_index(drop=True)


def variants(runs: Sequence[Run], df: pd.DataFrame | None = None) -> pd.DataFrame:
    """The session's A/B table (``tables.variants``) of each run that holds --variant builds, with
    its run tag: builds are compared within the run that interleaved them, never across runs."""
    import pandas as pd

    tags = run_tags(runs)
    shown = None if df is None else set(zip(df["run"], df["device"], df["base_lib"], df["model"], strict=True))
    parts = []
    for run in runs:
        records = [r for r in run.records if r.engine_options.get(VARIANT) and
                   (shown is None or (tags[run.label], r.device.get("serial", "?"), r.lib, r.model) in shown)]
        if records:
            table, _ = tables.variants({run.label: records})
            parts.append(table.assign(run=tags[run.label])[["run", *table.columns]])
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def impact(df: pd.DataFrame) -> pd.DataFrame:
    """RQ2 per model × device: the library's spread against int8, fp16, threads and an accelerator.

    The library spread is slowest ÷ fastest library, each at its best thread count and build, on
    the reference configuration (CPU, fp32); builds of one library (``--variant``s, versions from
    several runs) are that library's candidates, not libraries, and their own spread is ``build ×``.
    Every other factor is measured within the fastest build: reference ÷ the best run with that
    change (int8, fp16, the best thread count against the fewest, the best non-CPU backend).
    """
    import pandas as pd

    ok = df[~df["parity_failed"]]
    rows = []
    for (model, device), group in ok.groupby(["model", "device"], sort=True):
        ref = group[(group["backend"] == REFERENCE[0]) & (group["precision"] == REFERENCE[1])]
        if ref.empty:
            continue
        builds = tables.best_per_lib(ref, [])
        libraries = builds.drop_duplicates("base_lib")  # each library at its fastest build
        first, last = libraries.iloc[0], libraries.iloc[-1]
        mine = builds[builds["base_lib"] == first["base_lib"]]
        within = group[group["lib"] == first["lib"]]
        factors = {
            "library": compare.paired(first["records"], last["records"])[0] if len(libraries) > 1 else None,
            "build": compare.paired(mine.iloc[0]["records"], mine.iloc[-1]["records"])[0] if len(mine) > 1 else None,
            "int8": _speedup(first, _best(within, precision="int8", backend="cpu")),
            "fp16": _speedup(first, _best(within, precision="fp16", backend="cpu")),
            "threads": _threads(ref[ref["lib"] == first["lib"]]),
            "accelerator": _speedup(first, _best(within[within["backend"] != "cpu"])),
        }
        leaders, _ = compare.fastest({row.lib: row.records for row in libraries.itertuples()})
        by_lib = {row.lib: row for row in libraries.itertuples()}
        rows.append({"model": model, "device": device,
                     "fastest library": cells.fastest([by_lib[lib] for lib in leaders]),
                     **{f"{name} ×": _times(change) for name, change in factors.items()},
                     "largest": _largest(factors)})
    return pd.DataFrame(rows)


IMPACT_NOTE = ("library ×: slowest ÷ fastest library on CPU fp32, each at its best thread count and build; "
               "build ×: within the fastest library, slowest ÷ fastest of its builds (--variant builds, or "
               "versions from several runs); the other factors within the fastest build: CPU fp32 ÷ the best "
               "run with int8, fp16, an accelerator, or the fewest threads ÷ the best thread count. Each with "
               "its 95 % CI (Welch on logs); tie: the CI includes 1, no difference shown; n/a: fewer than 2 "
               "repeats, no CI, so no ratio; — where the runs hold no such configuration. largest names a "
               "factor only where its CI excludes 1 and lies wholly beyond every other factor's CI (a "
               "conservative test); otherwise it names the factors the data cannot tell apart")


def cold_warm(df: pd.DataFrame) -> pd.DataFrame:
    """RQ4: cold start (medians over repeats) against the warm typical latency, per case."""
    rows = df[df["first_ms"].notna()]
    out = rows[["run", "model", "device", "lib", "backend", "precision", "threads",
                "load_ms", "init_ms", "first_ms", "median_ms"]].rename(
        columns={"load_ms": "load ms", "init_ms": "init ms", "first_ms": "first inference ms",
                 "median_ms": "warm ms"})
    out["first inference ÷ warm"] = rows["first_ms"] / rows["median_ms"]
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

    tags = run_tags(runs)
    shown = None if df is None else set(zip(df["run"], df["device"], df["base_lib"], df["variant"], df["model"],
                                            strict=True))
    rows = []
    for run in runs:
        by_device: dict[str, list[Any]] = {}
        for r in run.records:
            where = (tags[run.label], r.device.get("serial", "?"), r.lib, r.engine_options.get(VARIANT) or "",
                     r.model)
            if shown is not None and where not in shown:
                continue
            by_device.setdefault(str(r.device.get("serial", "?")), []).append(r)
        for serial, records in sorted(by_device.items()):
            info = records[0].device
            flags = sorted({(f, cells.lib_name(r)) for r in records for f in r.flags})
            rows.append({
                "run": tags[run.label], "when": run.when[:19] or "—", "device": serial,
                "model": info.get("model", "?"), "cpu": _cpu(info), "cores": info.get("cores", "?"),
                "system": _system(info),
                "libraries": ", ".join(sorted({f"{cells.lib_name(r)} {r.lib_version}" for r in records})),
                "flags": "; ".join(f"{lib}: {flag} ({FLAGS[flag]})" for flag, lib in flags) or "—",
            })
    return pd.DataFrame(rows)


def _cpu(info: Mapping[str, Any]) -> str:
    """The host's CPU model; a phone's SoC (``ro.soc.model``, else its board platform)."""
    cpu = str(info.get("cpu") or " ".join(str(info[k]) for k in ("soc", "board") if info.get(k))[:40] or "?")
    return f"{cpu} (emulated on this machine's CPU)" if conditions.emulated(info) else cpu


def _system(info: Mapping[str, Any]) -> str:
    if info.get("system"):
        return str(info["system"])
    if info.get("release") or info.get("sdk"):
        return f"Android {info.get('release') or '?'} (SDK {info.get('sdk') or '?'})"
    return "?"


def _extras(records: Sequence[Any]) -> dict[tuple[Any, ...], dict[str, Any]]:
    grouped: dict[tuple[Any, ...], list[Any]] = {}
    for r in records:
        key = (r.model, r.device.get("serial", "?"), r.backend, r.precision, r.threads, cells.lib_name(r))
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
            "states": [(r.median_ms, r.conditions.get("cpu_temp_c_before"), r.conditions.get("cpu_temp_c_after"),
                        r.conditions.get("freq_lowest_ratio"), "throttled" in r.flags) for r in rs],
        }
    return out


def _key(row: Any) -> tuple[Any, ...]:
    return (row.model, row.device, row.backend, row.precision, row.threads, row.lib)


def _distinguish(df: pd.DataFrame) -> pd.DataFrame:
    """Name the run, and the version where versions differ, where one build comes from several
    runs. Over all devices, so a build keeps one label across models and devices (one heatmap column)."""
    several = df.groupby("lib")["run"].transform("nunique") > 1
    versions = df.groupby("lib")["version"].transform("nunique") > 1
    name = df["lib"].where(~versions, df["lib"] + " " + df["version"])
    df.loc[several, "lib"] = name[several] + " @" + df.loc[several, "run"]
    return df


def _best(df: pd.DataFrame, **where: str) -> Any | None:
    for column, value in where.items():
        df = df[df[column] == value]
    return None if df.empty else df.loc[df["median_ms"].idxmin()]


def _speedup(reference: Any, other: Any | None) -> stats.Change | None:
    """reference ÷ other: how many times faster the change makes it (below 1: slower); paired where
    both ran in the same blocks (thread counts), else unpaired (a precision or backend is another block)."""
    return None if other is None else compare.paired(other["records"], reference["records"])[0]


def _threads(df: pd.DataFrame) -> stats.Change | None:
    if df["threads"].nunique() < 2:
        return None
    fewest = df.loc[df["threads"].idxmin()]
    return _speedup(fewest, df.loc[df["median_ms"].idxmin()])


def _times(change: stats.Change | None) -> str:
    if change is None:
        return "—"
    if change.low is None or change.high is None:
        return "n/a (< 2 repeats)"
    cell = cells.ratio(change)
    return cell if _established(change) else f"tie: {cell}"


def _established(change: stats.Change) -> bool:
    return change.low is not None and change.high is not None and not change.low <= 1 <= change.high


def _size(change: stats.Change) -> tuple[float, float, float]:
    """How far a factor moves latency, either way: the ratio and its CI folded above 1."""
    assert change.low is not None and change.high is not None
    if change.ratio >= 1:
        return change.ratio, max(change.low, 1.0), change.high
    return 1 / change.ratio, max(1 / change.high, 1.0), 1 / change.low


def _largest(factors: dict[str, stats.Change | None]) -> str:
    """The factor that moves latency most, named only where the CIs establish it."""
    measured = {name: c for name, c in factors.items() if c is not None}
    if not measured:
        return "—"
    sized = {name: _size(c) for name, c in measured.items() if c.low is not None and c.high is not None}
    untold = sorted(set(measured) - set(sized))
    if not sized:
        return "cannot tell: fewer than 2 repeats"
    top = max(sized, key=lambda name: sized[name][0])
    rivals = [name for name in sized if name != top and sized[name][2] >= sized[top][1]]
    if _established(measured[top]) and not rivals and not untold:
        return top if len(measured) > 1 else f"{top} (the only factor measured)"
    if not any(_established(c) for c in measured.values()):
        return "no factor established" + (f" ({', '.join(untold)}: < 2 repeats)" if untold else "")
    return "cannot tell: " + " ≈ ".join([top, *sorted(rivals, key=lambda n: -sized[n][0]), *untold])


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
