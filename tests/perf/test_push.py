"""Push throughput: the plugin's content-addressed push against the adb CLI's ``adb push``.

The same file to the same loopback device through the same adb server, in interleaved pairs whose
order alternates; the figure is the ratio of throughputs per pair (the plugin's ÷ the CLI's), with
its spread. Each push is a fresh process, as a session's first push of a file is: the CLI timed
around ``adb push``, the plugin's timed inside around ``AdbDevice.deploy`` (its interpreter's start
is not a push's, nor is the file's sha256: a session's cache check has read it before any push,
and the record and the push's address use that one reading). The plugin does more than the CLI: it
asks the device whether the file is there, checks what landed (``cksum``) and renames it into place.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_mobiledl.devices.adb import discover, parse_servers
from pytest_mobiledl.emulator import Farm

if TYPE_CHECKING:
    from tests.perf.conftest import Perf

pytestmark = pytest.mark.perf

DEPLOY = """
import sys, time
from pathlib import Path
from pytest_mobiledl.devices.adb import discover, parse_servers
from pytest_mobiledl.digests import known_sha256
device = discover(parse_servers(sys.argv[1]))[sys.argv[2]]
known_sha256(Path(sys.argv[3]))  # read by the session's cache check before any push (zoo.damage)
started = time.perf_counter()
device.deploy(Path(sys.argv[3]))
print(time.perf_counter() - started)
"""


def test_push_throughput_against_the_adb_cli(adb_farm: Farm, tmp_path: Path, perf: Perf,
                                             figure: Callable[[str], None]) -> None:
    mib, pairs = perf.pick(quick=(16, 3), full=(64, 7))
    serial = adb_farm.serials[1]
    payload = tmp_path / "blob.bin"
    payload.write_bytes(os.urandom(mib << 20))
    adb = [adb_farm.adb_path, "-s", serial]

    def cli() -> float:
        started = time.perf_counter()
        subprocess.run([*adb, "push", str(payload), "/data/local/tmp/cli.bin"], check=True, capture_output=True)
        return time.perf_counter() - started

    def plugin() -> float:
        done = subprocess.run([sys.executable, "-c", DEPLOY, adb_farm.server, serial, str(payload)], check=True,
                              capture_output=True, text=True)
        return float(done.stdout)

    seconds: dict[str, list[float]] = {"cli": [], "plugin": []}
    for pair in range(pairs):
        for way in ("cli", "plugin") if pair % 2 == 0 else ("plugin", "cli"):
            subprocess.run([*adb, "shell", "rm -rf /data/local/tmp/mobiledl /data/local/tmp/cli.bin"], check=True)
            seconds[way].append(cli() if way == "cli" else plugin())
    ratios = sorted(c / p for c, p in zip(seconds["cli"], seconds["plugin"], strict=True))

    device = discover(parse_servers(adb_farm.server))[serial]
    remote = device.deploy(payload)
    pushed = device.shell(f"stat -c '%i %Y' {remote}").stdout
    started = time.perf_counter()
    discover(parse_servers(adb_farm.server))[serial].deploy(payload)  # a new session's device object
    again = time.perf_counter() - started

    def rate(way: str) -> str:
        values = sorted(mib / s for s in seconds[way])
        return f"{statistics.median(values):.0f} MiB/s [{values[0]:.0f}–{values[-1]:.0f}]"

    figure(f"push of {mib} MiB, {pairs} interleaved pairs: plugin {rate('plugin')}, adb CLI {rate('cli')}; "
           f"plugin/CLI median {statistics.median(ratios):.2f} (range {ratios[0]:.2f}–{ratios[-1]:.2f}); "
           f"the same file again, from a new session: {again * 1000:.0f} ms (not pushed)")
    assert device.shell(f"stat -c '%i %Y' {remote}").stdout == pushed  # same inode and mtime: not pushed again
    assert statistics.median(ratios) > 0.2, "the plugin's push is broken: a fifth of the adb CLI's throughput"
