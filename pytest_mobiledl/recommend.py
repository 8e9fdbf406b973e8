"""``mobiledl recommend``: each library's latency on a device predicted from a model's op composition.

Per library and device, a cost rate per op class is fitted on what was measured there (saved
runs, with their op profiles when they have them): ms per multiply-accumulate for conv,
depthwise conv and dense, ms per written element for the other classes. A new model's
composition (``ops/composition.py``, from its ONNX graph) times those rates is its predicted
latency. Two ways to fit, chosen per library by the data:

- ``profiles``: the profiles give each model's time per op class (their shares × the measured
  latency); a class's rate is its time summed over the models ÷ its work summed (a ratio
  estimator: large models weigh most, as their timings are the steadiest);
- ``totals`` (a library without profiles, such as LiteRT on the host): non-negative least squares
  of the measured latencies on four work features (conv MACs, depthwise MACs, dense MACs, other
  elements) and a fixed cost per inference.

Intervals come from the library's own leave-one-model-out errors on the measured models (10th–
90th percentile of predicted ÷ measured). The top choice is *clear* when its interval's top is
below every other library's interval bottom; otherwise measuring is advised, with the command.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pytest_mobiledl import options
from pytest_mobiledl.errors import ConversionError, MobiledlError
from pytest_mobiledl.keys import VARIANT
from pytest_mobiledl.ops.composition import Composition
from pytest_mobiledl.ops.taxonomy import CLASSES, MAC_CLASSES

#: The features of the totals fit: conv, depthwise and dense MACs, every other class's elements.
FEATURES = ("conv", "depthwise_conv", "dense", "elements")
#: Fewest measured models a library needs for a prediction.
MIN_MODELS = 3


@dataclass(frozen=True)
class Observation:
    """One measured case: a library's latency on a model, and its time per op class if profiled."""

    lib: str
    model: str
    latency_ms: float
    #: Per-repeat values (for ties); the latency alone when there is one.
    repeats: tuple[float, ...] = ()
    #: op class -> share of the profile's time (sums to 1), or None without a profile.
    shares: Mapping[str, float] | None = None


@dataclass(frozen=True)
class LibModel:
    lib: str
    route: str  # "profiles" or "totals"
    rates: Mapping[str, float]
    overhead_ms: float
    models: tuple[str, ...]
    #: log(predicted ÷ measured) of each measured model, left out of the fit in turn.
    loo_log_errors: tuple[float, ...] = field(default=())

    def predict(self, comp: Composition) -> float:
        if self.route == "profiles":
            return sum(self.rates.get(c, 0.0) * comp.work[c] for c in CLASSES) + self.overhead_ms
        return sum(self.rates[f] * _feature(comp, f) for f in FEATURES) + self.overhead_ms

    def interval(self, ms: float) -> tuple[float, float]:
        errors = self.loo_log_errors
        if len(errors) < 2:
            return (math.nan, math.nan)
        lo, hi = _quantile(errors, 0.1), _quantile(errors, 0.9)
        return ms / math.exp(hi), ms / math.exp(lo)  # a prediction over by e^hi means the truth is lower


@dataclass(frozen=True)
class Prediction:
    lib: str
    ms: float
    low: float
    high: float
    route: str
    models: int


def fit(observations: Iterable[Observation], comps: Mapping[str, Composition], route: str = "auto",
        loo: bool = True, min_models: int = MIN_MODELS) -> dict[str, LibModel]:
    """One model per library with at least ``min_models`` measured models that have a composition."""
    by_lib: dict[str, list[Observation]] = {}
    for o in observations:
        if o.model in comps:
            by_lib.setdefault(o.lib, []).append(o)
    out = {}
    for lib, obs in sorted(by_lib.items()):
        if len({o.model for o in obs}) < min_models:
            continue
        model = _fit_lib(lib, obs, comps, route)
        if loo:
            errors = []
            for o in obs:
                rest = [p for p in obs if p.model != o.model]
                if len({p.model for p in rest}) >= max(min_models - 1, 1):
                    errors.append(math.log(max(_fit_lib(lib, rest, comps, route).predict(comps[o.model]), 1e-6)
                                           / o.latency_ms))
            model = LibModel(model.lib, model.route, model.rates, model.overhead_ms, model.models, tuple(errors))
        out[lib] = model
    return out


def _fit_lib(lib: str, obs: Sequence[Observation], comps: Mapping[str, Composition], route: str) -> LibModel:
    profiled = [o for o in obs if o.shares]
    if route == "profiles" or (route == "auto" and profiled and len(profiled) == len(obs)):
        return _fit_profiles(lib, profiled, comps)
    return _fit_totals(lib, obs, comps)


