"""One case, in the process that measures it: load, prepare, warm up, time, and print one record.

``python -m pytest_mobiledl.runner --lib onnxruntime --model m.onnx …`` runs in a fresh process
per repeat (so load and first inference are real cold-start numbers), times every run where it
happens with a monotonic clock, and prints exactly one RunRecord as the last line of stdout.
Anything the library prints goes to stderr, never into the record line. Exit status 0 means a
record was printed; otherwise stderr's last line says why.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from pytest_mobiledl import engines
from pytest_mobiledl.errors import MobiledlError
from pytest_mobiledl.record import RunRecord
from pytest_mobiledl.runner import lockstep
from pytest_mobiledl.tensors import digest, random_inputs

T = TypeVar("T")


def case_parser(prog: str, description: str | None, warmup: int) -> argparse.ArgumentParser:
    """The arguments that name one case to a child process: this runner's, and the op profiler's."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--lib", required=True, help="a library of engines.LIBS")
    parser.add_argument("--model", required=True, help="path of the converted model file")
    parser.add_argument("--model-id", required=True)
    parser.add_argument("--backend", default="cpu")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=warmup)
    parser.add_argument("--seed", type=int, default=0)
    return parser


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = case_parser("python -m pytest_mobiledl.runner", __doc__, warmup=10)
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--min-time", type=float, default=0.0, help="seconds; run until both are reached")
    parser.add_argument("--cpus", default="", help="pin to these cpus (comma list), as taskset does on a phone")
    parser.add_argument("--delay-ms", default="0",
                        help="test only: added to every timed run, in ms or as P%% of the run's own time")
    parser.add_argument("--lockstep", default="", help="a block's socket: prepare and time runs when told")
    parser.add_argument("--slot", type=int, default=0, help="this case's place in its block")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    """Measure the case ``argv`` names and print its record: 0, or 2 with the reason as stderr's last line."""
    args = parse_args(argv)
    # Libraries print from C as well as Python: point fd 1 at stderr while they run, so the
    # record is the only thing ever written to the real stdout.
    sys.stdout.flush()
    record_out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    try:
        record = measure(args)
    except MobiledlError as exc:
        print(f"mobiledl-runner: {exc}", file=sys.stderr)
        return 2
    finally:
        sys.stdout.flush()
    print(record.to_json(), file=record_out, flush=True)
    return 0


def measure(args: argparse.Namespace) -> RunRecord:
    engine = engines.get(args.lib)  # an unknown library: MobiledlError, one line
    path = Path(args.model)
    cpus = _pin(getattr(args, "cpus", ""))
    for module in engine.RUNTIME:  # untimed: a process pays it once, whatever the model
        importlib.import_module(module)
    lib_version = engines.version(engine.DIST)  # here, while a block's processes start side by side
    # In a block, every case's process is up before any prepares: nothing timed runs beside a load.
    link = lockstep.Link(args.lockstep, args.slot) if getattr(args, "lockstep", "") else None
    if link:
        _expect(link, "prepare")
    load_avg = os.getloadavg()[0]

    # load = reading the artifact (I/O); init = the library building its interpreter from it.
    content, load_ms = _timed(lambda: _read(path))
    session, init_ms = _timed(lambda: engine.open_session(str(path), args.threads, args.backend, args.precision))
    try:
        feeds = random_inputs(session.inputs(), args.seed)
    except ValueError as exc:
        raise MobiledlError(str(exc)) from None
    outputs, first_ms = _timed(lambda: session.run(feeds))
    _check_finite(outputs)

    delay = _delay(args.delay_ms)
    for _ in range(args.warmup):
        session.run(feeds)
    samples: list[float] = []

    def timed() -> Any:
        t0 = time.perf_counter_ns()
        outputs = session.run(feeds)
        if delay:
            _add_delay(time.perf_counter_ns() - t0, delay)
        samples.append((time.perf_counter_ns() - t0) / 1e6)
        return outputs

    turns: list[float] = []  # when each turn began (CLOCK_MONOTONIC: one clock for every process here)
    if link:  # the coordinator decides when, and how many: the block's cases take turns
        link.send("ready")
        while (order := link.receive()) != "end":
            turns.append(round(time.monotonic(), 6))
            for _ in range(_turn(order)):
                outputs = timed()
            link.send("done")
    else:
        started = time.perf_counter()
        while len(samples) < args.iterations or time.perf_counter() - started < args.min_time:
            outputs = timed()
    _check_finite(outputs)

    return RunRecord(
        lib=args.lib,
        lib_version=lib_version,
        model=args.model_id,
        artifact_sha256=hashlib.sha256(content).hexdigest(),
        backend=args.backend,
        precision=args.precision,
        threads=args.threads,
        warmup=args.warmup,
        iterations=args.iterations,
        count=len(samples),
        samples_ms=tuple(samples),
        load_ms=load_ms,
        init_ms=init_ms,
        first_inference_ms=first_ms,
        peak_rss_mb=peak_rss_mb(),
        load_avg_1m=load_avg,
        output_sha256=digest(outputs),
        # The injected delay's amount too: a build slowed differently on two sides is no control.
        engine_options={**engine.engine_options(args.backend, args.precision),
                        **({"injected_delay": args.delay_ms} if delay else {})},
        flags=engine.FLAGS + (("injected_delay",) if delay else ()),
        conditions={"cpus": cpus} if cpus else {},
        block={"slot": args.slot, "turns": turns} if link else {},
    )


