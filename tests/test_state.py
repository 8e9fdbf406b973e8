"""The device-state parsers, on samples in the kernel's and Android's documented formats."""

from __future__ import annotations

import pytest

from pytest_mobiledl.cores import parse_cores
from pytest_mobiledl.devices import state
from pytest_mobiledl.steady import mask, select

# grep -H output of thermal zones: Qualcomm names, a sensor that is off (-273000), a battery zone,
# and an old vendor kernel printing whole degrees.
THERMAL = """\
/sys/class/thermal/thermal_zone0/type:aoss0-usr
/sys/class/thermal/thermal_zone1/type:cpu-0-0-usr
/sys/class/thermal/thermal_zone2/type:cpu-1-0-usr
/sys/class/thermal/thermal_zone3/type:battery
/sys/class/thermal/thermal_zone4/type:mtktscpu
/sys/class/thermal/thermal_zone5/type:BIG
/sys/class/thermal/thermal_zone0/temp:31200
/sys/class/thermal/thermal_zone1/temp:36500
/sys/class/thermal/thermal_zone2/temp:-273000
/sys/class/thermal/thermal_zone3/temp:29000
/sys/class/thermal/thermal_zone4/temp:41
/sys/class/thermal/thermal_zone5/temp:38250
"""

CPUFREQ = """\
/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq:300000
/sys/devices/system/cpu/cpu4/cpufreq/scaling_cur_freq:2419200
/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq:1804800
/sys/devices/system/cpu/cpu4/cpufreq/cpuinfo_max_freq:2419200
/sys/devices/system/cpu/cpu4/cpufreq/scaling_max_freq:1708800
/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor:schedutil
/sys/devices/system/cpu/cpu4/cpufreq/scaling_governor:performance
"""

# A Pixel on USB: current_now negative while discharging, in µA; voltage in µV.
POWER = """\
/sys/class/power_supply/battery/type:Battery
/sys/class/power_supply/usb/type:USB
/sys/class/power_supply/wireless/type:Wireless
/sys/class/power_supply/usb/online:1
/sys/class/power_supply/wireless/online:0
/sys/class/power_supply/battery/capacity:87
/sys/class/power_supply/battery/status:Charging
/sys/class/power_supply/battery/current_now:-312500
/sys/class/power_supply/battery/voltage_now:4187500
"""

# dumpsys thermalservice (Android 11+), whole, and the lines of dumpsys power the plugin reads.
THERMALSERVICE = """\
IsStatusOverride: false
ThermalEventListeners:
\tcallbacks: 2
Thermal Status: 1
Cached temperatures:
\tTemperature{mValue=33.5, mType=3, mName=skin-therm, mStatus=0}
HAL Ready: true
Current temperatures from HAL:
\tTemperature{mValue=35.8, mType=0, mName=cpu0-silver-usr, mStatus=0}
\tTemperature{mValue=44.25, mType=0, mName=cpu4-gold-usr, mStatus=1}
\tTemperature{mValue=30.1, mType=2, mName=battery, mStatus=0}
Current cooling devices from HAL:
\tCoolingDevice{mValue=0, mType=2, mName=cpu0}
"""
POWER_DUMPSYS = "  mWakefulness=Asleep\nDisplay Power: state=OFF\n"


def snapshot(**sections: str) -> state.Snapshot:
    return state.parse("".join(f"@@{name}\n{text}" for name, text in sections.items()))


def test_thermal_zones_in_millidegrees_whole_degrees_and_off_sensors() -> None:
    zones = state.parse_thermal(THERMAL.splitlines())
    assert [(z.name, z.type, z.temp_c) for z in zones] == [
        ("thermal_zone0", "aoss0-usr", 31.2), ("thermal_zone1", "cpu-0-0-usr", 36.5),
        ("thermal_zone3", "battery", 29.0), ("thermal_zone4", "mtktscpu", 41.0), ("thermal_zone5", "BIG", 38.25)]
    snap = snapshot(thermal=THERMAL)
    assert [z.type for z in snap.cpu_zones()] == ["cpu-0-0-usr", "mtktscpu", "BIG"]
    assert snap.cpu_temp_c == 41.0  # the hottest CPU sensor


def test_cpufreq_clocks_caps_and_governors() -> None:
    snap = snapshot(cpufreq=CPUFREQ)
    assert snap.core(4) == state.Core(4, 2419200, 2419200, 1708800, "performance")
    assert snap.core(0) == state.Core(0, 300000, 1804800, None, "schedutil")
    assert state.clocks(snap, [0, 4, 7]) == {"cpu0": 300000, "cpu4": 2419200, "cpu7": None}


def test_power_supplies_battery_and_source() -> None:
    snap = snapshot(power=POWER)
    assert snap.battery == state.Supply("battery", "Battery", None, 87, "Charging", -312500, 4187500)
    assert snap.power_source == "usb"
    unplugged = snapshot(power=POWER.replace("usb/online:1", "usb/online:0"))
    assert unplugged.power_source == "battery"
    assert snapshot().power_source is None  # no supplies readable: unknown, not "battery"


