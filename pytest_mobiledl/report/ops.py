"""Where the time goes: op-class tables, the best-of-all projection, and which op class changed.

Inputs are OpProfiles (``ops/profile.py``) of the runs; pandas, no I/O. Every frame has one row
per device × model × precision × threads (the case without the library), so libraries sit side
by side in the same op vocabulary (``ops/taxonomy.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from pytest_mobiledl.ops.profile import OpProfile
from pytest_mobiledl.ops.taxonomy import CLASSES

if TYPE_CHECKING:
    import pandas as pd

_PLACE = ["device", "model", "precision", "threads"]
#: The projection's caveats, said wherever it is shown.
CAVEATS = ("best of all: per op class, the fastest library's time, summed; against the fastest single library's "
           "unprofiled latency. Counted: each library's op times as its own profiler measured them (raw), and "
           "scaled by its coverage to its unprofiled latency (scaled): the saving is given as that range. Not "
           "counted: converting tensors between libraries' layouts (NCHW, NHWC, NC4HW4, packed) and memory "
           "between op classes taken from different libraries, which is not free; a fused op's time sits in "
           "its principal op's class; conv and dense are one class here (XNNPACK runs 1×1 convolutions as Fully "
           "Connected GEMMs, MNN a matrix product by a constant as a Convolution), and activation and "
           "normalization, fused into the preceding op by some libraries, are spread over each library's conv, "
           "depthwise and dense time in proportion. Libraries without a profile (LiteRT on "
           "the host) are not in it.")


def frame(profiles: Iterable[OpProfile], run: str = "") -> pd.DataFrame:
    """One row per profile × op class: ms, share of the profile's sum, and the profile's facts."""
    import pandas as pd

    rows = []
    for p in profiles:
        if not p.ops:
            continue
        by_class, total = p.by_class(), p.total_ms
        for cls in CLASSES:
            rows.append({"run": run, "device": str(p.device.get("serial", "host")), "model": p.model, "lib": p.label,
                         "precision": p.precision, "threads": p.threads, "op_class": cls, "ms": by_class[cls],
                         "share": by_class[cls] / total if total else 0.0, "latency_ms": p.latency_ms,
                         "coverage": p.coverage, "approximation": "approximation" in p.flags})
    return pd.DataFrame(rows)


def classes(df: pd.DataFrame) -> pd.DataFrame:
    """Each library's ms (and % of its profile) per op class, the fastest library per class."""
    import pandas as pd

    if df.empty:
        return pd.DataFrame()
    out = []
    for place, group in df.groupby(_PLACE, sort=True):
        wide = group.pivot_table(index="op_class", columns="lib", values="ms", aggfunc="sum")
        share = group.pivot_table(index="op_class", columns="lib", values="share", aggfunc="sum")
        for cls in [c for c in CLASSES if c in wide.index and wide.loc[c].max() > 0]:
            row = dict(zip(_PLACE, place, strict=True)) | {"op class": cls}
            for lib in wide.columns:
                row[lib] = f"{wide.loc[cls, lib]:.3g} ms ({share.loc[cls, lib]:.0%})"
            ran = wide.loc[cls][wide.loc[cls] > 0]
            row["fastest"] = str(ran.idxmin()) if len(ran) else "—"
            row["slowest ÷ fastest"] = round(float(ran.max() / ran.min()), 2) if len(ran) > 1 else None
            out.append(row)
    return pd.DataFrame(out)


def differ_most(df: pd.DataFrame, top: int = 3) -> pd.DataFrame:
    """Per place, the op classes where the libraries differ most (by ms between slowest and fastest),
    on the projection's classes (conv and dense together, activations spread: ``_unfused``)."""
    import pandas as pd

    if df.empty or df["lib"].nunique() < 2:
        return pd.DataFrame()
    out = []
    for place, group in df.groupby(_PLACE, sort=True):
        wide = _unfused(group.pivot_table(index="op_class", columns="lib", values="ms", aggfunc="sum"))
        if wide.shape[1] < 2:
            continue
        spread = (wide.max(axis=1) - wide.min(axis=1)).sort_values(ascending=False)
        for cls in spread.index[:top]:
            if spread[cls] <= 0:
                continue
            out.append(dict(zip(_PLACE, place, strict=True)) | {
                "op class": cls, "fastest": str(wide.loc[cls].idxmin()), "slowest": str(wide.loc[cls].idxmax()),
                "Δ ms": round(float(spread[cls]), 3)})
    return pd.DataFrame(out)


