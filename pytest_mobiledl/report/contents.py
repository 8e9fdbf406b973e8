"""What a report holds, in order: every table with its title and note. Text, HTML and CSV show these."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pytest_mobiledl.report import analyses, conditions, tables
from pytest_mobiledl.report.inputs import Run

if TYPE_CHECKING:
    import pandas as pd

    from pytest_mobiledl.record import RunRecord


@dataclass(frozen=True)
class Table:
    name: str  # file and anchor name: fragmentation, gap, …
    title: str
    note: str
    frame: pd.DataFrame


FRAGMENTATION = "Fragmentation: the fastest library per model × device × backend × precision"
GAP = "Gap: slowest ÷ fastest library per model × device"
GAP_NOTE = ("each library at its best thread count and build; 95 % CI of the ratio, paired within blocks (Welch on "
            "logs for runs saved before blocks); a CI that holds 1 names neither")


def session(records: Sequence[RunRecord], compared: Sequence[Table] = ()) -> list[Table]:
    """The tables a session prints: who wins where and by how much, then what it compared (changes,
    variants, sweep, made by ``results.py``) — the same ``Table``s its HTML page shows."""
    import pandas as pd

    df = tables.frame(records)
    if df.empty:
        return list(compared)
    libraries = sorted(df["library"].unique())  # builds of one library (--variant) are one library
    if len(libraries) < 2:
        ranked = [Table("fragmentation", "Fragmentation", f"only one library measured ({libraries[0]}): no "
                        "fragmentation or gap to show; select more with --libs", pd.DataFrame())]
    else:
        ranked = [Table("fragmentation", FRAGMENTATION, tables.fragmentation_note(df), tables.fragmentation(df)),
                  Table("gap", GAP, GAP_NOTE, tables.gap(df))]
    return [*ranked, *compared]


def merged(report: Sequence[Table], session: Sequence[Table]) -> list[Table]:
    """The report's tables with the session's own in place of those of the same name, the rest after."""
    own = {t.name: t for t in session}
    return [own.pop(t.name, t) for t in report] + list(own.values())


def build(runs: Sequence[Run], df: pd.DataFrame) -> list[Table]:
    """Every table of the report over ``df`` (``analyses.cases`` of ``runs``, maybe filtered)."""
    ranked = df if df["base_lib"].nunique() > 1 or df["lib"].nunique() > 1 else df.iloc[0:0]
    libraries = df if df["base_lib"].nunique() > 1 else df.iloc[0:0]  # builds of one library have no gap
    return [
        Table("runs", "Runs: the tags the tables use", "each saved run or journal read, oldest first",
              analyses.runs_legend(runs, df)),
        Table("fragmentation", FRAGMENTATION, tables.fragmentation_note(df) if not df.empty else "",
              _or_empty(tables.fragmentation, ranked)),
        Table("gap", GAP, GAP_NOTE, _or_empty(tables.gap, libraries)),
        Table("variants", "Variants: each --variant build against its case's first build, within its run",
              tables.variants_note(None), analyses.variants(runs, df)),
        Table("impact", "Impact (RQ2): does the choice of library outweigh int8, fp16, threads and accelerators?",
              analyses.IMPACT_NOTE, analyses.impact(df)),
        Table("cold_warm", "Cold vs warm (RQ4): load, init and first inference against the warm latency",
              "medians over the repeats (fresh processes); warm ms is the typical latency; first inference ÷ "
              "warm: how much slower the first inference after init is than a warm one", analyses.cold_warm(df)),
        Table("memory", "Memory: peak resident memory of the process that ran the model",
              "median and max over the repeats", analyses.memory(df)),
        Table("stability", "Stability: how far each figure can be trusted",
              "CV % (repeats): between fresh processes; CV % (samples): within one process, median over the "
              "repeats; CI ± %: half-width of the 95 % CI, the smallest change detectable", analyses.stability(df)),
        Table("conditions", "Conditions: the device's temperature, clocks and battery around its runs",
              conditions.NOTE, conditions.table(runs, analyses.run_tags(runs), df)),
        Table("parity", "Parity: the worst error of each artifact against its source framework",
              "relative and absolute error of the converted model's output on the seeded input",
              analyses.parity(df)),
        Table("environment", "Environment: devices, library versions and tool flags per run", "",
              analyses.environment(runs, df)),
        *_ops_tables(runs),
    ]


def _ops_tables(runs: Sequence[Run]) -> list[Table]:
    """The op tables over the runs' profiles (none when no run holds profiles): frames from report/ops.py."""
    import pandas as pd

    from pytest_mobiledl.report import ops

    with_ops = [r for r in runs if r.profiles]
    if not with_ops:
        return []
    last = with_ops[-1]
    df = ops.frame(last.profiles, last.label)
    out = [
        Table("op_classes", "Where the time goes: each library's time per op class",
              "ms per inference (share of the profile's sum) from each library's own profiler, in a separate "
              f"profiling run; run {last.label}", ops.classes(df)),
        Table("op_differ", "Op classes where the libraries differ most", "slowest − fastest library, ms",
              ops.differ_most(df)),
        Table("op_projection", "Best of all: a library that took the fastest implementation of every op class",
              ops.CAVEATS, ops.projection(df)),
        Table("op_coverage", "Profiles: coverage of the unprofiled latency, and op names not mapped",
              "coverage: the ops' sum ÷ the same session's unprofiled median; flagged approximations are used "
              "only where they track the latency", ops.coverage(last.profiles)),
    ]
    variant = ops.variant_changes(last.profiles)
    if not variant.empty:
        out.append(Table("op_variant_changes", "Which op class changed: --variant builds against the first",
                         "per case, the three op classes that moved most from the first build to each other",
                         variant))
    if len(with_ops) > 1:
        before = with_ops[-2]
        out.append(Table("op_changes", "Which op class changed: between the last two runs with profiles",
                         f"{before.label} → {last.label}; the three op classes that moved most per case",
                         ops.changes(before.profiles, last.profiles)))
    return [t for t in out if not t.frame.empty] or [Table("op_coverage", "Profiles", "", pd.DataFrame())]


def _or_empty(make: object, df: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    if df.empty:
        return pd.DataFrame()
    frame: pd.DataFrame = make(df)  # type: ignore[operator]
    return frame
