"""Phones at a steady state, through the real adb server: loopback devices whose /sys heats,
throttles and drains a battery as programmed (emulator/sysfs.py)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import pytest

from pytest_mobiledl.emulator import Farm

RUN = ["-p", "no:cacheprovider", "--libs=onnxruntime", "--warmup=1", "--iterations=5", "--benchmark-json=out.json",
       "-rs"]


def records(pytester: pytest.Pytester) -> dict[str, dict[str, Any]]:
    """Each stored record's fields, by device serial (threads 1 only)."""
    found = {}
    for bench in json.loads((pytester.path / "out.json").read_text())["benchmarks"]:
        extra = bench["extra_info"]
        found[extra["device"]["serial"]] = {**extra, "mean_ms": bench["stats"]["mean"] * 1e3}
    return found


def test_hot_cooling_throttled_and_drained_phones(bench_dir: pytest.Pytester,
                                                  make_adb_farm: Callable[..., Farm]) -> None:
    farm = make_adb_farm(devices=2)
    cooling, hot = farm.devices
    cooling.sysfs.heat(50.0, seconds=2.0, trigger="thermal_zone")  # from the first state read; ≤ 40 °C in 1.2 s
    cooling.sysfs.set_battery(current_ua=-500_000, voltage_uv=4_000_000)  # 2.0 W, µA, negative
    hot.sysfs.heat(58.0, seconds=600.0)  # stays hot, above the throttle point (45 °C)
    # (the hot phone waits --cooldown-timeout, then runs flagged)
    hot.sysfs.set_battery(current_ua=800, voltage_uv=3_900, usb=True)  # mA and mV, on USB: 3.12 W
    result = bench_dir.runpytest_subprocess(*RUN, f"--devices=host,{','.join(farm.serials)}",
                                            f"--adb-server={farm.server}", "--threads=1,5", "--cooldown-temp=40",
                                            "--cooldown-timeout=2", "--energy")
    result.assert_outcomes(passed=3, skipped=3)
    result.stdout.fnmatch_lines([f"*5 threads on the 4 big cores (4,5,6,7) of {farm.serials[0]} would share cores; "
                                 "use fewer --threads or --cores=all*"])
    found = records(bench_dir)

    waited = found[cooling.serial]
    conditions = waited["conditions"]
    assert "hot_start" not in waited["flags"] and "throttled" not in waited["flags"]
    assert conditions["cooldown_from_c"] > 40 >= conditions["cpu_temp_c_before"]  # it waited, then ran
    assert conditions["cpus"] == [4, 5, 6, 7] and conditions["cpu_mask"] == "f0"
    assert conditions["freq_max_khz"]["cpu4"] == 2400000 and conditions["governor"] == "schedutil"
    assert conditions["power_w"] == pytest.approx(2.0)
    assert conditions["energy_mj_per_inference"] == pytest.approx(2.0 * waited["mean_ms"], rel=1e-3)
    assert (conditions["current_unit"], conditions["current_sign"]) == ("uA", "negative_discharging")
    assert (conditions["screen"], conditions["power_source"], conditions["battery_pct"]) == ("on", "battery", 80)
    assert conditions["fingerprint"].startswith("mobiledl/loopback")
    taskset_log = cooling.sandbox.layout.host("/data/local/tmp/emulator-taskset.log").read_text()
    assert taskset_log.startswith("f0 ")

    flagged = found[hot.serial]
    assert {"hot_start", "throttled", "usb_powered"} <= set(flagged["flags"])
    assert flagged["conditions"]["cpu_temp_c_before"] > 40 and flagged["conditions"]["freq_lowest_ratio"] < 0.9
    assert flagged["conditions"]["thermal_status"] == 3  # the emulated HAL: ≥ 55 °C is severe
    assert flagged["conditions"]["power_w"] == pytest.approx(0.8 * 3.9)
    assert (flagged["conditions"]["current_unit"], flagged["conditions"]["voltage_unit"]) == ("mA", "mV")

    host = found["host"]["conditions"]
    assert host["cpus"] == sorted(os.sched_getaffinity(0)) and host["cores"] == "big"


def test_a_throttle_during_the_run_flags_it(bench_dir: pytest.Pytester, make_adb_farm: Callable[..., Farm]) -> None:
    farm = make_adb_farm(devices=1)
    farm.devices[0].sysfs.heat(55.0, seconds=600.0, trigger="taskset")  # cool until the run starts
    result = bench_dir.runpytest_subprocess(*RUN, f"--devices={farm.serials[0]}", f"--adb-server={farm.server}")
    result.assert_outcomes(passed=1)
    record = records(bench_dir)[farm.serials[0]]
    assert "throttled" in record["flags"] and "hot_start" not in record["flags"]
    assert record["conditions"]["cpu_temp_c_before"] < 40 < record["conditions"]["cpu_temp_c_after"]
    assert record["conditions"]["freq_khz_before"]["cpu4"] == 2400000
    assert record["conditions"]["freq_sampled_khz"]["cpu4"][0] == 1440000  # 60 % of max while hot


def test_cores_list_and_little(bench_dir: pytest.Pytester, adb_farm: Farm) -> None:
    serial = adb_farm.serials[1]
    result = bench_dir.runpytest_subprocess(*RUN, f"--devices={serial}", f"--adb-server={adb_farm.server}",
                                            "--cores=little")
    result.assert_outcomes(passed=1)
    assert records(bench_dir)[serial]["conditions"]["cpus"] == [0, 1, 2, 3]
    result = bench_dir.runpytest_subprocess(*RUN, f"--devices={serial}", f"--adb-server={adb_farm.server}",
                                            "--cores=6,9")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines([f"*--cores=6,9: {serial} has no cpu 9 (it has 0,1,2,3,4,5,6,7)*"])


@pytest.mark.parametrize(("value", "message"), [("middle", "*--cores=middle: 'middle' is not big, little, all or a "
                                                            "cpu list such as 4-7 or 0,2,4*"),
                                                ("7-4", "*--cores=7-4: '7-4' is not big*")])
def test_bad_cores_is_a_usage_error(bench_dir: pytest.Pytester, value: str, message: str) -> None:
    result = bench_dir.runpytest(f"--cores={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


@pytest.mark.parametrize(("cores", "powersave"), [("big", "2"), ("little", "1"), ("all", "0"), ("4-7", "0")])
def test_benchncnn_pins_the_same_cores_as_taskset(cores: str, powersave: str) -> None:
    from pytest_mobiledl.dispatch import switches
    from pytest_mobiledl.native import RunRequest, ncnn, spec_for

    request = RunRequest(binary="/t/benchncnn", model="/t/m.param", work_dir="/t", backend="cpu", precision="fp16",
                         threads=2, warmup=1, iterations=5, input_shapes=((1, 3, 8, 8),), cores=cores)
    argv = ncnn.build_plan(request).steps[0].argv  # type: ignore[union-attr]
    assert argv[1:6] == ("5", "2", powersave, "-1", "0")  # loop, threads, powersave, gpu, no cooling_down sleep
    assert switches(spec_for("ncnn"), request)["switches"][:5] == ["5", "2", powersave, "-1", "0"]
