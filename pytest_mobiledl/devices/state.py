"""What a phone's files say about its state: thermal zones, CPU clocks, power supplies, screen.

Everything is read in one ``adb shell`` round trip (each costs ≥ 20 ms): a small sh script prints
``@@section`` markers, then ``grep -H . <files>`` lines (``path:value``), which the parsers here
turn into small frozen records. Paths are matched by their tail, so a sandbox that rewrites
``/sys`` to a folder reads the same way as a phone.

Formats, as documented:

- ``/sys/class/thermal/thermal_zone*/{type,temp}``: ``temp`` in millidegrees Celsius (kernel
  ``Documentation/driver-api/thermal/sysfs-api.rst``); a few old vendor kernels print whole
  degrees, told apart by size. A sensor that is off reads absurd values (-273000): dropped.
- ``/sys/devices/system/cpu/cpu*/cpufreq/{scaling_cur_freq,cpuinfo_max_freq,scaling_max_freq,
  scaling_governor}``: kHz and a governor name (kernel ``Documentation/admin-guide/pm/cpufreq.rst``).
- ``/sys/class/power_supply/*/{type,online,capacity,status,current_now,voltage_now}``: ``type``
  ``Battery``/``USB``/``Mains``/``Wireless``; ``current_now`` µA and ``voltage_now`` µV by the
  ABI document, but vendors differ in unit (some mA/mV) and in sign (negative while discharging on
  some), so energy detects both (``energy()``).
- ``dumpsys thermalservice``: ``Thermal Status: N`` (0 none … 6 shutdown) and
  ``Temperature{mValue=…, mType=…, mName=…, mStatus=…}`` lines (type 0 is a CPU): the fallback
  where sysfs zones are not readable.
- ``dumpsys power``: ``Display Power: state=ON|OFF`` and ``mWakefulness=Awake|Asleep|Dozing``.
"""

from __future__ import annotations

import re
import shlex
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

THERMAL = "/sys/class/thermal"
CPUFREQ = "/sys/devices/system/cpu"
POWER = "/sys/class/power_supply"

#: Zone types that are CPU sensors: Qualcomm ``cpu-1-0-usr``/``cpuss-0``, MediaTek ``mtktscpu``,
#: Exynos ``BIG``/``MID``/``LITTLE``, generic ``cpu_thermal``/``soc_thermal``.
CPU_ZONE = re.compile(r"cpu|^(big|mid|little)$|soc_thermal", re.IGNORECASE)
#: Plausible temperatures; anything else is a sensor that is off or not a temperature.
TEMP_RANGE_C = (-40.0, 150.0)

_LINE = {
    "thermal": re.compile(r"thermal_zone(\d+)/(type|temp):(.*)$"),
    "cpufreq": re.compile(r"cpu(\d+)/cpufreq/(\w+):(.*)$"),
    "power": re.compile(r"power_supply/([^/]+)/(\w+):(.*)$"),
}
_HAL_TEMP = re.compile(r"Temperature\{mValue=(-?[\d.]+), mType=(-?\d+), mName=([^,]+), mStatus=(\d+)\}")


@dataclass(frozen=True)
class Zone:
    name: str  # thermal_zone3, or the HAL's sensor name
    type: str
    temp_c: float

    @property
    def is_cpu(self) -> bool:
        return bool(CPU_ZONE.search(self.type))


@dataclass(frozen=True)
class Core:
    cpu: int
    cur_khz: int | None = None
    max_khz: int | None = None  # cpuinfo_max_freq: what the silicon can do
    cap_khz: int | None = None  # scaling_max_freq: what the policy (thermal, user) allows now
    governor: str | None = None


@dataclass(frozen=True)
class Supply:
    name: str
    type: str
    online: bool | None = None
    capacity: int | None = None
    status: str | None = None
    current_now: int | None = None
    voltage_now: int | None = None