def projection(df: pd.DataFrame) -> pd.DataFrame:
    """The best-of-all projection per place: Σ over op classes of the fastest library's time."""
    import pandas as pd

    if df.empty or df["lib"].nunique() < 2:
        return pd.DataFrame()
    out = []
    for place, group in df.groupby(_PLACE, sort=True):
        libs = group.groupby("lib").agg(latency=("latency_ms", "first"), coverage=("coverage", "first"))
        if len(libs) < 2:
            continue
        wide = _unfused(group.pivot_table(index="op_class", columns="lib", values="ms", aggfunc="sum"))
        scaled = wide / libs["coverage"]  # each library's op times scaled to its unprofiled latency
        best_lib = str(libs["latency"].idxmin())
        best = float(libs["latency"].min())
        raw_all, scaled_all = float(wide.min(axis=1).sum()), float(scaled.min(axis=1).sum())
        picks = {cls: str(scaled.loc[cls].idxmin()) for cls in wide.index if scaled.loc[cls].max() > 0}
        out.append(dict(zip(_PLACE, place, strict=True)) | {
            "libraries": ", ".join(libs.index), "best single": f"{best_lib} {best:.3g} ms",
            "best of all ms (raw – scaled)": f"{raw_all:.3g} – {scaled_all:.3g}",
            "saving % (raw, scaled)": f"{round(100 * (1 - raw_all / best))}, {round(100 * (1 - scaled_all / best))}",
            "takes": ", ".join(f"{cls}: {lib}" for cls, lib in picks.items())})
    return pd.DataFrame(out)


def _unfused(wide: pd.DataFrame) -> pd.DataFrame:
    """The op classes the projection compares: where libraries draw a class's borders differently,
    they are drawn once for all.

    Activation and normalization are spread over each library's conv, depthwise and dense time:
    some libraries fuse them into the preceding op (0 ms of their own), others do not, and taking
    the fused library's 0 beside another's bare convolution would count neither. Conv and dense
    are one class here: XNNPACK runs 1×1 convolutions as Fully Connected GEMMs and MNN a matrix
    product by a constant as a Convolution, so one library's conv work is another's dense work.
    """
    wide = wide.copy()
    hosts = [c for c in ("conv", "depthwise_conv", "dense") if c in wide.index]
    fused = [c for c in ("activation", "normalization") if c in wide.index]
    for lib in wide.columns:
        base = wide.loc[hosts, lib].sum()
        if base > 0 and fused:
            wide.loc[hosts, lib] += wide.loc[fused, lib].sum() * wide.loc[hosts, lib] / base
            wide.loc[fused, lib] = 0.0
    if "dense" in wide.index:
        wide.loc["conv"] = (wide.loc["conv"] if "conv" in wide.index else 0.0) + wide.loc["dense"]
        wide = wide.drop(index="dense").rename(index={"conv": "conv+dense"})
    return wide


def coverage(profiles: Sequence[OpProfile]) -> pd.DataFrame:
    """Every profile's coverage, its profiler, flags, note, and the op names the taxonomy did not map."""
    import pandas as pd

    rows = [{"device": str(p.device.get("serial", "host")), "model": p.model, "lib": p.label,
             "precision": p.precision, "threads": p.threads, "profiler": p.profiler, "ops": len(p.ops),
             "ops ms": round(p.total_ms, 3) if p.ops else None,
             "latency ms": round(p.latency_ms, 3) if p.latency_ms else None,
             "coverage %": round(100 * p.coverage) if p.coverage else None,
             "unmapped": ", ".join(p.unmapped()), "flags": ", ".join(p.flags), "note": p.note}
            for p in profiles]
    return pd.DataFrame(rows)


def changes(before: Sequence[OpProfile], after: Sequence[OpProfile], top: int = 3,
            same_build: bool = True) -> pd.DataFrame:
    """Per case in both, the op classes whose time changed most: where a regression lives.

    Two runs pair each build with itself (``same_build``); two --variant builds of one run pair
    on the case alone."""
    import pandas as pd

    def key(p: OpProfile) -> tuple[object, ...]:
        return (*p.case_key(), p.variant) if same_build else p.case_key()

    old = {key(p): p for p in before if p.ops}
    out = []
    for p in after:
        q = old.get(key(p))
        if q is None or not p.ops:
            continue
        now, then = p.by_class(), q.by_class()
        moved = sorted(CLASSES, key=lambda c: -abs(now[c] - then[c]))[:top]
        for cls in moved:
            if now[cls] == then[cls]:
                continue
            out.append({"device": p.case_key()[0], "model": p.model, "lib": p.lib,
                        "builds": f"{q.label} {q.lib_version} → {p.label} {p.lib_version}", "precision": p.precision,
                        "threads": p.threads, "op class": cls, "before ms": round(then[cls], 3),
                        "after ms": round(now[cls], 3), "Δ ms": round(now[cls] - then[cls], 3),
                        "Δ %": round(100 * (now[cls] / then[cls] - 1)) if then[cls] else None,
                        "latency before → after ms": f"{q.latency_ms or 0:.3g} → {p.latency_ms or 0:.3g}"})
    return pd.DataFrame(out)


def variant_changes(profiles: Sequence[OpProfile], order: Sequence[str] = ()) -> pd.DataFrame:
    """Each --variant build's op changes against the library's first build (``order``, else by name)."""
    import pandas as pd

    by_lib: dict[str, dict[str, list[OpProfile]]] = {}
    for p in profiles:
        if p.variant:
            by_lib.setdefault(p.lib, {}).setdefault(p.variant, []).append(p)
    frames = []
    for builds in by_lib.values():
        labels = sorted(builds, key=lambda v: (order.index(v) if v in order else len(order), v))
        frames += [changes(builds[labels[0]], builds[other], same_build=False) for other in labels[1:]]
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
