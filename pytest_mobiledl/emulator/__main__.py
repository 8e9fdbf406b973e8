"""`python -m pytest_mobiledl.emulator --devices 2`: a private adb server with loopback devices.

Prints `ADB_SERVER=127.0.0.1:PORT`, then one serial per line, and serves until SIGINT or SIGTERM,
when it kills the server and every command and removes the sandboxes.

    python -m pytest_mobiledl.emulator --devices 2 > farm.txt &   # wait for 3 lines in farm.txt
    ANDROID_ADB_SERVER_PORT=PORT adb devices -l                      # PORT from ADB_SERVER=
    kill %1
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from pytest_mobiledl.emulator.errors import EmulatorError
from pytest_mobiledl.emulator.farms import Farm
from pytest_mobiledl.emulator.props import DeviceProps


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_mobiledl.emulator",
        description="Start a private adb server with loopback devices; "
        "print ADB_SERVER=HOST:PORT, then one serial per line.",
    )
    parser.add_argument("--devices", type=int, default=1, help="how many loopback devices (default 1)")
    parser.add_argument(
        "--props-file",
        action="append",
        default=[],
        metavar="PATH",
        help="build.prop-style file; repeat for one per device (a shorter list repeats)",
    )
    parser.add_argument(
        "--sandbox", choices=["auto", "chroot", "rewrite"], default="auto", help="auto: chroot when root, else rewrite"
    )
    parser.add_argument(
        "--expose", action="append", default=[], metavar="DIR", help="more host dirs for chroot devices"
    )
    parser.add_argument("--workdir", help="keep server log and device folders here (default: a temp dir)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    if args.devices < 1:
        parser.error(f"--devices must be at least 1, got {args.devices}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, stream=sys.stderr)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        props = [DeviceProps.from_file(path) for path in args.props_file] or None
        with Farm(args.devices, props, args.sandbox, args.expose, args.workdir) as running:
            print(f"ADB_SERVER={running.server}", *running.serials, sep="\n", flush=True)
            while not stop.wait(3600):
                pass
    except EmulatorError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