@dataclass(frozen=True)
class Snapshot:
    """One reading of the device's state."""

    zones: tuple[Zone, ...] = ()
    cores: tuple[Core, ...] = ()
    supplies: tuple[Supply, ...] = ()
    fingerprint: str | None = None
    screen: str | None = None  # "on" / "off"
    thermal_status: int | None = None
    hal_zones: tuple[Zone, ...] = ()  # from dumpsys thermalservice

    def cpu_zones(self) -> tuple[Zone, ...]:
        """CPU sensors from sysfs, else the thermal HAL's CPU temperatures."""
        return tuple(z for z in self.zones if z.is_cpu) or self.hal_zones

    @property
    def cpu_temp_c(self) -> float | None:
        """The hottest CPU sensor: a cooldown waits for the hottest one."""
        temps = [z.temp_c for z in self.cpu_zones()]
        return max(temps) if temps else None

    def core(self, cpu: int) -> Core | None:
        return next((c for c in self.cores if c.cpu == cpu), None)

    @property
    def battery(self) -> Supply | None:
        return next((s for s in self.supplies if s.type == "Battery"), None)

    @property
    def power_source(self) -> str | None:
        """What feeds the phone: ``usb``, ``ac``, ``wireless``, or ``battery``; None if unknown."""
        if not self.supplies:
            return None
        kinds = {"USB": "usb", "USB_PD": "usb", "USB_C": "usb", "Mains": "ac", "Wireless": "wireless"}
        online = [kinds.get(s.type, s.type.lower()) for s in self.supplies if s.type != "Battery" and s.online]
        return online[0] if online else "battery"


@dataclass(frozen=True)
class Sample:
    """One line of the on-device sampler: uptime, clocks of the used cores, battery I and V raw."""

    uptime_s: float
    khz: tuple[int, ...]
    current: int | None = None
    voltage: int | None = None


# --- the scripts the device runs ------------------------------------------------------------

SECTIONS = ("thermal", "cpufreq", "power", "props", "dumpsys")


def state_script(parts: Sequence[str] = SECTIONS) -> str:
    """The files of a Snapshot in one sh script, each section after its ``@@name`` marker."""
    freq = " ".join(f"{CPUFREQ}/cpu[0-9]*/cpufreq/{name}" for name in
                    ("scaling_cur_freq", "cpuinfo_max_freq", "scaling_max_freq", "scaling_governor"))
    power = " ".join(f"{POWER}/*/{name}" for name in
                     ("type", "online", "capacity", "status", "current_now", "voltage_now"))
    scripts = {
        "thermal": f"grep -H . {THERMAL}/thermal_zone*/type {THERMAL}/thermal_zone*/temp 2>/dev/null",
        "cpufreq": f"grep -H . {freq} 2>/dev/null",
        "power": f"grep -H . {power} 2>/dev/null",
        "props": "getprop ro.build.fingerprint",
        "dumpsys": "dumpsys power 2>/dev/null | grep -E 'mWakefulness=|Display Power: state='; "
                   "dumpsys thermalservice 2>/dev/null | grep -E 'Thermal Status|Temperature[{]'",
    }
    return "; ".join(f"echo @@{part}; {scripts[part]}" for part in parts) + "; true"


def sampler_script(cpus: Sequence[int], battery: str | None, out: str, period_s: float) -> str:
    """A background sh loop appending ``S uptime khz… [I V]`` to ``out`` while ``$$`` lives.

    ``read`` is a shell builtin, so a sample forks nothing but ``sleep``; a sample is written
    only if the run was still alive after it was read, so none describes an idle phone.
    """
    reads = [f"read f{cpu} < {CPUFREQ}/cpu{cpu}/cpufreq/scaling_cur_freq" for cpu in cpus]
    fields = [f"$f{cpu}" for cpu in cpus]
    if battery:
        reads += [f"read i < {POWER}/{battery}/current_now", f"read v < {POWER}/{battery}/voltage_now"]
        fields += ["$i", "$v"]
    body = "; ".join(["read up idle < /proc/uptime", *reads, "kill -0 $$ 2>/dev/null || break",
                      f"echo S $up {' '.join(fields)}", f"sleep {period_s:g}"])
    return f"( while kill -0 $$ 2>/dev/null; do {body}; done ) > {shlex.quote(out)} 2>/dev/null < /dev/null &"