def _fit_profiles(lib: str, obs: Sequence[Observation], comps: Mapping[str, Composition]) -> LibModel:
    time = dict.fromkeys(CLASSES, 0.0)
    work = dict.fromkeys(CLASSES, 0.0)
    for o in obs:
        assert o.shares is not None
        for c in CLASSES:
            time[c] += o.shares.get(c, 0.0) * o.latency_ms
            work[c] += comps[o.model].work[c]
    rates = {c: time[c] / work[c] for c in CLASSES if work[c] > 0}
    # A class the library ran that the ONNX graph counts nowhere (its own layout conversions, say)
    # is a fixed cost per inference: its mean time.
    overhead = sum(time[c] for c in CLASSES if work[c] == 0) / len(obs)
    pooled_mac = sum(time[c] for c in MAC_CLASSES) / max(sum(work[c] for c in MAC_CLASSES), 1.0)
    other = [c for c in CLASSES if c not in MAC_CLASSES]
    pooled_elem = sum(time[c] for c in other if work[c]) / max(sum(work[c] for c in other), 1.0)
    for c in CLASSES:  # a class no measured model had: the library's pooled rate for its kind
        rates.setdefault(c, pooled_mac if c in MAC_CLASSES else pooled_elem)
    return LibModel(lib, "profiles", rates, overhead, tuple(sorted({o.model for o in obs})))


def _fit_totals(lib: str, obs: Sequence[Observation], comps: Mapping[str, Composition]) -> LibModel:
    import numpy as np
    from scipy.optimize import nnls

    x = np.array([[_feature(comps[o.model], f) for f in FEATURES] + [1.0] for o in obs])
    y = np.array([o.latency_ms for o in obs])
    scale = x.max(axis=0)
    scale[scale == 0] = 1.0
    # Relative errors matter (a 1 ms model and a 100 ms one alike): weight each row by 1/latency.
    w = 1 / y
    coef, _ = nnls(x / scale * w[:, None], y * w)
    coef = coef / scale
    return LibModel(lib, "totals", dict(zip(FEATURES, (float(c) for c in coef[:-1]), strict=True)),
                    float(coef[-1]), tuple(sorted({o.model for o in obs})))


def rank(models: Mapping[str, LibModel], comp: Composition) -> list[Prediction]:
    out = []
    for lib, model in models.items():
        ms = model.predict(comp)
        low, high = model.interval(ms)
        out.append(Prediction(lib, ms, low, high, model.route, len(model.models)))
    return sorted(out, key=lambda p: p.ms)


def clear(ranked: Sequence[Prediction]) -> bool:
    """The top choice's interval lies wholly below every other library's."""
    if len(ranked) < 2:
        return len(ranked) == 1
    top = ranked[0]
    return all(not math.isnan(top.high) and top.high < p.low for p in ranked[1:])


def _feature(comp: Composition, feature: str) -> float:
    if feature == "elements":
        return sum(comp.work[c] for c in CLASSES if c not in MAC_CLASSES)
    return comp.work[feature]


def _quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def observations(records: Iterable[object], profiles: Iterable[object], device: str, precision: str,
                 threads: int) -> list[Observation]:
    """Measured cases of one device, precision and thread count: records pooled per case (median of
    each repeat's median), with the shares of a profile of the same case when there is one."""
    repeats: dict[tuple[str, str], list[float]] = {}
    for r in records:
        if (str(r.device.get("serial", "host")), r.precision, r.threads) != (device, precision, threads):  # type: ignore[attr-defined]
            continue
        if r.engine_options.get(VARIANT):  # type: ignore[attr-defined]
            continue  # a --variant build is not the library as a user installs it
        samples = r.samples_ms or ()  # type: ignore[attr-defined]
        value = statistics.median(samples) if samples else r.summary_ms["mean"]  # type: ignore[attr-defined]
        repeats.setdefault((r.lib, r.model), []).append(value)  # type: ignore[attr-defined]
    shares: dict[tuple[str, str], dict[str, float]] = {}
    for p in profiles:
        if p.case_key()[0] == device and (p.precision, p.threads) == (precision, threads) and p.ops:  # type: ignore[attr-defined]
            by_class, total = p.by_class(), p.total_ms  # type: ignore[attr-defined]
            shares[(p.lib, p.model)] = {c: v / total for c, v in by_class.items()}  # type: ignore[attr-defined]
    return [Observation(lib, model, statistics.median(values), tuple(values), shares.get((lib, model)))
            for (lib, model), values in sorted(repeats.items())]