def test_dumpsys_thermal_status_hal_temps_and_screen() -> None:
    snap = snapshot(dumpsys=THERMALSERVICE + POWER_DUMPSYS, props="google/oriole/oriole:14/UQ1A/1:user/release-keys\n")
    assert snap.thermal_status == 1 and snap.screen == "off"
    assert snap.fingerprint == "google/oriole/oriole:14/UQ1A/1:user/release-keys"
    assert [(z.name, z.temp_c) for z in snap.hal_zones] == [("cpu0-silver-usr", 35.8), ("cpu4-gold-usr", 44.25)]
    assert snap.cpu_temp_c == 44.25  # no sysfs zones: the HAL's CPU temperatures stand in
    assert state.parse_screen(["  mWakefulness=Awake"]) == "on"  # older builds: no Display Power line
    assert snapshot(dumpsys=THERMALSERVICE, thermal=THERMAL).cpu_temp_c == 41.0  # sysfs first


def test_sampler_lines_and_a_line_cut_short() -> None:
    text = "S 100.10 2419200 2419200 -400000 4000000\nS 100.30 1708800 2419200 -420000 3990000\nS 100.5 17"
    samples = state.parse_samples(text, cpus=2, battery=True)
    assert samples == (state.Sample(100.10, (2419200, 2419200), -400000, 4000000),
                       state.Sample(100.30, (1708800, 2419200), -420000, 3990000))


def test_throttle_ratio_is_the_busiest_core_after_launch() -> None:
    top = [2400000, 2400000]
    launch = state.Sample(1.0, (300000, 300000))
    busy = state.Sample(1.2, (2400000, 300000))  # one busy core at max, one idle: not throttled
    capped = state.Sample(1.4, (1440000, 300000))
    assert state.lowest_ratio([launch, busy], top) == 1.0
    assert state.lowest_ratio([launch, busy, capped], top) == pytest.approx(0.6)
    assert state.lowest_ratio([], top) is None


@pytest.mark.parametrize(("current", "voltage", "discharging", "unit", "sign", "watts"), [
    (-500_000, 4_000_000, True, ("uA", "uV"), "negative_discharging", 2.0),  # Pixel
    (500, 4_000, True, ("mA", "mV"), "positive_discharging", 2.0),  # some vendors: mA, positive
    (1_200_000, 4_200_000, False, ("uA", "uV"), "charging", 5.04),
])
def test_energy_detects_units_and_sign(current: int, voltage: int, discharging: bool, unit: tuple[str, str],
                                       sign: str, watts: float) -> None:
    samples = [state.Sample(float(i), (1,), current, voltage) for i in range(3)]
    reading = state.energy(samples, discharging)
    assert reading is not None
    assert ((reading.current_unit, reading.voltage_unit), reading.current_sign) == (unit, sign)
    assert reading.power_w == pytest.approx(watts) and reading.samples == 3
    assert state.energy([state.Sample(1.0, (1,))], True) is None


def test_state_script_reads_every_section_in_one_script() -> None:
    script = state.state_script()
    assert [line for line in script.split("; ") if line.startswith("echo @@")] == [
        f"echo @@{name}" for name in state.SECTIONS]
    sampler = state.sampler_script([4, 5], "battery", "/data/local/tmp/s", 0.2)
    assert sampler.endswith("&") and "cpu4/cpufreq/scaling_cur_freq" in sampler and "battery/current_now" in sampler


@pytest.mark.parametrize(("cores", "clocks", "cpus"), [
    ("big", {0: 1800, 1: 1800, 2: 2400, 3: 2400}, (2, 3)),
    ("little", {0: 1800, 1: 1800, 2: 2400, 3: 2400}, (0, 1)),
    ("big", {0: 1800, 1: 1800, 2: 2400, 3: 3000}, (2, 3)),  # prime + big: everything but the slowest
    ("big", {0: 2000, 1: 2000}, (0, 1)),  # one cluster
    ("little", {0: None, 1: None}, (0, 1)),  # clocks unknown
    ("all", {0: 1800, 1: 2400}, (0, 1)),
    ("0,2-3", {0: 1800, 1: 1800, 2: 2400, 3: 2400}, (0, 2, 3)),
])
def test_core_sets_from_max_clocks(cores: str, clocks: dict[int, int | None], cpus: tuple[int, ...]) -> None:
    assert select(cores, clocks) == cpus


def test_cores_syntax_and_mask() -> None:
    assert parse_cores(" 4-7 ") == "4-7" and mask((4, 5, 6, 7)) == "f0"
    for bad in ("middle", "7-4", "", "1,,2"):
        with pytest.raises(ValueError, match="is not big, little, all or a cpu list"):
            parse_cores(bad)