# --- parsers ---------------------------------------------------------------------------------

def sections(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    current = found.setdefault("", [])
    for line in text.splitlines():
        if line.startswith("@@"):
            current = found.setdefault(line[2:].strip(), [])
        elif line.strip():
            current.append(line.strip())
    return found


def parse(text: str) -> Snapshot:
    """A Snapshot from ``state_script``'s output (missing sections stay empty)."""
    parts = sections(text)
    props = parts.get("props", [])
    dumpsys = parts.get("dumpsys", [])
    return Snapshot(zones=parse_thermal(parts.get("thermal", [])), cores=parse_cpufreq(parts.get("cpufreq", [])),
                    supplies=parse_power(parts.get("power", [])), fingerprint=props[0] if props else None,
                    screen=parse_screen(dumpsys), thermal_status=parse_thermal_status(dumpsys),
                    hal_zones=parse_hal_temps(dumpsys))


def _fields(lines: Sequence[str], kind: str) -> dict[str, dict[str, str]]:
    """``…/<id>/<name>:<value>`` lines grouped by id."""
    grouped: dict[str, dict[str, str]] = {}
    for line in lines:
        match = _LINE[kind].search(line)
        if match:
            grouped.setdefault(match.group(1), {})[match.group(2)] = match.group(3).strip()
    return grouped


def millidegrees(raw: str) -> float | None:
    """°C from a zone's ``temp``: millidegrees by the ABI, whole degrees on a few old kernels."""
    try:
        value = float(raw)
    except ValueError:
        return None
    celsius = value / 1000 if abs(value) > 200 else value
    return celsius if TEMP_RANGE_C[0] <= celsius <= TEMP_RANGE_C[1] else None


def parse_thermal(lines: Sequence[str]) -> tuple[Zone, ...]:
    zones = []
    for zone, values in sorted(_fields(lines, "thermal").items(), key=lambda kv: int(kv[0])):
        temp = millidegrees(values.get("temp", ""))
        if temp is not None:
            zones.append(Zone(f"thermal_zone{zone}", values.get("type", "unknown"), temp))
    return tuple(zones)


def parse_cpufreq(lines: Sequence[str]) -> tuple[Core, ...]:
    return tuple(
        Core(int(cpu), _int(v.get("scaling_cur_freq")), _int(v.get("cpuinfo_max_freq")),
             _int(v.get("scaling_max_freq")), v.get("scaling_governor") or None)
        for cpu, v in sorted(_fields(lines, "cpufreq").items(), key=lambda kv: int(kv[0])))


def parse_power(lines: Sequence[str]) -> tuple[Supply, ...]:
    supplies = []
    for name, v in sorted(_fields(lines, "power").items()):
        online = _int(v.get("online"))
        supplies.append(Supply(name, v.get("type", "Unknown"), None if online is None else online > 0,
                               _int(v.get("capacity")), v.get("status") or None, _int(v.get("current_now")),
                               _int(v.get("voltage_now"))))
    return tuple(supplies)


def parse_screen(lines: Sequence[str]) -> str | None:
    for line in lines:
        match = re.search(r"Display Power: state=(\w+)", line)
        if match:
            return "on" if match.group(1).upper() in ("ON", "VR") else "off"
    for line in lines:
        match = re.search(r"mWakefulness=(\w+)", line)
        if match:
            return "on" if match.group(1) == "Awake" else "off"
    return None


def parse_thermal_status(lines: Sequence[str]) -> int | None:
    for line in lines:
        match = re.search(r"Thermal Status: (\d+)", line)
        if match:
            return int(match.group(1))
    return None


def parse_hal_temps(lines: Sequence[str]) -> tuple[Zone, ...]:
    """The HAL's CPU temperatures (type 0), last reading per sensor."""
    found: dict[str, Zone] = {}
    for line in lines:
        for value, kind, name, _ in _HAL_TEMP.findall(line):
            if kind == "0" and TEMP_RANGE_C[0] <= float(value) <= TEMP_RANGE_C[1]:
                found[name] = Zone(name, name, float(value))  # the HAL's name says the cluster
    return tuple(found.values())


def parse_samples(text: str, cpus: int, battery: bool) -> tuple[Sample, ...]:
    """Sampler lines; a line cut short by the end of the run is dropped."""
    width = 2 + cpus + (2 if battery else 0)
    samples = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != width or parts[0] != "S":
            continue
        try:
            numbers = [int(p) for p in parts[2:]]
            uptime = float(parts[1])
        except ValueError:
            continue
        clocks = tuple(numbers[:cpus])
        current, voltage = (numbers[cpus], numbers[cpus + 1]) if battery else (None, None)
        samples.append(Sample(uptime, clocks, current, voltage))
    return tuple(samples)


def _int(raw: str | None) -> int | None:
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


# --- what the readings mean ------------------------------------------------------------------

#: A run is throttled when the busiest used core ran this far below its max.
THROTTLE_RATIO = 0.9


def lowest_ratio(samples: Sequence[Sample], max_khz: Sequence[int | None]) -> float | None:
    """The lowest, over samples after the first (the launch), of the busiest used core's clock
    as a fraction of its max: idle cores' own DVFS does not count, a cap on the busy one does."""
    ratios = []
    for sample in samples[1:] if len(samples) > 1 else samples:
        per_core = [khz / top for khz, top in zip(sample.khz, max_khz, strict=False) if top]
        if per_core:
            ratios.append(max(per_core))
    return min(ratios) if ratios else None


@dataclass(frozen=True)
class Energy:
    power_w: float
    current_unit: str  # "uA" or "mA"
    voltage_unit: str  # "uV" or "mV"
    current_sign: str  # "negative_discharging", "positive_discharging", or "charging"
    samples: int


def energy(samples: Sequence[Sample], discharging: bool) -> Energy | None:
    """Mean battery power over the samples, with the units and sign the vendor chose.

    A phone drawing 50 mA–5 A reads 5e4–5e6 in µA and 50–5000 in mA, so the magnitude tells
    the unit; voltage likewise (~3.0e6–4.5e6 µV against 3000–4500 mV).
    """
    pairs = [(s.current, s.voltage) for s in samples if s.current is not None and s.voltage]
    if not pairs:
        return None
    currents = [c for c, _ in pairs]
    volts = [v for _, v in pairs]
    amp = 1e-6 if statistics.median(abs(c) for c in currents) >= 10000 else 1e-3
    volt = 1e-6 if statistics.median(volts) >= 100000 else 1e-3
    middle = statistics.median(currents)
    sign = "charging" if not discharging else ("negative_discharging" if middle < 0 else "positive_discharging")
    power = statistics.fmean(abs(c) * amp * v * volt for c, v in pairs)
    return Energy(power, "uA" if amp == 1e-6 else "mA", "uV" if volt == 1e-6 else "mV", sign, len(pairs))


def describe(snapshot: Snapshot, suffix: str) -> dict[str, Any]:
    """The ``conditions`` entries of one reading (``suffix``: ``before`` / ``after``)."""
    zones = {z.type: round(z.temp_c, 1) for z in snapshot.cpu_zones()}
    temp = snapshot.cpu_temp_c
    return {f"cpu_temp_c_{suffix}": None if temp is None else round(temp, 1), f"cpu_zones_c_{suffix}": zones}


def clocks(snapshot: Snapshot, cpus: Sequence[int]) -> Mapping[str, int | None]:
    return {f"cpu{cpu}": core.cur_khz if (core := snapshot.core(cpu)) else None for cpu in cpus}
