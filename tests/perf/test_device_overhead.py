"""What a device costs beyond the measurement: per-item overhead on an emulated device vs the host,
and push throughput through the real adb server."""

from __future__ import annotations

import json
import os
import statistics
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_mobiledl.devices.adb import discover, parse_servers
from pytest_mobiledl.emulator import Farm

pytestmark = pytest.mark.perf



def test_per_item_overhead_emulated_device_vs_host(bench_dir: pytest.Pytester, adb_farm: Farm,
                                                   figure: Callable[[str], None]) -> None:
    serial = adb_farm.serials[0]
    args = ["-p", "no:cacheprovider", "--libs=onnxruntime,tflite", "--models=mobilenet_v2", "--threads=1,2",
            f"--devices=host,{serial}", f"--adb-server={adb_farm.server}", "--warmup=10", "--iterations=50"]
    bench_dir.runpytest_subprocess(*args).assert_outcomes(passed=8)  # converts and pushes once
    bench_dir.runpytest_subprocess(*args, "--junitxml=junit.xml", "--benchmark-json=bench.json",
                                   "--benchmark-save-data").assert_outcomes(passed=8)
    data = json.loads((bench_dir.path / "bench.json").read_text())["benchmarks"]
    per_device: dict[str, list[float]] = {}
    wall = {c.get("name"): float(c.get("time", 0))
            for c in ET.parse(bench_dir.path / "junit.xml").getroot().iter("testcase")}
    for bench in data:
        per_device.setdefault(bench["params"]["device"], []).append(wall[bench["name"]] - sum(bench["stats"]["data"]))
    host, device = statistics.median(per_device["host"]), statistics.median(per_device[serial])
    figure(f"per-item overhead (median of 4): host {host:.2f} s, emulated device {device:.2f} s "
          f"(ratio {device / host:.2f})")
    assert device < host + 3


def test_push_throughput(adb_farm: Farm, tmp_path: Path, figure: Callable[[str], None]) -> None:
    payload = tmp_path / "blob.bin"
    payload.write_bytes(os.urandom(64 << 20))
    device = discover(parse_servers(adb_farm.server))[adb_farm.serials[1]]
    t0 = time.perf_counter()
    remote = device.deploy(payload)
    first = time.perf_counter() - t0
    pushed = device.shell(f"stat -c '%i %Y' {remote}").stdout
    t0 = time.perf_counter()
    device.deploy(payload)
    again = time.perf_counter() - t0
    figure(f"push of 64 MiB: {64 / first:.0f} MiB/s; the same file again: {again * 1000:.0f} ms (not pushed)")
    assert device.shell(f"stat -c '%i %Y' {remote}").stdout == pushed  # same inode and mtime: not pushed again
