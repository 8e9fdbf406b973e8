"""--variant measured: A/A, interleaved against separate sessions, and a real A/B between releases.

    python benchmarks/variants.py aa OUT      [--repeats 5]   # same build twice, ≥ 20 cases
    python benchmarks/variants.py drift OUT   [--rounds 3]    # one A/B both ways, rounds of each
    python benchmarks/variants.py ab OUT      [--old onnxruntime==1.24.4]

- ``aa``: this environment's onnxruntime as two variants (two labels, one interpreter) over 20
  cases (5 small zoo models × 4 thread counts): the share of cases whose verdict is ``slower``
  or ``faster`` (target ≤ 1 %), and the CI half-widths of the changes.
- ``drift``: the same A/B (``--old`` against this environment's build) measured interleaved in
  one session (paired round by round, as the variants table does) and as two separate sessions
  (one build each, run back to back, compared with Welch as ``--benchmark-compare`` does),
  ``--rounds`` times each way, alternating; the CI half-width of the change per case both ways,
  and how much the change itself moves from round to round.
- ``ab``: ``--old`` against this environment's build over a few zoo models: the session's
  variants table.

Every session is the real plugin in a subprocess, saving a pytest-benchmark run under OUT; the
numbers are read back from the saved runs with the plugin's own code (``report.variants``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

from pytest_mobiledl import report, saved, stats
from pytest_mobiledl.record import RunRecord

AA_MODELS = "tiny_cnn,kws_lstm,bert_tiny,mobilenet_v3_small,squeezenet1_1"
AB_MODELS = "mobilenet_v2,squeezenet1_1,resnet18,mobilenet_v3_small"
HERE = sys.executable


def session(out: Path, name: str, models: str, threads: str, repeats: int, iterations: int,
            variants: list[str], env_cache: Path) -> dict[str, list[RunRecord]]:
    """One plugin session; its saved items (item → records)."""
    argv = [sys.executable, "-m", "pytest", str(Path(__file__).parent / "test_latency.py"), "-q",
            "-p", "no:cacheprovider", "--libs=onnxruntime", f"--models={models}", f"--threads={threads}",
            f"--repeats={repeats}", "--warmup=2", f"--iterations={iterations}", f"--mobiledl-env-cache={env_cache}",
            f"--benchmark-storage=file://{out}", f"--benchmark-save={name}"]
    for variant in variants:
        argv += ["--variant", variant]
    done = subprocess.run(argv, capture_output=True, text=True)
    print(f"{name}: exit {done.returncode}", flush=True)
    if done.returncode not in (0, 1):
        sys.exit(done.stdout[-3000:] + done.stderr[-2000:])
    (out / f"{name}.log").write_text(done.stdout)
    [path] = sorted(out.rglob(f"*_{name}.json"))
    return {b["fullname"]: saved.records(b) for b in json.loads(path.read_text())["benchmarks"]}


def aa(out: Path, repeats: int, env_cache: Path) -> None:
    items = session(out, "aa", AA_MODELS, "1,2,3,4", repeats, 10, [f"onnxruntime@a={HERE}", f"onnxruntime@b={HERE}"],
                    env_cache)
    table, found = report.variants(items, [("onnxruntime", "a"), ("onnxruntime", "b")])
    verdicts = table[table["verdict"] != "—"]["verdict"].value_counts().to_dict()
    told = sum(n for v, n in verdicts.items() if v in ("slower", "faster"))
    widths = [_half_width(c) for c in found.values()]
    print(f"A/A over {len(found)} cases, {repeats} repeats each: verdicts {verdicts}; slower/faster on "
          f"{told}/{len(found)} = {told / len(found):.1%} of cases; CI half-width of the change median "
          f"{statistics.median(widths):.1f} % (range {min(widths):.1f}–{max(widths):.1f} %)")


def drift(out: Path, rounds: int, repeats: int, old: str, env_cache: Path) -> None:
    """Interleaved (A B A B … in one session) against separate sessions (all A, then all B)."""
    a, b = f"onnxruntime@old={old}", f"onnxruntime@new={HERE}"
    both: dict[str, list[dict[str, stats.Change]]] = {"interleaved": [], "separate": []}
    for k in range(1, rounds + 1):
        one = session(out, f"i{k}", AB_MODELS, "1", repeats, 20, [a, b], env_cache)
        both["interleaved"].append(report.variants(one, [("onnxruntime", "old"), ("onnxruntime", "new")])[1])
        first = session(out, f"sa{k}", AB_MODELS, "1", repeats, 20, [a], env_cache)
        second = session(out, f"sb{k}", AB_MODELS, "1", repeats, 20, [b], env_cache)
        both["separate"].append(_welch(first, second))
    for way, runs in both.items():
        widths = [_half_width(c) for found in runs for c in found.values()]
        moves = [statistics.pstdev(c.pct for c in changes) for changes in zip(*(f.values() for f in runs),
                                                                                strict=True)]
        print(f"{way}: CI half-width of the change, median over {len(widths)} case-rounds "
              f"{statistics.median(widths):.1f} % (range {min(widths):.1f}–{max(widths):.1f} %); "
              f"the change's spread across {rounds} rounds, median over cases {statistics.median(moves):.1f} pp")
        for case, changes in zip(runs[0], zip(*(f.values() for f in runs), strict=True), strict=True):
            print(f"  {case}: " + "; ".join(f"{c.pct:+.1f} % ±{_half_width(c):.1f}" for c in changes))


def ab(out: Path, repeats: int, old: str, env_cache: Path) -> None:
    session(out, "ab", AB_MODELS, "1", repeats, 30, [f"onnxruntime@old={old}", f"onnxruntime@new={HERE}"],
            env_cache)
    text = (out / "ab.log").read_text()
    start = text.index("mobiledl variants")
    print(text[text.rindex("\n", 0, start) + 1:].split("\n=")[0])


def _welch(first: dict[str, list[RunRecord]], second: dict[str, list[RunRecord]]) -> dict[str, stats.Change]:
    """Two sessions' builds compared as --benchmark-compare does (Welch): their repeats are not pairs."""
    base = {item.replace("@old-", "@-"): records for item, records in first.items()}
    new = {item.replace("@new-", "@-"): records for item, records in second.items()}
    return {item: stats.compare([r.median_ms for r in base[item]], [r.median_ms for r in records])
            for item, records in new.items() if item in base}


def _half_width(change: stats.Change) -> float:
    """Half the change's CI width in percentage points."""
    return ((change.high or change.ratio) - (change.low or change.ratio)) / 2 * 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["aa", "drift", "ab"])
    parser.add_argument("out", type=Path)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--old", default="onnxruntime==1.24.4")
    parser.add_argument("--env-cache", type=Path, default=None, help="default: OUT/envs")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    env_cache = args.env_cache or args.out / "envs"
    if args.action == "aa":
        aa(args.out, args.repeats, env_cache)
    elif args.action == "drift":
        drift(args.out, args.rounds, args.repeats, args.old, env_cache)
    else:
        ab(args.out, args.repeats, args.old, env_cache)


if __name__ == "__main__":
    main()
