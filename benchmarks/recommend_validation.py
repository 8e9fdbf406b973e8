"""Leave-one-model-out validation of ``mobiledl recommend`` on the zoo, beside the benchmark's baseline.

For each measured model in turn: fit every library's op-class cost rates on the other models,
predict this one's latency per library, and compare with what was measured. Reported:

- top-1 accuracy: the predicted fastest library is the measured fastest, or tied with it
  (Welch on the per-repeat medians, Holm over the libraries: what the data cannot tell apart);
- Spearman's rank correlation of predicted vs measured latencies across libraries, per model
  (median over the models);
- the median error of the predicted ms, |predicted ÷ measured − 1| over every model × library;
- the baseline a benchmark alone gives: "use the library that won most of the other models".

    python benchmarks/recommend_validation.py                  # measure (zoo, host), then validate
    python benchmarks/recommend_validation.py --quick          # 3 tiny models, 3 libraries, quick settings
    python benchmarks/recommend_validation.py --runs FILE...   # validate saved runs (--benchmark-json files)

Measuring runs ``pytest benchmarks/test_latency.py benchmarks/test_ops.py --mobiledl-ops`` with
``--benchmark-json`` into ``--out``; its settings are printed with the figures.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from pytest_mobiledl import recommend, stats
from pytest_mobiledl.ops.profile import OpProfile
from pytest_mobiledl.report.inputs import read
from pytest_mobiledl.saved import profiles as read_profiles

HERE = Path(__file__).resolve().parent
QUICK = {"models": "tiny_cnn,bert_tiny,squeezenet1_1", "libs": "onnxruntime,mnn", "repeats": 2,
         "iterations": 10, "warmup": 3}
FULL = {"models": "all", "libs": "onnxruntime,tflite,ncnn,mnn,pytorch,executorch", "repeats": 3,
        "iterations": 20, "warmup": 5}


def measure(settings: dict[str, object], out: Path, cache: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    result = out / "run.json"
    argv = [sys.executable, "-m", "pytest", str(HERE / "test_latency.py"), str(HERE / "test_ops.py"),
            "-p", "no:cacheprovider", "-q", "--mobiledl-ops", f"--models={settings['models']}",
            f"--libs={settings['libs']}", f"--repeats={settings['repeats']}",
            f"--iterations={settings['iterations']}", f"--warmup={settings['warmup']}", f"--benchmark-json={result}"]
    if cache:
        argv.append(f"--model-cache={cache}")
    done = subprocess.run(argv, cwd=out, capture_output=True, text=True, check=False)
    if not result.exists():
        sys.exit(f"the measuring session saved nothing (exit {done.returncode}):\n"
                 f"{done.stdout[-3000:]}{done.stderr[-2000:]}")
    return result


def load(paths: list[Path]) -> tuple[list[object], list[OpProfile]]:
    """Records and profiles: saved runs and journals (records, profiles), or profile-only files
    (``.benchmarks/mobiledl-ops/*.json``, what a session of profiling items alone writes)."""
    records: list[object] = []
    profiles: list[OpProfile] = []
    for path in paths:
        if path.suffix == ".json" and "benchmarks" not in json.loads(path.read_text()):
            profiles += read_profiles(json.loads(path.read_text()))
            continue
        run = read(path)
        records += run.records
        profiles += run.profiles
    return records, profiles


def validate(paths: list[Path], cache: Path, min_models: int, route: str = "auto") -> dict[str, object]:
    records, profiles = load(paths)
    obs = recommend.observations(records, profiles, "host", "fp32", 1)
    models = sorted({o.model for o in obs})
    comps = {m: recommend.composition(m, cache) for m in models}
    hits, base_hits, rhos, errors, per_model = 0, 0, [], [], []
    for held in models:
        train = [o for o in obs if o.model != held]
        test = {o.lib: o for o in obs if o.model == held}
        fitted = recommend.fit(train, comps, route=route, min_models=min_models)
        ranked = [p for p in recommend.rank(fitted, comps[held]) if p.lib in test]
        if len(ranked) < 2:
            continue
        tied = _tied({lib: o.repeats for lib, o in test.items() if len(o.repeats) >= 2}
                     or {lib: (o.latency_ms,) * 2 for lib, o in test.items()})
        baseline = _most_wins(train)
        hit, base_hit = ranked[0].lib in tied, baseline in tied
        hits, base_hits = hits + hit, base_hits + base_hit
        rho = _spearman([p.ms for p in ranked], [test[p.lib].latency_ms for p in ranked])
        if not math.isnan(rho):
            rhos.append(rho)
        errors += [abs(p.ms / test[p.lib].latency_ms - 1) for p in ranked]
        per_model.append({"model": held, "predicted best": ranked[0].lib,
                          "measured best (ties)": ", ".join(sorted(tied)),
                          "baseline": baseline, "spearman": None if math.isnan(rho) else round(rho, 2),
                          "routes": ", ".join(sorted({p.route for p in ranked}))})
    n = len(per_model)
    return {"models": n, "libraries": sorted({o.lib for o in obs}), "route": route,
            "top1": hits / n if n else None, "baseline_top1": base_hits / n if n else None,
            "spearman_median": statistics.median(rhos) if rhos else None,
            "median_error": statistics.median(errors) if errors else None, "per_model": per_model}


def coverage(paths: list[Path]) -> list[str]:
    """Per library: how many models have a profile, their coverage (median, range), unmapped names."""
    profiles = load(paths)[1]
    out = []
    for lib in sorted({p.lib for p in profiles}):
        mine = [p for p in profiles if p.lib == lib]
        got = [p.coverage for p in mine if p.coverage is not None]
        unmapped = sorted({n for p in mine for n in p.unmapped()})
        notes = sorted({p.note for p in mine if p.note})
        out.append(f"{lib}: {len(got)}/{len(mine)} models profiled" + (
            f", coverage median {statistics.median(got):.2f} (range {min(got):.2f}–{max(got):.2f}), "
            f"{sum(0.8 <= c for c in got)} at ≥ 0.80" if got else "")
            + (f", unmapped: {', '.join(unmapped)}" if unmapped else "")
            + (f"; note: {notes[0][:120]}" if notes else ""))
    return out


def _tied(values: dict[str, Sequence[float]]) -> set[str]:
    """The fastest library and every one the data cannot tell from it (Welch, Holm in the row), as
    the fragmentation table does for runs without blocks."""
    ranked = sorted(values, key=lambda lib: stats.estimate(values[lib]).value)
    best, rest = ranked[0], ranked[1:]
    changes = [stats.compare(values[best], values[lib]) for lib in rest]
    told = [i for i, change in enumerate(changes) if change.told]
    q = dict(zip(told, stats.adjust([changes[i].pvalue or 0.0 for i in told], "holm"), strict=True))
    return {best, *(lib for i, lib in enumerate(rest) if i not in q or q[i] >= stats.ALPHA)}


def _most_wins(train: list[recommend.Observation]) -> str:
    by_model: dict[str, dict[str, float]] = {}
    for o in train:
        by_model.setdefault(o.model, {})[o.lib] = o.latency_ms
    wins: dict[str, int] = {}
    for times in by_model.values():
        best = min(times, key=times.__getitem__)
        wins[best] = wins.get(best, 0) + 1
    return max(sorted(wins), key=wins.__getitem__)


def _spearman(a: list[float], b: list[float]) -> float:
    from scipy.stats import spearmanr

    if len(a) < 3:
        return math.nan
    return float(spearmanr(a, b).statistic)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 tiny models, 2 libraries, 2 repeats × 10 runs")
    parser.add_argument("--runs", nargs="*", type=Path, default=[], help="validate these saved runs instead")
    parser.add_argument("--models", help="override the models measured")
    parser.add_argument("--libs", help="override the libraries measured")
    parser.add_argument("--out", type=Path, default=Path("recommend-validation"))
    parser.add_argument("--model-cache", default=os.environ.get("MOBILEDL_TEST_CACHE", ""))
    args = parser.parse_args(argv)
    settings = dict(QUICK if args.quick else FULL)
    settings |= {k: v for k, v in (("models", args.models), ("libs", args.libs)) if v}
    paths = args.runs or [measure(settings, args.out, args.model_cache)]
    from pytest_mobiledl.options import default_cache

    cache = Path(args.model_cache or default_cache())
    min_models = 2 if args.quick else recommend.MIN_MODELS
    results = [validate(paths, cache, min_models, route) for route in ("auto", "totals")]
    print(f"settings: {settings if not args.runs else 'saved runs ' + ', '.join(map(str, paths))}")
    for r in results:
        fmt = lambda v: "—" if v is None else f"{v:.2f}"  # noqa: E731
        print(f"route {r['route']}: {r['models']} models, libraries {', '.join(r['libraries'])}: "  # type: ignore[arg-type]
              f"top-1 {fmt(r['top1'])} (baseline 'most wins' {fmt(r['baseline_top1'])}), "
              f"Spearman median {fmt(r['spearman_median'])}, median error {fmt(r['median_error'])}")
    for line in coverage(paths):
        print(f"profiles {line}")
    (args.out / "validation.json").parent.mkdir(parents=True, exist_ok=True)
    (args.out / "validation.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
