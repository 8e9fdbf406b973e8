"""The page's figures, as PNG bytes. matplotlib is imported here only, when a page is made.

Figures are made with ``matplotlib.figure.Figure`` (no pyplot): no global state, no GUI backend,
and the only font is the one matplotlib ships, so a page never asks for a font.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_mobiledl import compare
from pytest_mobiledl.report import cells, tables

if TYPE_CHECKING:
    import pandas as pd

#: Beyond this many rows or panels a figure stops being readable; the tables hold the rest.
MAX_ROWS = 40
MAX_PANELS = 9
MAX_LINES = 6  # per panel of thread scaling: the fastest configurations
MAX_BARS = 20
MAX_DEVICES = 4  # rows of the conditions figure
DPI = 96


@dataclass(frozen=True)
class Plot:
    name: str
    title: str
    png: bytes
    note: str = ""


def make(df: pd.DataFrame) -> list[Plot]:
    """Every figure the data can support; one that has nothing to show is left out."""
    ok = df[~df["parity_failed"]] if not df.empty else df
    makers: list[tuple[str, str, Callable[[pd.DataFrame], tuple[Any, str] | None]]] = [
        ("heatmap", "Latency relative to the fastest build of each row (≈ marks a tie with it)", _heatmap),
        ("distributions", "Latency distributions per model (each library at its best configuration)",
         _distributions),
        ("cold_start", "Cold start: load, init and first inference (medians over repeats)", _cold_start),
        ("threads", "Thread scaling (CPU)", _threads),
        ("versions", "Version trend: typical latency per library version", _versions),
        ("conditions", "Conditions: the device's temperature and clocks around each run", _conditions),
    ]
    plots = []
    for name, title, maker in makers:
        made = maker(ok) if not ok.empty else None
        if made is not None:
            figure, note = made
            plots.append(Plot(name, title, _png(figure), note))
    return plots


def _figure(width: float, height: float, panels: bool = False) -> Any:
    """A figure; grids of panels get fixed margins, as constrained layout would double their drawing time."""
    from matplotlib.figure import Figure

    if not panels:
        return Figure(figsize=(width, height), layout="constrained")
    figure = Figure(figsize=(width, height))
    figure.subplots_adjust(left=0.12, right=0.98, top=1 - 0.45 / height, bottom=1.4 / height,
                           wspace=0.35, hspace=1.2)
    return figure


def _png(figure: Any) -> bytes:
    # A tight box grows the image to hold every label: fixed margins clipped long tick labels.
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", pad_inches=0.15)
    return buffer.getvalue()


def _ink(rgba: Sequence[float]) -> str:
    """Black or white, whichever reads better on a cell of this colour (WCAG relative luminance)."""
    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in rgba[:3])
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    # contrast with black (L + 0.05) / 0.05 against white 1.05 / (L + 0.05): equal at L ≈ 0.179
    return "black" if luminance > 0.179 else "white"


def _capped(n: int, limit: int, what: str) -> str:
    return f"showing the first {limit} of {n} {what}; the tables hold all of them" if n > limit else ""


def _heatmap(df: pd.DataFrame) -> tuple[Any, str] | None:
    import numpy as np

    best = tables.best_per_lib(df, tables.PLACE)
    places = list(best.groupby(tables.PLACE, sort=True).groups)
    libs = sorted(best["lib"].unique())  # builds of one library sort together: onnxruntime @0001, onnxruntime@a
    if len(libs) < 2:
        return None
    note = _capped(len(places), MAX_ROWS, "model × device rows")
    places = places[:MAX_ROWS]
    grid = np.full((len(places), len(libs)), np.nan)
    tied: set[tuple[int, int]] = set()
    indexed = best.set_index(tables.PLACE)
    for i, place in enumerate(places):
        by_lib = {row.lib: row for row in indexed.loc[[place]].itertuples()}
        low = min(row.median_ms for row in by_lib.values())
        leaders = set(compare.fastest({lib: row.records for lib, row in by_lib.items()})[0] if len(by_lib) > 1 else ())
        for lib, row in by_lib.items():
            j = libs.index(lib)
            grid[i, j] = row.median_ms / low
            if lib in leaders and len(leaders) > 1:
                tied.add((i, j))
    # Sized to its rows and columns (a fixed page width squeezed rows to ~10 px); at least ×2 at the
    # dark end, so a lone 1.2× is not painted as the worst there is.
    figure = _figure(2.2 + 1.05 * len(libs), 0.9 + 0.42 * len(places))
    ax = figure.add_subplot()
    cmap = _colormap("viridis_r").with_extremes(bad="#f0f0f0")
    logs = np.log2(grid)
    top = max(1.0, float(np.nanmax(logs)))
    image = ax.imshow(logs, cmap=cmap, aspect="auto", vmin=0, vmax=top)
    figure.colorbar(image, ax=ax, label="log₂ (÷ fastest)", fraction=0.04 if len(libs) > 4 else 0.08)
    tilted = len(libs) > 3
    ax.set_xticks(range(len(libs)), libs, rotation=30 if tilted else 0, ha="right" if tilted else "center", fontsize=9)
    ax.set_yticks(range(len(places)), [" ".join(str(p) for p in place) for place in places], fontsize=9)
    ax.tick_params(length=0)
    for (i, j), value in np.ndenumerate(grid):
        if value != value:
            ax.text(j, i, "not run", ha="center", va="center", fontsize=8, color="#888888")
            continue
        mark = "≈" if (i, j) in tied else ""
        ax.text(j, i, f"{mark}{value:.2f}×", ha="center", va="center", fontsize=9,
                color=_ink(cmap(image.norm(np.log2(value)))))
    return figure, " ".join(filter(None, [
        note, "each cell: typical latency ÷ the row's fastest; ≈: the data cannot tell it from the fastest; not "
        "run: no such case in these runs. A column lib@label is a --variant build; lib @tag the library in one of "
        "several runs (the runs table lists the tags)"]))


def _colormap(name: str) -> Any:
    from matplotlib import colormaps

    return colormaps[name].copy()


def _distributions(df: pd.DataFrame) -> tuple[Any, str] | None:
    models = sorted(df["model"].unique())
    note = _capped(len(models), MAX_PANELS, "models")
    models = models[:MAX_PANELS]
    columns = min(3, len(models))
    rows = -(-len(models) // columns)
    figure = _figure(4.2 * columns, 3.4 * rows, panels=True)
    for k, model in enumerate(models, 1):
        best = tables.best_per_lib(df[df["model"] == model], ["model"])
        ax = figure.add_subplot(rows, columns, k)
        ax.boxplot(list(best["samples"]), showfliers=False)
        ax.set_xticks(range(1, len(best) + 1), [cells.lib_threads(r) for r in best.itertuples()], rotation=30,
                      ha="right", fontsize=8)
        ax.set_title(model, fontsize=10)
        ax.set_ylabel("ms per inference")
    return figure, note


def _cold_start(df: pd.DataFrame) -> tuple[Any, str] | None:
    cold = df[df["first_ms"].notna()]
    if cold.empty:
        return None
    best = tables.best_per_lib(cold, ["model"]).sort_values(["model", "lib"])
    note = _capped(len(best), MAX_BARS, "bars")
    best = best.head(MAX_BARS)
    labels = [f"{r.model}\n{r.lib}" for r in best.itertuples()]
    figure = _figure(max(5.0, 0.8 * len(best) + 1.5), 4.0)
    ax = figure.add_subplot()
    bottom = [0.0] * len(best)
    for column, label in (("load_ms", "load"), ("init_ms", "init"), ("first_ms", "first inference")):
        heights = [float(v) if v == v and v is not None else 0.0 for v in best[column]]
        ax.bar(range(len(best)), heights, bottom=bottom, label=label)
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    ax.scatter(range(len(best)), best["median_ms"], marker="_", s=300, color="black", label="warm", zorder=3)
    ax.set_xticks(range(len(best)), labels, fontsize=8, rotation=30, ha="right")
    ax.set_ylabel("ms")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return figure, note


def _threads(df: pd.DataFrame) -> tuple[Any, str] | None:
    cpu = df[df["backend"] == "cpu"]
    lines = [(key, group.sort_values("threads")) for key, group in
             cpu.groupby(["model", "device", "precision", "lib"], sort=True) if group["threads"].nunique() > 1]
    if not lines:
        return None
    models = sorted({key[0] for key, _ in lines})[:MAX_PANELS]
    figure = _figure(4.2 * min(3, len(models)), 3.4 * -(-len(models) // 3), panels=True)
    for k, model in enumerate(models, 1):
        ax = figure.add_subplot(-(-len(models) // 3), min(3, len(models)), k)
        mine = sorted(((key, g) for key, g in lines if key[0] == model), key=lambda x: x[1]["median_ms"].min())
        for (_, device, precision, lib), group in mine[:MAX_LINES]:
            ax.plot(group["threads"], group["median_ms"], marker="o", label=f"{lib} {precision} {device}")
        ax.set_title(model, fontsize=10)
        ax.set_xticks(sorted({t for _, g in mine for t in g["threads"]}))
        ax.set_xlabel("threads")
        ax.set_ylabel("ms")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0.0, -0.22), frameon=False)  # below: no line hidden
    note = _capped(len({key[0] for key, _ in lines}), MAX_PANELS, "models")
    return figure, " ".join(filter(None, [note, f"at most the {MAX_LINES} fastest configurations per model"]))


def _versions(df: pd.DataFrame) -> tuple[Any, str] | None:
    several = [lib for lib, group in df.groupby("base_lib") if group["version"].nunique() > 1]
    if not several:
        return None
    figure = _figure(4.5 * min(3, len(several)), 3.4 * -(-len(several) // 3), panels=True)
    for k, lib in enumerate(several[:MAX_PANELS], 1):
        ax = figure.add_subplot(-(-len(several) // 3), min(3, len(several)), k)
        rows = df[df["base_lib"] == lib]
        order = list(dict.fromkeys(rows.sort_values("run")["version"]))
        for (model, device), group in rows.groupby(["model", "device"], sort=True):
            typical = group.groupby("version")["median_ms"].min()
            xs = [v for v in order if v in typical.index]
            ax.plot(xs, [typical[v] for v in xs], marker="o", label=f"{model} {device}")
        ax.set_title(lib, fontsize=10)
        ax.set_ylabel("ms (best configuration)")
        ax.legend(fontsize=7)
    return figure, ""


def _conditions(df: pd.DataFrame) -> tuple[Any, str] | None:
    """Per device that reported its state: temperatures before → after each run, and each run's
    latency ÷ its case's typical latency against the lowest clock it ran at (throttling shows as
    points low on the x axis and high on the y axis)."""
    devices = sorted(device for device, group in df.groupby("device")
                     if any(state[1] is not None or state[3] is not None for states in group["states"]
                            for state in states))
    if not devices:
        return None
    note = _capped(len(devices), MAX_DEVICES, "devices")
    devices = devices[:MAX_DEVICES]
    figure = _figure(10.0, 3.3 * len(devices), panels=True)
    for k, device in enumerate(devices):
        rows = df[df["device"] == device]
        libs = sorted(rows["lib"].unique())
        temps = figure.add_subplot(len(devices), 2, 2 * k + 1)
        clocks = figure.add_subplot(len(devices), 2, 2 * k + 2)
        for j, lib in enumerate(libs):
            states = [(row.median_ms, state) for row in rows[rows["lib"] == lib].itertuples() for state in row.states]
            pairs = [(s[1], s[2]) for _, s in states if s[1] is not None and s[2] is not None]
            for before, after in pairs:
                temps.plot([j - 0.15, j + 0.15], [before, after], color="#999999", linewidth=0.8)
            temps.scatter([j - 0.15] * len(pairs), [b for b, _ in pairs], facecolors="none", edgecolors="C0", s=18)
            temps.scatter([j + 0.15] * len(pairs), [a for _, a in pairs], color="C3", s=18)
            ratios = [(s[3], s[0] / typical) for typical, s in states if s[3] is not None]
            if ratios:
                clocks.scatter([x for x, _ in ratios], [y for _, y in ratios], s=18, label=lib, color=f"C{j % 10}")
        temps.set_xticks(range(len(libs)), libs, rotation=30, ha="right", fontsize=8)
        temps.set_ylabel("CPU °C")
        temps.set_title(f"{device}: before (○) and after (●) each run", fontsize=10)
        lowest = min((s[3] for states in rows["states"] for s in states if s[3] is not None), default=1.0)
        clocks.set_xlim(min(0.5, lowest - 0.05), 1.03)  # the throttle line and full speed always in view
        clocks.axhline(1.0, color="#bbbbbb", linewidth=0.8)
        clocks.axvline(0.9, color="#bbbbbb", linewidth=0.8, linestyle="--")
        clocks.set_xlabel("lowest clock ÷ max (busiest used core)")
        clocks.set_ylabel("run ÷ typical latency")
        clocks.set_title(f"{device}: throttling against latency", fontsize=10)
        if clocks.collections:
            clocks.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return figure, " ".join(filter(None, [note, "dashed: the throttle line (10 % below max); a run right of it "
                                                "and near 1 ran at full speed"]))
