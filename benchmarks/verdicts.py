"""Do the plugin's verdicts survive noise? A/A, A/B, winner stability and the defaults, measured.

    python benchmarks/verdicts.py run OUT [--sessions 8] [--repeats 8] [--slow-libs onnxruntime,mnn]
    python benchmarks/verdicts.py analyse OUT
    python benchmarks/verdicts.py cost OUT [--rounds 2]

``run`` interleaves A and B sessions (A1 B1 A2 A3 B3 …, so drift hits both) of the same matrix
through the real plugin, saving each as a pytest-benchmark run under OUT. B sessions inject a
10 % slowdown into each of ``--slow-libs`` (``--mobiledl-delay-ms=LIB=10%,…``). Sessions run with no warm-up
and more repeats and iterations than any default, so ``analyse`` can derive any smaller setting
from the same data by taking a prefix of each process's runs (the first ``w`` are its warm-up,
the next ``k`` its timed runs) and the first ``r`` repeats:

- defaults: the CI half-width of each item's typical latency against (w, k, r), and the device
  time each costs; the cheapest setting whose median half-width is ≤ 5 %;
- A/A: every ordered pair of A sessions, compared item by item as ``--mobiledl-compare-fail=10%``
  decides (report.changes + stats.gate, the plugin's own code), beside pytest-benchmark's
  ``--benchmark-compare-fail=median:10%`` on the same data;
- A/B: each B session against each A session: each slowed library's items caught at 5 % and
  10 %, and any other item flagged;
- winner stability: the fragmentation row's winner (or tie) in each A session.

``cost`` times the same matrix at the old defaults (one exec'd process per item) and at the new
ones (``--repeats`` fresh processes, forked from a per-library server), alternating, and prints
the wall-time ratio.
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from pytest_mobiledl import report, saved, stats
from pytest_mobiledl.record import RunRecord

LIBS = "onnxruntime,tflite,mnn,ncnn"
MODELS = "mobilenet_v2,squeezenet1_1,resnet18"


def run(out: Path, sessions: int, repeats: int, iterations: int, slow_libs: list[str], libs: str, models: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    base = [sys.executable, "-m", "pytest", str(Path(__file__).parent), "-q", "-p", "no:cacheprovider",
            f"--libs={libs}", f"--models={models}", f"--repeats={repeats}", "--warmup=0",
            f"--iterations={iterations}", f"--benchmark-storage=file://{out}"]
    done = out / "timings.json"
    timings = json.loads(done.read_text()) if done.exists() else {}
    # Every A session, and a B session after every other one: A1 B1 A2 A3 B3 A4 …
    for i, kind in itertools.product(range(1, sessions + 1), "ab"):
        if kind == "b" and i % 2 == 0:
            continue
        name = f"{kind}{i:02d}"
        if list(out.rglob(f"*_{name}.json")):
            continue  # saved by an earlier, interrupted call: run resumes
        extra = [f"--mobiledl-delay-ms={','.join(f'{lib}=10%' for lib in slow_libs)}"] if kind == "b" else []
        t0 = time.monotonic()
        ran = subprocess.run([*base, *extra, f"--benchmark-save={name}"], capture_output=True, text=True)
        timings[name] = time.monotonic() - t0
        print(f"{name}: exit {ran.returncode} in {timings[name]:.0f} s", flush=True)
        if ran.returncode != 0:
            print(ran.stdout[-3000:], ran.stderr[-2000:])
        done.write_text(json.dumps(timings, indent=1))


def cost(out: Path, rounds: int, libs: str, models: str) -> None:
    base = [sys.executable, "-m", "pytest", str(Path(__file__).parent), "-q", "-p", "no:cacheprovider",
            f"--libs={libs}", f"--models={models}", f"--benchmark-storage=file://{out}"]
    settings = {"old (1 exec'd process per item)": ["--repeats=1", "--mobiledl-fork=no"],
                "new (defaults: 5 forked repeats)": []}
    walls: dict[str, list[float]] = {name: [] for name in settings}
    subprocess.run([*base, "--repeats=1", "--iterations=1", "--warmup=0"], capture_output=True)  # convert once
    for _ in range(rounds):
        for name, extra in settings.items():
            t0 = time.monotonic()
            subprocess.run([*base, *extra], capture_output=True, check=True)
            walls[name].append(time.monotonic() - t0)
    for name, values in walls.items():
        print(f"{name}: {' '.join(f'{v:.0f}' for v in values)} s")
    old, new = (sorted(v)[len(v) // 2] for v in walls.values())
    print(f"wall time new ÷ old: {new / old:.2f}")


def load(out: Path) -> dict[str, dict[str, list[RunRecord]]]:
    """Session name → item → its records, from the saved runs."""
    runs = {}
    for path in sorted(out.rglob("*.json")):
        if path.name == "timings.json":
            continue
        data = json.loads(path.read_text())
        name = path.stem.split("_")[1]
        runs[name] = {b["fullname"]: saved.records(b) for b in data["benchmarks"]}
    return runs


def shape(records: Sequence[RunRecord], warmup: int, iterations: int, repeats: int) -> list[RunRecord]:
    """The records a session at (warmup, iterations, repeats) would have made: prefixes of these."""
    kept = []
    for r in records[:repeats]:
        samples = (r.samples_ms or ())[warmup:warmup + iterations]
        kept.append(r.with_(samples_ms=tuple(samples), count=len(samples), iterations=len(samples), warmup=warmup))
    return kept


def values(records: Sequence[RunRecord]) -> list[float]:
    return [r.median_ms for r in records]


def defaults(runs: dict[str, dict[str, list[RunRecord]]], overhead_s: float) -> list[dict[str, float]]:
    a = [items for name, items in runs.items() if name.startswith("a")]
    rows = []
    for w, k, r in itertools.product((0, 5, 10), (10, 20, 30, 50), (2, 3, 4, 5, 6, 8)):
        widths, cost = [], 0.0
        for items in a:
            for records in items.values():
                shaped = shape(records, w, k, r)
                if len(shaped) < r or min(x.count for x in shaped) < k:
                    continue
                widths.append(stats.estimate(values(shaped)).half_width_pct or 0.0)
                per_run = stats.estimate(values(shaped)).value / 1000
                cost += r * (overhead_s + (w + k) * per_run)
        if widths:
            rows.append({"warmup": w, "iterations": k, "repeats": r,
                         "median half-width %": float(sorted(widths)[len(widths) // 2]),
                         "p90 half-width %": float(sorted(widths)[int(len(widths) * 0.9)]),
                         "device s per session": cost / len(a)})
    return rows


def compared(now: dict[str, list[RunRecord]], base: dict[str, list[RunRecord]]) -> dict[str, stats.Change]:
    """The changes the plugin's gate decides on, with its drift correction, as Results computes them."""
    moved = report.drift(now, base)
    return report.changes(now, base, moved[0] if moved else 1.0)[1]