# --- the command: ``mobiledl recommend --models=FILE [--device …] PATH...`` -------------------------

def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("recommend", help="predict each library's latency for a model not yet measured",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="saved runs (with their op profiles when --mobiledl-ops made them), or folders")
    options.add_to(parser, "models", None, required=True)
    options.add_to(parser, "input_shape", None)
    options.add_to(parser, "model_cache", "")
    parser.add_argument("--device", default="host", help="the device the runs measured (default: host)")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--threads", type=int, default=1)


def run(args: argparse.Namespace) -> int:
    from pytest_mobiledl.report.inputs import InputError, load

    try:
        targets = _targets(args)  # the command line's mistakes before any saved run is read
        runs = load(args.paths, warn=lambda line: print(f"mobiledl recommend: {line}", file=sys.stderr))
    except (InputError, ValueError, MobiledlError) as exc:
        print(f"mobiledl recommend: {exc}", file=sys.stderr)
        return 2
    records = [r for run in runs for r in run.records]
    obs = observations(records, [p for run in runs for p in run.profiles], args.device, args.precision, args.threads)
    measured = sorted({o.model for o in obs})
    cache = Path(args.model_cache or options.default_cache()).expanduser()
    try:
        comps = {m: composition(m, cache) for m in measured}
        new = {name: composition(name, cache, source) for name, source in targets.items()}
    except (ConversionError, MobiledlError) as exc:
        print(f"mobiledl recommend: {exc}", file=sys.stderr)
        return 2
    models = fit(obs, comps)
    if not models:
        print(f"mobiledl recommend: no library has {MIN_MODELS} measured models on {args.device} at "
              f"{args.precision}, {args.threads} thread(s) in these runs (they hold: {', '.join(measured) or 'none'})",
              file=sys.stderr)
        return 2
    left = sorted({o.lib for o in obs} - set(models))
    for name, comp in new.items():
        print(report(name, rank(models, comp), args, targets[name]))
    if left:
        counts = {lib: len({o.model for o in obs if o.lib == lib}) for lib in left}
        print("not predicted (fewer than {} measured models): {}".format(
            MIN_MODELS, ", ".join(f"{lib} ({n})" for lib, n in counts.items())))
    return 0


def report(name: str, ranked: Sequence[Prediction], args: argparse.Namespace, source: object) -> str:
    from tabulate import tabulate

    rows = [{"library": p.lib, "predicted ms": f"{p.ms:.3g}",
             "interval (10–90 %)": "—" if math.isnan(p.low) else f"{p.low:.3g} – {p.high:.3g}",
             "fitted on": f"{p.route}, {p.models} models"} for p in ranked]
    head = f"{name} on {args.device} ({args.precision}, {args.threads} thread(s)): predicted from its op composition"
    table = tabulate(rows, headers="keys", tablefmt="github")
    if clear(ranked):
        verdict = f"clear: {ranked[0].lib} (its interval lies below every other library's)"
    else:
        close = [p.lib for p in ranked if math.isnan(ranked[0].high) or p.low <= ranked[0].high]
        path = getattr(source, "path", name)
        verdict = (f"close: {', '.join(close)} overlap; measure them:\n  pytest benchmarks/test_latency.py "
                   f"--models={path} --libs={','.join(close)} --precisions={args.precision} "
                   f"--threads={args.threads} --repeats=5"
                   + ("" if args.device == "host" else f" --devices={args.device}"))
    return f"{head}\n{table}\n{verdict}\n"


def composition(model: str, cache: Path, source: object = None) -> Composition:
    """The model's composition, from its ONNX Runtime fp32 artifact (converted once, cached)."""
    from pytest_mobiledl import zoo
    from pytest_mobiledl.ops.composition import of_onnx

    artifact = zoo.artifact(model, "onnxruntime", "fp32", cache, source=source)  # type: ignore[arg-type]
    return of_onnx(artifact.path)


def _targets(args: argparse.Namespace) -> dict[str, object]:
    """The models to predict, checked as the plugin's ``--models`` and ``--input-shape`` are."""
    from pytest_mobiledl import usermodels

    pins = options.parse_one("input_shape", args.input_shape)
    out: dict[str, object] = {}
    for entry in options.parse_one("models", args.models):
        if not usermodels.is_file_ref(entry):
            out[entry] = None
            continue
        path = Path(entry).expanduser().resolve()
        model = usermodels.UserModel(usermodels.model_id(path), path, pins)
        usermodels.inspect(model)  # a malformed file or an unpinned input: one line, before converting
        out[model.id] = model
    return out
