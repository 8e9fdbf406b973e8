"""The host runner: ``python -m pytest_mobiledl.runner --lib onnxruntime --model m.onnx …``.

Runs in a fresh process per item (so load and first inference are real cold-start numbers),
times every run where it happens with a monotonic clock, and prints exactly one RunRecord as
the last line of stdout. Anything the library prints goes to stderr, never into the record line.
Exit status 0 means a record was printed; otherwise stderr's last line says why.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import NoReturn

from pytest_mobiledl.errors import MobiledlError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m pytest_mobiledl.runner", description=__doc__)
    parser.add_argument("--lib", required=True)
    parser.add_argument("--model", required=True, help="path of the converted model file")
    parser.add_argument("--model-id", required=True)
    parser.add_argument("--backend", default="cpu")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--min-time", type=float, default=0.0, help="seconds; run until both are reached")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cpus", default="", help="pin to these cpus (comma list), as taskset does on a phone")
    parser.add_argument("--delay-ms", default="0",
                        help="test only: added to every timed run, in ms or as P%% of the run's own time")
    parser.add_argument("--lockstep", default="", help="a block's socket: prepare and time runs when told")
    parser.add_argument("--slot", type=int, default=0, help="this case's place in its block")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--serve"]:  # --serve LIB --parent PID [--without-library]: the fork server (runner/serve.py)
        from pytest_mobiledl.runner.serve import serve

        return serve(argv[1], int(argv[3]), library="--without-library" not in argv)
    if argv[:1] == ["--block"]:  # --block SPEC: a whole lockstep block, run where the runners run
        from pytest_mobiledl.runner.lockstep import block_main

        return block_main(argv[1])
    args = parse_args(argv)
    # Import after parsing so `--help` is instant; the measuring code imports the library.
    from pytest_mobiledl.runner.measure import measure

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


def run() -> NoReturn:
    """``main`` as a process: its status, without the interpreter's teardown.

    Not ``sys.exit``: tearing the interpreter down (the library's session and thread pools, every
    module) takes a tenth of a second that a block waits for, and nothing after the record needs it.
    """
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