def pytest_benchmark_fails(base: Sequence[RunRecord], now: Sequence[RunRecord], pct: float) -> bool:
    """--benchmark-compare-fail=median:P% on the pooled samples, as pytest-benchmark decides it."""
    def pooled(records: Sequence[RunRecord]) -> float:
        samples = sorted(s for r in records for s in r.samples_ms or ())
        mid = len(samples) // 2
        return samples[mid] if len(samples) % 2 else (samples[mid - 1] + samples[mid]) / 2

    return pooled(now) - pooled(base) > pooled(base) * pct / 100


def analyse(out: Path, warmup: int, iterations: int, repeats: int, slow_libs: list[str]) -> None:
    from tabulate import tabulate

    runs = load(out)
    shaped = {name: {item: shape(rs, warmup, iterations, repeats) for item, rs in items.items()}
              for name, items in runs.items()}
    a = sorted(n for n in shaped if n.startswith("a"))
    b = sorted(n for n in shaped if n.startswith("b"))
    timings = json.loads((out / "timings.json").read_text()) if (out / "timings.json").exists() else {}
    print(f"sessions: {len(a)} A, {len(b)} B; items per session: {len(shaped[a[0]])}; "
          f"setting warmup={warmup} iterations={iterations} repeats={repeats}")

    # Per-process overhead from the sessions' wall time: what is not timed runs.
    runs_s = sum(sum(r.samples_ms or ()) for items in runs.values() for rs in items.values() for r in rs) / 1000
    processes = sum(len(rs) for items in runs.values() for rs in items.values())
    overhead = (sum(timings.values()) - runs_s) / processes if timings else 0.5
    print(f"per-process overhead (session wall time − timed runs) ÷ processes: {overhead:.2f} s")
    table = defaults(runs, overhead)
    print(tabulate(table, headers="keys", floatfmt=".2f", tablefmt="github"))

    aa_gate = aa_pb = aa_pb1 = aa_items = 0
    sessions_gate = sessions_pb = sessions_pb1 = 0
    for x, y in itertools.permutations(a, 2):
        found = compared(shaped[y], shaped[x])
        flagged = stats.gate(found, 10)
        pb = [i for i in found if pytest_benchmark_fails(shaped[x][i], shaped[y][i], 10)]
        # Today's setting: one process per item, warm-up 10, 50 runs.
        pb1 = [i for i in found if pytest_benchmark_fails(shape(runs[x][i], 10, 50, 1), shape(runs[y][i], 10, 50, 1),
                                                          10)]
        aa_items += len(found)
        aa_gate, aa_pb, aa_pb1 = aa_gate + len(flagged), aa_pb + len(pb), aa_pb1 + len(pb1)
        sessions_gate, sessions_pb, sessions_pb1 = sessions_gate + bool(flagged), sessions_pb + bool(pb), \
            sessions_pb1 + bool(pb1)
    pairs = len(a) * (len(a) - 1)
    print(f"A/A over {pairs} ordered pairs, {aa_items} item comparisons: --mobiledl-compare-fail=10% flags "
          f"{aa_gate / aa_items:.2%} of items ({sessions_gate}/{pairs} sessions); on the same data pytest-benchmark's "
          f"median:10% flags {aa_pb / aa_items:.2%} ({sessions_pb}/{pairs} sessions), and with one process per item "
          f"(the old default) {aa_pb1 / aa_items:.2%} ({sessions_pb1}/{pairs} sessions)")

    for threshold in (5, 10):
        caught, slowed = dict.fromkeys(slow_libs, 0), dict.fromkeys(slow_libs, 0)
        others = 0
        pairs_ab = list(itertools.product(a, b))
        for x, y in pairs_ab:
            found = compared(shaped[y], shaped[x])
            flagged = set(stats.gate(found, threshold))
            for lib in slow_libs:
                mine = {i for i in found if f"-{lib}-" in i}
                slowed[lib] += len(mine)
                caught[lib] += len(flagged & mine)
                flagged -= mine
            others += len(flagged)
        found_by_lib = ", ".join(f"{lib} {caught[lib]}/{n} ({caught[lib] / max(n, 1):.1%})"
                                 for lib, n in slowed.items())
        print(f"A/B at --mobiledl-compare-fail={threshold}%: +10 % caught in item comparisons: {found_by_lib}, over "
              f"{len(pairs_ab)} session pairs; other items flagged: {others}")

    winners: dict[str, list[str]] = {}
    for name in a:
        records = [r for rs in shaped[name].values() for r in rs]
        for row in report.fragmentation(report.frame(records)).to_dict("records"):
            winners.setdefault(row["model"], []).append(row["fastest"])
    print("winner per session (A):")
    for model, names in winners.items():
        sole = {n for n in names if not n.startswith("tie")}
        print(f"  {model}: {' | '.join(names)}  → {'STABLE' if len(sole) <= 1 else 'UNSTABLE'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["run", "analyse", "cost"])
    parser.add_argument("out", type=Path)
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=8)
    parser.add_argument("--iterations", type=int, default=60)
    parser.add_argument("--slow-libs", default="onnxruntime,mnn", help="comma separated")
    parser.add_argument("--libs", default=LIBS)
    parser.add_argument("--models", default=MODELS)
    parser.add_argument("--at", default="10,50,5", help="analyse at warmup,iterations,repeats")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if args.action == "run":
        run(args.out, args.sessions, args.repeats, args.iterations, args.slow_libs.split(","), args.libs, args.models)
    elif args.action == "cost":
        cost(args.out, args.rounds, args.libs, args.models)
    else:
        w, k, r = (int(v) for v in args.at.split(","))
        analyse(args.out, w, k, r, args.slow_libs.split(","))


if __name__ == "__main__":
    main()
