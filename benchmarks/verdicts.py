"""Do the plugin's verdicts resolve what they should on a noisy machine? Lockstep blocks, measured.

    python benchmarks/verdicts.py run OUT [--sessions 8] [--slow-lib onnxruntime]   # A B A A B … (+ 2 unpaired)
    python benchmarks/verdicts.py variants OUT [--libs …] [--models …]            # A/A, +10 %, +5 %
    python benchmarks/verdicts.py analyse OUT
    python benchmarks/verdicts.py quick OUT                                        # a minute: CI runs it

``run`` interleaves, through the real plugin at its defaults, A sessions (identical), B sessions
(``--slow-lib`` slowed 10 % by ``--mobiledl-delay-ms``) and two ``--mobiledl-lockstep=no``
sessions (the cases one after another, as before blocks), each saved as a pytest-benchmark run
under OUT. ``variants`` runs every library as two ``--variant`` builds of the same interpreter:
once as is (A/A), once with build b slowed 10 %, once 5 %. ``analyse`` judges the saved runs
with the plugin's own code (``compare``, ``report``), and beside it with the method before blocks
on the same data (the block of every record dropped: Welch on per-repeat medians, the session's
drift; variants paired round by round):

- fragmentation (A sessions): per row, the CI half-width of the runner-up ÷ winner ratio, the
  share of rows naming a sole winner, and whether two sessions name different winners;
- across sessions: A/A pairs flagged at ``--mobiledl-compare-fail=10%``; B against A, the slowed
  library caught at 5 %, and anything else flagged;
- variants: A/A cases flagged, +10 % and +5 % caught, anything else flagged;
- device seconds per item (session wall time ÷ items), lockstep against one after another.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from pytest_mobiledl import compare, report, saved
from pytest_mobiledl.record import RunRecord

LIBS = "onnxruntime,tflite,mnn,ncnn,executorch"
MODELS = "mobilenet_v2,squeezenet1_1"
Runs = dict[str, dict[str, list[RunRecord]]]


def _session(out: Path, name: str, args: Sequence[str], timings: dict[str, float]) -> None:
    if list(out.rglob(f"*_{name}.json")):
        return  # saved by an earlier, interrupted call: run resumes
    base = [sys.executable, "-m", "pytest", str(Path(__file__).parent / "test_latency.py"), "-q", "-p",
            "no:cacheprovider", f"--benchmark-storage=file://{out}", f"--benchmark-save={name}"]
    t0 = time.monotonic()
    ran = subprocess.run([*base, *args], capture_output=True, text=True)
    timings[name] = time.monotonic() - t0
    print(f"{name}: exit {ran.returncode} in {timings[name]:.0f} s", flush=True)
    if ran.returncode != 0:
        print(ran.stdout[-3000:], ran.stderr[-2000:])
    (out / "timings.json").write_text(json.dumps(timings, indent=1))


def _timings(out: Path) -> dict[str, float]:
    path = out / "timings.json"
    return json.loads(path.read_text()) if path.exists() else {}


def run(out: Path, sessions: int, slow_lib: str, libs: str, models: str, extra: Sequence[str] = ()) -> None:
    out.mkdir(parents=True, exist_ok=True)
    timings = _timings(out)
    matrix = [f"--libs={libs}", f"--models={models}", *extra]
    for i in range(1, sessions + 1):
        _session(out, f"a{i:02d}", matrix, timings)
        if i % 2:
            _session(out, f"b{i:02d}", [*matrix, f"--mobiledl-delay-ms={slow_lib}=10%"], timings)
        if i <= 2:
            _session(out, f"s{i:02d}", [*matrix, "--mobiledl-lockstep=no"], timings)


def run_variants(out: Path, libs: str, models: str, threads: str, extra: Sequence[str] = ()) -> None:
    out.mkdir(parents=True, exist_ok=True)
    timings = _timings(out)
    builds = [arg for lib in libs.split(",") for label in "ab"
              for arg in ("--variant", f"{lib}@{label}={sys.executable}")]
    matrix = [f"--libs={libs}", f"--models={models}", f"--threads={threads}", *builds, *extra]
    slow = ",".join(f"{lib}@b" for lib in libs.split(","))
    _session(out, "vaa", matrix, timings)
    for pct in (10, 5):
        _session(out, f"vb{pct:02d}", [*matrix, f"--mobiledl-delay-ms={slow.replace(',', f'={pct}%,')}={pct}%"],
                 timings)


def load(out: Path) -> Runs:
    """Session name → item → its records, from the saved runs."""
    runs = {}
    for path in sorted(out.rglob("*.json")):
        if path.name == "timings.json":
            continue
        data = json.loads(path.read_text())
        runs[path.stem.split("_")[1]] = {b["fullname"]: saved.records(b) for b in data["benchmarks"]}
    return runs


def unblocked(items: Mapping[str, list[RunRecord]]) -> dict[str, list[RunRecord]]:
    """The method before blocks, on the same data: every record's block dropped."""
    return {item: [r.with_(block={}) for r in records] for item, records in items.items()}


def fragmentation(sessions: Sequence[Mapping[str, list[RunRecord]]]) -> dict[str, object]:
    widths, sole, rows, winners = [], 0, 0, {}
    for items in sessions:
        records = [r for rs in items.values() for r in rs]
        df = report.frame(records)
        for place, group in report.best_per_lib(df[~df["parity_failed"]], report.PLACE, "library").groupby(
                report.PLACE):
            by_lib = {row.lib: row.records for row in group.itertuples()}
            leaders, against = compare.fastest(by_lib)
            ranked = sorted(against, key=lambda name: against[name][0].ratio)
            if ranked:
                widths.append(compare.half_width_pct(against[ranked[0]][0]))
            rows += 1
            if len(leaders) == 1:
                sole += 1
                winners.setdefault(place, set()).add(leaders[0])
    return {"median half-width of runner-up ÷ winner %": round(statistics.median(widths), 2),
            "p90 %": round(sorted(widths)[int(len(widths) * 0.9)], 2),
            "rows with a sole winner": f"{sole}/{rows}",
            "places naming two different winners": sum(len(w) > 1 for w in winners.values())}


