"""The profiling process: ``python -m pytest_mobiledl.ops --lib L --model PATH …`` prints one OpProfile.

Its own process, never a latency run's: a profiler's overhead must never reach the latency
figures. It first times the session as a latency run does (the library's ``open_session``,
unprofiled: ``latency_ms``, the coverage reference), then lets the library's own profiler
(``engine.profile_ops``) time each op over ``--runs`` more inferences.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any

from pytest_mobiledl import engines
from pytest_mobiledl.ops.profile import APPROXIMATION, OpProfile, op
from pytest_mobiledl.runner.measure import case_parser
from pytest_mobiledl.tensors import random_inputs

#: A profiled run whose ops took longer than this × the median run's was preempted: it is left out.
PREEMPTED = 1.5
#: The range of coverage within which an approximation's per-layer sum is said to track the latency
#: (wide: a shared 2-core machine moves medians by ±20 % between phases of one process).
TRACKS = (0.67, 1.5)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = case_parser("python -m pytest_mobiledl.ops", __doc__, warmup=5)
    parser.add_argument("--runs", type=int, default=20, help="profiled inferences (and unprofiled ones, timed first)")
    return parser.parse_args(argv)


def profile(args: argparse.Namespace) -> OpProfile:
    engine = engines.get(args.lib)
    base = dict(lib=args.lib, lib_version=engines.version(engine.DIST), model=args.model_id, backend=args.backend,
                precision=args.precision, threads=args.threads)
    reason = getattr(engine, "NO_PROFILE", "") or ("" if hasattr(engine, "profile_ops") else
                                                   f"{args.lib} has no profiling hook in pytest-mobiledl")
    if reason:
        return OpProfile(**base, profiler="none", runs=0, latency_ms=None, note=reason)
    # Unprofiled runs before and after the profiled ones: drift of a shared machine hits both alike.
    samples = _unprofiled(engine, args, args.runs // 2 + 1)
    traced = engine.profile_ops(args.model, args.threads, args.backend, args.precision,  # type: ignore[attr-defined]
                                _feeds(engine, args), args.warmup, args.runs)
    samples += _unprofiled(engine, args, args.runs // 2 + 1)
    ops = tuple(op(name, kind, ms, dw) for name, kind, ms, dw in typical(traced))
    result = OpProfile(**base, profiler=engine.PROFILER, runs=args.runs,  # type: ignore[attr-defined]
                       latency_ms=statistics.median(samples), ops=ops,
                       flags=tuple(getattr(engine, "PROFILE_FLAGS", ())),
                       note="" if ops else "the profiler recorded no op")
    return _checked(result)


def typical(traced: Sequence[tuple[str, str, Sequence[float], bool]]) -> list[tuple[str, str, float, bool]]:
    """Each op's mean over the typical runs: those whose ops' total is at most PREEMPTED × the median.

    On shared cores a run is sometimes preempted: counting it would inflate every op it held;
    a per-op median instead would break the sum (medians of skewed times add up to less than
    a typical run). Dropping whole runs keeps each kept run's ops together.
    """
    runs = max((len(times) for _, _, times, _ in traced), default=0)
    totals = [sum(times[r] for _, _, times, _ in traced if r < len(times)) for r in range(runs)]
    if not totals:
        return []
    limit = PREEMPTED * statistics.median(totals)
    kept = [r for r, total in enumerate(totals) if total <= limit] or list(range(runs))
    return [(name, kind, sum(times[r] for r in kept if r < len(times)) / len(kept), dw)
            for name, kind, times, dw in traced]


def _checked(result: OpProfile) -> OpProfile:
    """An approximation is used only where its sum tracks the whole-net latency."""
    coverage = result.coverage
    if APPROXIMATION not in result.flags or coverage is None or TRACKS[0] <= coverage <= TRACKS[1]:
        return result
    return result.with_(ops=(), note=f"approximation not used: its per-layer sum was {coverage:.2f}× the "
                                     f"whole-net latency (usable within {TRACKS[0]}–{TRACKS[1]}×)")


def _feeds(engine: Any, args: argparse.Namespace) -> dict[str, Any]:
    session = engine.open_session(args.model, args.threads, args.backend, args.precision)
    return random_inputs(session.inputs(), args.seed)


def _unprofiled(engine: Any, args: argparse.Namespace, runs: int) -> list[float]:
    """Times as a latency run takes them: the library's own session, no profiler."""
    session = engine.open_session(args.model, args.threads, args.backend, args.precision)
    feeds = random_inputs(session.inputs(), args.seed)
    for _ in range(args.warmup):
        session.run(feeds)
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter_ns()
        session.run(feeds)
        samples.append((time.perf_counter_ns() - t0) / 1e6)
    return samples


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    try:
        result = profile(args)
    except Exception as exc:  # noqa: BLE001  # the library's own words, one line: the caller names the case
        print(f"profiling failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
              file=sys.stderr)
        return 1
    # The last line: some libraries print to stdout from C (MNN's "The device supports: …").
    print("\n" + json.dumps(result.to_dict()), flush=True)
    return 0
