"""What the steady-state checks cost and whether they catch what the emulator programs.

- the checks' cost per item on an emulated device (cool, so nothing waits): the runner alone vs
  the runner inside ``Steady`` (state read before, taskset + sampler, state read after),
  interleaved pairs, as a ratio with its spread;
- the host-only default run with and without pinning (``--cpus``), likewise;
- the emulator scenarios, N times each: a cooling phone waits then runs unflagged, a hot one is
  flagged hot_start and throttled, energy comes out as the programmed figure.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_mobiledl import dispatch, options, zoo
from pytest_mobiledl.devices import Device
from pytest_mobiledl.devices.adb import discover, parse_servers
from pytest_mobiledl.devices.host import HostDevice
from pytest_mobiledl.emulator import Farm
from pytest_mobiledl.matrix import Case
from pytest_mobiledl.options import Selection
from pytest_mobiledl.record import RunRecord
from pytest_mobiledl.steady import Steady

if TYPE_CHECKING:
    from tests.perf.conftest import Perf

pytestmark = pytest.mark.perf


@pytest.fixture
def selection(pytester: pytest.Pytester, model_cache: Path) -> Callable[..., Selection]:
    """A Selection as the plugin makes it, from command-line flags over the options' own defaults
    (``options.resolve``): a field added to Selection never breaks these tests."""

    def make(*flags: str) -> Selection:
        config = pytester.parseconfig("-p", "no:cacheprovider", f"--model-cache={model_cache}", "--libs=onnxruntime",
                                      "--models=tiny_cnn", "--warmup=2", "--iterations=10", "--runner-timeout=120",
                                      "--repeats=1", *flags)
        return options.resolve(config)

    return make


def checked(device: Device, case: Case, artifact: zoo.Artifact, s: Selection) -> RunRecord:
    steady = Steady(device, s)
    return steady.finish(dispatch.PythonRunner().run(steady, case, artifact, s))


def timed(action: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    action()
    return time.perf_counter() - t0


def spread(values: list[float]) -> str:
    q = statistics.quantiles(values, n=4)
    return f"median {statistics.median(values):.3f} (IQR {q[0]:.3f}–{q[2]:.3f}, n={len(values)})"


def test_cost_of_the_checks_per_item(adb_farm: Farm, model_cache: Path, selection: Callable[..., Selection],
                                     perf: Perf, figure: Callable[[str], None]) -> None:
    pairs = perf.pick(quick=3, full=8)
    device = discover(parse_servers(adb_farm.server))[adb_farm.serials[0]]
    case = Case(device.serial, "onnxruntime", "tiny_cnn", "cpu", "fp32", 1)
    artifact = zoo.artifact("tiny_cnn", "onnxruntime", "fp32", model_cache)
    s = selection()
    runner = dispatch.PythonRunner()
    checked(device, case, artifact, s)  # pushes once
    ratios, extra = [], []
    for _ in range(pairs):
        bare = timed(lambda: runner.run(device, case, artifact, s))
        full = timed(lambda: checked(device, case, artifact, s))
        ratios.append(full / bare)
        extra.append((full - bare) * 1000)
    figure(f"steady checks on an emulated device, item wall time with/without: {spread(ratios)}; "
           f"extra ms {spread(extra)}")

    host = HostDevice()
    host_case = Case("host", "onnxruntime", "tiny_cnn", "cpu", "fp32", 1)
    argv = [sys.executable, "-m", "pytest_mobiledl.runner",
            *dispatch.runner_args(host_case, str(artifact.path), s)]
    host_ratios = []
    for _ in range(pairs):
        bare = timed(lambda: dispatch.parse_record(host.run(argv, 120), host_case))
        full = timed(lambda: checked(host, host_case, artifact, s))
        host_ratios.append(full / bare)
    figure(f"host-only default item (pinned, --cores=big) with/without: {spread(host_ratios)}")
    assert statistics.median(host_ratios) < 1.5  # a gross slowdown only; the figure is the ratio


def test_emulator_scenarios_n_of_n(make_adb_farm: Callable[..., Farm], model_cache: Path,
                                   selection: Callable[..., Selection], perf: Perf,
                                   figure: Callable[[str], None]) -> None:
    runs = perf.pick(quick=2, full=5)
    farm = make_adb_farm(devices=1)
    emulated = farm.devices[0]
    device = discover(parse_servers(farm.server))[emulated.serial]
    case = Case(device.serial, "onnxruntime", "tiny_cnn", "cpu", "fp32", 1)
    artifact = zoo.artifact("tiny_cnn", "onnxruntime", "fp32", model_cache)
    s = selection("--cooldown-temp=40", "--cooldown-timeout=5", "--energy")
    waited = hot = during = energy = 0
    for _ in range(runs):
        emulated.sysfs.heat(50.0, seconds=2.0, trigger="thermal_zone")
        emulated.sysfs.set_battery(current_ua=-500_000, voltage_uv=4_000_000)
        record = checked(device, case, artifact, s)
        c = record.conditions
        waited += c["cooldown_from_c"] > 40 >= c["cpu_temp_c_before"] and not (
            {"hot_start", "throttled"} & set(record.flags))
        energy += abs(c["power_w"] - 2.0) < 0.01 and c["current_sign"] == "negative_discharging"
        emulated.sysfs.heat(58.0, seconds=600.0)
        hot += {"hot_start", "throttled"} <= set(checked(device, case, artifact, s).flags)
        emulated.sysfs.heat(55.0, seconds=600.0, trigger="taskset")  # cool until the run starts
        flags = set(checked(device, case, artifact, s).flags)
        during += "throttled" in flags and "hot_start" not in flags
    emulated.sysfs.heat(32.0, seconds=0.0)
    figure(f"emulator scenarios: cooling phone waited then ran unflagged {waited}/{runs}; "
           f"hot phone flagged hot_start+throttled {hot}/{runs}; "
           f"throttle during the run flagged throttled only {during}/{runs}; "
           f"energy = programmed 2.0 W (µA, negative) {energy}/{runs}")
    assert waited == hot == during == energy == runs


def test_the_sampler_does_not_perturb_what_is_timed(adb_farm: Farm, perf: Perf, figure: Callable[[str], None]) -> None:
    """A fixed CPU loop timed inside the process, with and without the sampler beside it."""
    from pytest_mobiledl.devices import state

    device = discover(parse_servers(adb_farm.server))[adb_farm.serials[0]]
    loop = ("import time\nt = time.perf_counter()\nx = 0\nfor i in range(2_000_000): x += i\n"
            "print(time.perf_counter() - t)")
    sampler = state.sampler_script([4, 5, 6, 7], "battery", f"{device.workdir}/.perf-samples", 0.2)
    ratios = []
    for _ in range(perf.pick(quick=6, full=16)):
        bare = float(device.run([sys.executable, "-c", loop], 60).stdout)
        sampled = float(device.run(["sh", "-c", f'{sampler} exec taskset f0 "$@"', "sh", sys.executable, "-c", loop],
                                   60).stdout)
        ratios.append(sampled / bare)
    figure(f"in-process time of a CPU loop with/without the on-device sampler: {spread(ratios)}")
    assert statistics.median(ratios) < 1.5  # a gross perturbation only; the figure is the ratio