def across(a: Sequence[Mapping[str, list[RunRecord]]], b: Sequence[Mapping[str, list[RunRecord]]],
           slow_lib: str) -> dict[str, object]:
    aa = flagged = 0
    for x, y in itertools.permutations(a, 2):
        found, _ = compare.sessions(y, x, 10)
        aa += len(found)
        flagged += len(compare.failing(found, 10))
    caught = slowed = others = 0
    for x, y in itertools.product(a, b):
        found, _ = compare.sessions(y, x, 5)
        for c in compare.failing(found, 5):
            if f"-{slow_lib}-" in c.item:
                caught += 1
            else:
                others += 1
        slowed += sum(f"-{slow_lib}-" in c.item for c in found)
    return {"A/A flagged at 10 %": f"{flagged}/{aa} ({flagged / max(aa, 1):.2%})",
            "+10 % caught at 5 %": f"{caught}/{slowed} ({caught / max(slowed, 1):.1%})",
            "other items flagged at 5 %": others}


def variants(runs: Runs, transform: Callable[[dict[str, list[RunRecord]]], dict[str, list[RunRecord]]]
             ) -> dict[str, object]:
    figures: dict[str, object] = {}
    for name, what in (("vaa", "A/A flagged"), ("vb10", "+10 % caught"), ("vb05", "+5 % caught")):
        if name not in runs:
            continue
        _, found = report.variants(transform(runs[name]))
        slower = sum(c.verdict == "slower" for c in found)
        wrong = sum(c.verdict == "faster" for c in found) + (slower if name == "vaa" else 0)
        widths = [compare.half_width_pct(c.change) for c in found]
        figures[what] = f"{slower if name != 'vaa' else wrong}/{len(found)}" + (
            f", other verdicts flagged: {wrong}" if name != "vaa" else "")
        figures[f"{name} median half-width %"] = round(statistics.median(widths), 2)
    return figures


def analyse(out: Path, slow_lib: str) -> None:
    from tabulate import tabulate

    runs, timings = load(out), _timings(out)
    a = [runs[n] for n in sorted(runs) if n.startswith("a")]
    b = [runs[n] for n in sorted(runs) if n.startswith("b")]
    s = [runs[n] for n in sorted(runs) if n.startswith("s")]
    print(f"sessions: {len(a)} A, {len(b)} B ({slow_lib} +10 %), {len(s)} one-after-another; "
          f"items per session: {len(a[0]) if a else 0}")
    rows = []
    if a:
        rows.append({"figure": "fragmentation", "lockstep, paired": fragmentation(a),
                     "same data, unpaired (before)": fragmentation([unblocked(x) for x in a]),
                     "one after another, unpaired": fragmentation([unblocked(x) for x in s]) if s else "—"})
    if a and b:
        rows.append({"figure": "across sessions", "lockstep, paired": across(a, b, slow_lib),
                     "same data, unpaired (before)": across([unblocked(x) for x in a], [unblocked(x) for x in b],
                                                            slow_lib), "one after another, unpaired": "—"})
    if any(n.startswith("v") for n in runs):
        rows.append({"figure": "variants (A/B)", "lockstep, paired": variants(runs, dict),
                     "same data, unpaired (before)": variants(runs, unblocked), "one after another, unpaired": "—"})
    for row in rows:
        print(f"\n## {row['figure']}")
        keys = [k for k in row if k != "figure"]
        figures = sorted({f for k in keys if isinstance(row[k], dict) for f in row[k]})  # type: ignore[union-attr]
        print(tabulate([[f, *(row[k].get(f, "—") if isinstance(row[k], dict) else "—" for k in keys)]  # type: ignore[union-attr]
                        for f in figures], headers=["", *keys], tablefmt="github"))
    per_item = {kind: [timings[n] / max(1, sum(len(v) for v in runs[n].values())) for n in runs
                       if n.startswith(kind) and n in timings] for kind in ("a", "s")}
    if per_item["a"] and per_item["s"]:
        print(f"\nwall seconds per item (repeat): lockstep {statistics.median(per_item['a']):.3f}, one after another "
              f"{statistics.median(per_item['s']):.3f} (medians over {len(per_item['a'])} and {len(per_item['s'])} "
              "sessions)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["run", "variants", "analyse", "quick"])
    parser.add_argument("out", type=Path)
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--slow-lib", default="onnxruntime")
    parser.add_argument("--libs", default=LIBS)
    parser.add_argument("--models", default=MODELS)
    parser.add_argument("--threads", default="1")
    args = parser.parse_args()
    if args.action == "run":
        run(args.out, args.sessions, args.slow_lib, args.libs, args.models)
    elif args.action == "variants":
        run_variants(args.out, args.libs, args.models, args.threads)
    elif args.action == "quick":  # the whole pipeline on tiny_cnn in about a minute: what CI runs
        quick = ["--repeats=3", "--iterations=20", "--warmup=2"]
        run(args.out, 2, "onnxruntime", "onnxruntime,tflite", "tiny_cnn", quick)
        run_variants(args.out, "onnxruntime", "tiny_cnn", "1", quick)
        analyse(args.out, "onnxruntime")
    else:
        analyse(args.out, args.slow_lib)


if __name__ == "__main__":
    main()
