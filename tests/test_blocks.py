"""Lockstep blocks: a block's runners are alive together and take turns, on the host and on an
emulated phone; a runner that cannot join leaves the rest of its block running."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from pytest_mobiledl import blocks, zoo
from pytest_mobiledl.devices.host import HostDevice
from pytest_mobiledl.emulator import Farm
from pytest_mobiledl.record import from_json
from pytest_mobiledl.runner import lockstep

#: A site hook that leaves a thread running: forking past it could deadlock a child.
THREAD = "import threading, time\nthreading.Thread(target=time.sleep, args=(3600,), daemon=True).start()\n"
RUN = ["-p", "no:cacheprovider", "--warmup=2", "--iterations=20", "--benchmark-json=out.json"]


def records(root: Path) -> list[dict[str, Any]]:
    data = json.loads((root / "out.json").read_text())
    return [r for b in data["benchmarks"] for r in b["extra_info"]["repeats"]]


def by_block(saved: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for r in saved:
        found.setdefault(r["block"]["id"], []).append(r)
    return found


def test_a_blocks_runners_are_alive_together_and_take_turns(bench_dir: pytest.Pytester) -> None:
    result = bench_dir.runpytest_subprocess(*RUN, "--libs=onnxruntime,tflite,ncnn", "--repeats=2", "--iterations=8",
                                            "-v")
    result.assert_outcomes(passed=6)
    # The items of one block run one after the other: r1 of every library, then r2 of every library.
    ran = [line.split("[")[1].split("]")[0] for line in result.outlines if "PASSED" in line]
    assert [item[-2:] for item in ran] == ["r1"] * 3 + ["r2"] * 3
    found = by_block(records(bench_dir.path))
    assert [block[:-9] for block in sorted(found)] == ["host-tiny_cnn-cpu-fp32-r1", "host-tiny_cnn-cpu-fp32-r2"]
    for block in found.values():
        assert {(r["block"]["mode"], r["block"]["size"]) for r in block} == {("lockstep", 3)}
        assert sorted(r["block"]["slot"] for r in block) == [0, 1, 2]
        turns = sorted((t, r["block"]["slot"]) for r in block for t in r["block"]["turns"])
        rounds = [[slot for _, slot in turns[k:k + 3]] for k in range(0, len(turns), 3)]
        assert len(rounds) == 8 and all(sorted(r) == [0, 1, 2] for r in rounds)  # each runs once a round
        assert rounds == [lockstep.round_order([0, 1, 2], k) for k in range(8)]  # in the balanced order
        follows = {(r[i], r[i + 1]) for r in rounds for i in range(2)}
        assert follows == {(a, b) for a in range(3) for b in range(3) if a != b}  # each after each other
        assert {r["count"] for r in block} == {8}


@pytest.mark.parametrize("n", range(1, 10))
def test_over_its_rounds_each_case_takes_every_place_and_follows_every_other_alike(n: int) -> None:
    """A Williams design: rotation balanced the places only, and a case that always followed the
    same one carried what that one left behind (LiteRT at 2 threads after a 1-thread case)."""
    slots = list(range(10, 10 + n))
    rounds = [lockstep.round_order(slots, k) for k in range(n if n % 2 == 0 else 2 * n)]
    assert all(sorted(r) == slots for r in rounds)
    places = Counter((slot, i) for r in rounds for i, slot in enumerate(r))
    follows = Counter((r[i], r[i + 1]) for r in rounds for i in range(n - 1))
    assert set(places.values()) == {len(rounds) // n} and len(places) == n * n
    assert len(follows) == n * (n - 1) and len(set(follows.values())) <= 1


def test_without_lockstep_a_block_is_a_sequence(bench_dir: pytest.Pytester) -> None:
    result = bench_dir.runpytest_subprocess(*RUN, "--libs=onnxruntime,tflite", "--mobiledl-lockstep=no")
    result.assert_outcomes(passed=2)
    [block] = by_block(records(bench_dir.path)).values()
    assert {(r["block"]["mode"], r["block"]["size"]) for r in block} == {("sequence", 2)}
    assert all("turns" not in r["block"] for r in block)


def test_a_runner_that_cannot_join_leaves_the_rest_of_its_block_running(model_cache: Path) -> None:
    artifact = zoo.artifact("tiny_cnn", "onnxruntime", "fp32", model_cache)
    good = [sys.executable, "-m", "pytest_mobiledl.runner", "--lib", "onnxruntime", "--model", str(artifact.path),
            "--model-id", "tiny_cnn", "--warmup", "1", "--iterations", "6"]
    bad = [*good[:4], "nosuchlib", *good[5:]]
    selection = type("S", (), {"runner_timeout": 60.0, "iterations": 6, "min_time": 0.0})()
    host = HostDevice(fork=False)
    done = blocks.run_lockstep(host, [good, bad, good], selection)  # type: ignore[arg-type]
    first, failed, third = done
    assert not isinstance(failed, Exception) and failed.returncode == 2
    assert "unknown library 'nosuchlib'" in failed.stderr
    for ok, slot in ((first, 0), (third, 2)):
        assert not isinstance(ok, Exception) and ok.returncode == 0, ok
        record = from_json(ok.stdout)
        assert (record.count, record.block["slot"], len(record.block["turns"])) == (6, slot, 6)


def test_an_emulated_phone_runs_its_block_in_lockstep(bench_dir: pytest.Pytester, adb_farm: Farm) -> None:
    serial = adb_farm.serials[0]
    result = bench_dir.runpytest_subprocess(*RUN, "--libs=onnxruntime,tflite", f"--devices={serial}",
                                            f"--adb-server={adb_farm.server}", "--iterations=6")
    result.assert_outcomes(passed=2)
    [block] = by_block(records(bench_dir.path)).values()
    assert {(r["block"]["id"][:-9], r["block"]["mode"]) for r in block} == {(f"{serial}-tiny_cnn-cpu-fp32-r1",
                                                                            "lockstep")}
    turns = sorted((t, r["block"]["slot"]) for r in block for t in r["block"]["turns"])
    assert [slot for _, slot in turns] == [0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0]  # A B, B A, …



@pytest.mark.parametrize(("hook", "starts"), [("", 1), (THREAD, 3)])
def test_a_block_on_a_device_forks_its_cases_from_its_own_interpreter(
    hook: str, starts: int, model_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every interpreter start appends a line (forked cases start none); a thread left running at
    # start-up makes forking unsafe, and each case then starts its own.
    (tmp_path / "sitecustomize.py").write_text(f"open({str(tmp_path / 'starts')!r}, 'a').write('x\\n')\n{hook}")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])))
    artifact = zoo.artifact("tiny_cnn", "onnxruntime", "fp32", model_cache)
    case = [sys.executable, "-m", "pytest_mobiledl.runner", "--lib", "onnxruntime", "--model", str(artifact.path),
            "--model-id", "tiny_cnn", "--warmup", "1", "--iterations", "4"]
    spec = {"argvs": [case, case], "timeout": 120, "iterations": 4, "min_time": 0}
    done = subprocess.run([*case[:3], "--block", json.dumps(spec)], capture_output=True, text=True, cwd=tmp_path,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    replies = [json.loads(line) for line in done.stdout.splitlines()]
    assert [from_json(r["stdout"]).block["slot"] for r in replies] == [0, 1]
    assert (tmp_path / "starts").read_text().count("x") == starts