def _expect(link: lockstep.Link, word: str) -> None:
    got = link.receive()
    if got != word:
        raise MobiledlError(f"lockstep: expected {word!r} from the coordinator, got {got!r}")


def _turn(order: str) -> int:
    word, _, count = order.partition(" ")
    if word != "run" or not count.isdigit():
        raise MobiledlError(f"lockstep: expected 'run N' or 'end' from the coordinator, got {order!r}")
    return int(count)


def _pin(cpus: str) -> list[int]:
    """Pin this process (and the threads the library starts later) to ``cpus``."""
    if not cpus:
        return []
    wanted = {int(c) for c in cpus.split(",")}
    try:
        os.sched_setaffinity(0, wanted)
    except OSError as exc:
        raise MobiledlError(f"cannot pin to cpus {cpus}: {exc.strerror}") from None
    return sorted(os.sched_getaffinity(0))


def _delay(spec: str) -> tuple[float, bool] | None:
    """``"2"`` (ms) or ``"10%"`` (of each run's own time); None for no delay."""
    relative = spec.endswith("%")
    amount = float(spec.removesuffix("%"))
    return ((amount / 100 if relative else amount), relative) if amount else None


def _add_delay(run_ns: int, delay: tuple[float, bool]) -> None:
    amount, relative = delay
    if not relative:
        time.sleep(amount / 1000)
        return
    # A slowdown of P % spins, like inference: a sleep would overshoot by the scheduler's slack.
    end = time.perf_counter_ns() + int(run_ns * amount)
    while time.perf_counter_ns() < end:
        pass


def peak_rss_mb() -> float:
    """This process's own peak resident memory (VmHWM).

    Not ``ru_maxrss``: Linux carries it across exec, and subprocess starts a runner by vfork +
    exec, so a runner reported its parent's peak (pytest's) whenever that was the larger. A forked
    child's VmHWM starts at its own resident size, not at its parent's peak.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux (bytes on macOS)


def _timed(action: Callable[[], T]) -> tuple[T, float]:
    t0 = time.perf_counter_ns()
    result = action()
    return result, (time.perf_counter_ns() - t0) / 1e6


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise MobiledlError(f"cannot read model {path}: {exc.strerror}") from None


def _check_finite(outputs: Any) -> None:
    import numpy as np

    if not all(np.isfinite(np.asarray(o, dtype=np.float64)).all() for o in outputs):
        raise MobiledlError("the model's output holds NaN or Inf: not a valid run")
