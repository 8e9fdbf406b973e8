"""pytest-xdist across emulated devices: one worker each, one storage, crashes confined to a device."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_mobiledl.emulator import Farm

RUN = ["-p", "no:cacheprovider", "--warmup=1", "--iterations=5", "--libs=onnxruntime,tflite"]


def saved(root: Path) -> dict:
    [path] = root.glob(".benchmarks/*/*.json")
    run = json.loads(path.read_text())
    path.unlink()
    return run


def shape(run: dict) -> dict:
    """What must not depend on -n: items, fields, device descriptions, sample counts."""
    return {b["fullname"]: (sorted(b["extra_info"]), b["extra_info"]["device"], b["stats"]["rounds"], b["params"])
            for b in run["benchmarks"]}


def test_n0_and_n2_save_the_same_items(bench_dir: pytest.Pytester, adb_farm: Farm) -> None:
    args = [*RUN, f"--devices={','.join(adb_farm.serials)}", f"--adb-server={adb_farm.server}",
            "--benchmark-autosave"]
    bench_dir.runpytest_subprocess(*args, "-n", "0").assert_outcomes(passed=4)
    plain = saved(bench_dir.path)
    dist = bench_dir.runpytest_subprocess(*args, "-n", "2", "-v")
    dist.assert_outcomes(passed=4)
    dist.stdout.fnmatch_lines(["*mobiledl fragmentation*"])
    by_worker: dict[str, set[str]] = {}
    for line in dist.outlines:
        if line.startswith("[gw") and "PASSED" in line:
            by_worker.setdefault(line.split("]")[0], set()).add(line.split("[")[-1].split("-")[0])
    assert sorted(map(len, by_worker.values())) == [1, 1]  # each worker had exactly one device
    after = saved(bench_dir.path)
    assert shape(after) == shape(plain) and len(shape(plain)) == 4
    assert after["machine_info"]["mobiledl_devices"] == plain["machine_info"]["mobiledl_devices"]


def test_workers_take_the_phones_facts_from_the_controller(bench_dir: pytest.Pytester, adb_farm: Farm) -> None:
    """Each phone's facts are read once a session, by the controller: a worker that read them
    again paid one round trip a phone (eight before they were read in one) before collecting."""
    seen: list[str] = []
    watchers = [device.context.watchers for device in adb_farm.devices]
    for watching in watchers:
        watching.append(seen.append)
    try:
        bench_dir.runpytest_subprocess(*RUN, f"--devices={','.join(adb_farm.serials)}",
                                       f"--adb-server={adb_farm.server}", "-n", "2").assert_outcomes(passed=4)
    finally:
        for watching in watchers:
            watching.remove(seen.append)
    assert sum("getprop ro.product.model" in command for command in seen) == len(adb_farm.serials)


CRASHING = """
import os

def test_latency(mobiledl):
    if mobiledl.case.device == {serial!r} and mobiledl.case.lib == "onnxruntime":
        os._exit(3)  # the worker process dies mid-item
    mobiledl.run()
"""


def test_a_worker_crash_errors_its_device_items_and_the_rest_is_saved(bench_dir: pytest.Pytester,
                                                                      adb_farm: Farm) -> None:
    doomed, fine = adb_farm.serials
    bench_dir.makepyfile(test_crash=CRASHING.format(serial=doomed))
    result = bench_dir.runpytest_subprocess("test_crash.py", *RUN, "--threads=1,2",
                                            f"--devices={doomed},{fine}", f"--adb-server={adb_farm.server}",
                                            "-n", "2", "--benchmark-autosave")
    result.stdout.fnmatch_lines([f"*worker 'gw*' crashed while running*{doomed}-onnxruntime*"])
    result.stdout.fnmatch_lines([f"*{doomed}: not run: worker gw* crashed running *{doomed}-onnxruntime* on this "
                                 "device*"])
    outcomes = result.parseoutcomes()
    assert outcomes["passed"] == 4 and outcomes.get("failed", 0) + outcomes.get("errors", 0) == 4, outcomes
    run = saved(bench_dir.path)
    assert {b["extra_info"]["device"]["serial"] for b in run["benchmarks"]} == {fine}
    assert len(run["benchmarks"]) == 4


def test_two_adb_servers_in_one_auto_session(bench_dir: pytest.Pytester,
                                             make_adb_farm: Callable[..., Farm]) -> None:
    first, second = make_adb_farm(devices=1), make_adb_farm(devices=1)
    assert first.server != second.server
    result = bench_dir.runpytest_subprocess(*RUN, "--devices=all", f"--adb-server={first.server},{second.server}",
                                            "-n", "auto", "--benchmark-autosave")
    result.stdout.fnmatch_lines(["created: 3/3 workers*"])
    result.assert_outcomes(passed=6)
    run = saved(bench_dir.path)
    assert set(run["machine_info"]["mobiledl_devices"]) == {"host", *first.serials, *second.serials}
    servers = {b["extra_info"]["device"].get("adb_server") for b in run["benchmarks"]}
    assert servers == {None, first.server, second.server}
