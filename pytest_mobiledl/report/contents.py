"""What a report holds, in order: every table with its title and note. Text, HTML and CSV show these."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pytest_mobiledl.report import analyses, tables
from pytest_mobiledl.report.inputs import Run

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Table:
    name: str  # file and anchor name: fragmentation, gap, …
    title: str
    note: str
    frame: pd.DataFrame


def build(runs: Sequence[Run], df: pd.DataFrame) -> list[Table]:
    """Every table of the report over ``df`` (``analyses.cases`` of ``runs``, maybe filtered)."""
    ranked = df if df["base_lib"].nunique() > 1 or df["lib"].nunique() > 1 else df.iloc[0:0]
    return [
        Table("fragmentation", "Fragmentation: the fastest library per model × device × backend × precision",
              tables._footnote(df) if not df.empty else "", _or_empty(tables.fragmentation, ranked)),
        Table("gap", "Gap: slowest ÷ fastest library per model × device",
              "each library at its best thread count; 95 % CI of the ratio (Welch on logs)",
              _or_empty(tables.gap, ranked)),
        Table("impact", "Impact (RQ2): does the choice of library outweigh int8, fp16, threads and accelerators?",
              "library ×: slowest ÷ fastest library on CPU fp32, each at its best thread count; the other "
              "factors within the fastest library: CPU fp32 ÷ the best run with int8, fp16, an accelerator, "
              "or the best thread count ÷ the fewest; — where the runs hold no such configuration",
              analyses.impact(df)),
        Table("cold_warm", "Cold vs warm (RQ4): load, init and first inference against the warm latency",
              "medians over the repeats (fresh processes); warm ms is the typical latency", analyses.cold_warm(df)),
        Table("memory", "Memory: peak resident memory of the process that ran the model",
              "median and max over the repeats", analyses.memory(df)),
        Table("stability", "Stability: how far each figure can be trusted",
              "CV % (repeats): between fresh processes; CV % (samples): within one process, median over the "
              "repeats; CI ± %: half-width of the 95 % CI, the smallest change detectable", analyses.stability(df)),
        Table("parity", "Parity: the worst error of each artifact against its source framework",
              "relative and absolute error of the converted model's output on the seeded input",
              analyses.parity(df)),
        Table("environment", "Environment: devices, library versions and tool flags per run", "",
              analyses.environment(runs, df)),
        *_ops_tables(runs),
    ]


def _ops_tables(runs: Sequence[Run]) -> list[Table]:
    from pytest_mobiledl.report import ops  # per-operator profiles: report/ops.py

    return ops.tables(runs)


def _or_empty(make: object, df: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    if df.empty:
        return pd.DataFrame()
    frame: pd.DataFrame = make(df)  # type: ignore[operator]
    return frame
