"""A device at a steady state around one item's run: cores, cooldown, clocks, temperatures, energy.

``Steady`` stands in for the item's device while its runner runs, so every runner gets the same
checks from one place: before the run it waits for the CPU zones to cool (``--cooldown-temp``,
``--cooldown-timeout``) and reads the device's state; each command runs under ``taskset`` with an
on-device sampler of clocks (and battery, with ``--energy``) beside it; after the run it reads
the state again. ``finish`` puts all of it in the record's ``conditions`` and ``flags``.

On the host only the cores apply: the runner pins itself (``--cpus``), nothing is read.
"""

from __future__ import annotations

import os
import shlex
import statistics
import time
import uuid
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_mobiledl.cores import CORE_SETS, cpu_list
from pytest_mobiledl.devices import QUICK_S, Kind, state

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from pytest_mobiledl.devices import Completed, Device
    from pytest_mobiledl.matrix import Case
    from pytest_mobiledl.options import Selection
    from pytest_mobiledl.record import RunRecord

#: Seconds between temperature polls while cooling down: one shell round trip each.
POLL_S = 0.5
#: Seconds between the on-device sampler's readings (a fuel gauge updates ~1/s anyway).
SAMPLE_S = 0.2


def select(cores: str, max_khz: Mapping[int, int | None]) -> tuple[int, ...]:
    """The cpus ``cores`` names on a device with these per-core max clocks.

    ``big`` is every core faster than the slowest cluster (prime + big on a 1+3+4 phone), and
    ``little`` the slowest cluster; on one cluster, or clocks unknown, both are all cores.
    """
    every = tuple(sorted(max_khz))
    if cores == "all":
        return every
    if cores not in CORE_SETS:
        return cpu_list(cores) or ()
    known = {cpu: khz for cpu, khz in max_khz.items() if khz}
    if len(set(known.values())) < 2:
        return every
    slowest = min(known.values())
    return tuple(cpu for cpu in every if (known.get(cpu, slowest) > slowest) == (cores == "big"))


def device_cpus(device: Device, cores: str) -> tuple[int, ...]:
    if device.kind is Kind.HOST:
        return select(cores, _host_max_khz())
    clocks = device.info().get("cpu_max_khz") or []
    count = int(device.info().get("cores") or len(clocks))
    return select(cores, {cpu: clocks[cpu] if cpu < len(clocks) else None for cpu in range(count)})


@cache
def _host_max_khz() -> dict[int, int | None]:
    """The cpus this process may use, with their max clocks where cpufreq says them."""
    clocks: dict[int, int | None] = {}
    for cpu in sorted(os.sched_getaffinity(0)):
        try:
            clocks[cpu] = int(Path(f"/sys/devices/system/cpu/cpu{cpu}/cpufreq/cpuinfo_max_freq").read_text())
        except (OSError, ValueError):
            clocks[cpu] = None
    return clocks


def unsupported(device: Device, case: Case, selection: Selection) -> str | None:
    """Why the chosen cores cannot run this case on this device (a skip reason), or None."""
    cpus = device_cpus(device, selection.cores)
    every = device_cpus(device, "all")
    missing = sorted(set(cpus) - set(every))
    if missing or not cpus:
        return (f"--cores={selection.cores}: {device.serial} has no cpu {', '.join(map(str, missing)) or ''}"
                f" (it has {_span(every)})")
    if case.threads > len(cpus):
        return (f"{case.threads} threads on the {len(cpus)} {selection.cores} cores ({_span(cpus)}) of "
                f"{device.serial} would share cores; use fewer --threads or --cores=all")
    return None


def mask(cpus: Sequence[int]) -> str:
    """taskset's hex mask."""
    return format(sum(1 << cpu for cpu in cpus), "x")


def _span(cpus: Sequence[int]) -> str:
    return ",".join(map(str, cpus)) or "none"


class Steady:
    """The item's device, wrapped: a Device itself, whose ``run`` adds the checks."""

    def __init__(self, device: Device, selection: Selection) -> None:
        self.device = device
        self.serial = device.serial
        self.workdir = device.workdir
        self.kind = device.kind
        self.selection = selection
        self.cpus = device_cpus(device, selection.cores)
        self.phone = device.kind is Kind.ADB
        self._before: state.Snapshot | None = None
        self._waited_s = 0.0
        self._from_c: float | None = None
        self._hot = False
        self._outs: list[str] = []
        self._battery: str | None = None

    # -- the Device protocol, passed through --
    def info(self) -> Mapping[str, Any]:
        return self.device.info()

    def deploy(self, local: Path) -> str:
        return self.device.deploy(local)

    def cleanup(self) -> None:
        self.device.cleanup()

    def shell(self, command: str, timeout: float = QUICK_S) -> Completed:
        return self.device.shell(command, timeout)

    def put(self, content: bytes, remote: str) -> None:
        self.device.put(content, remote)

    def pull(self, remote: str, local: Path) -> None:
        self.device.pull(remote, local)

    def hold(self, run_s: float, wait_s: float) -> AbstractContextManager[None]:
        return self.device.hold(run_s, wait_s)

    def reap(self) -> None:
        self.device.reap()

    def reserve(self, argvs: Sequence[Sequence[str]], timeout: float) -> None:
        self.device.reserve(argvs, timeout)

    def run(self, argv: Sequence[str], timeout: float) -> Completed:
        if not self.phone:
            return self.device.run(argv, timeout)
        if self._before is None:
            self.begin()
        out = f"{self.device.workdir}/.mobiledl-samples-{uuid.uuid4().hex[:8]}"
        self._outs.append(out)
        sampler = state.sampler_script(self.cpus, self._battery, out, SAMPLE_S)
        # exec keeps the pid the device layer kills on a timeout; the sampler ends with it.
        script = f'{sampler} exec taskset {mask(self.cpus)} "$@"'
        return self.device.run(["sh", "-c", script, "sh", *argv], timeout)

    # -- before and after --
    def begin(self) -> None:
        """Wait until the CPU zones are at or below --cooldown-temp (or the timeout), then read.

        The last poll starts at or after the deadline, so a slow read never makes a cool phone
        look hot.
        """
        started = time.monotonic()
        first = before = self._read(state.state_script())
        target, deadline = self.selection.cooldown_temp, started + self.selection.cooldown_timeout
        poll = state.state_script(("thermal",) if before.zones or not before.hal_zones else ("dumpsys",))
        temp, read_at = before.cpu_temp_c, started
        while temp is not None and temp > target and read_at < deadline:
            time.sleep(min(POLL_S, max(0.0, deadline - time.monotonic())))
            read_at = time.monotonic()
            temp = self._read(poll).cpu_temp_c
        if temp != first.cpu_temp_c:  # it waited: read everything again, as the run starts
            before = self._read(state.state_script())
        self._from_c = first.cpu_temp_c
        self._waited_s = time.monotonic() - started
        self._hot = temp is not None and temp > target
        self._before = before
        battery = before.battery
        self._battery = battery.name if self.selection.energy and battery else None

    def finish(self, record: RunRecord) -> RunRecord:
        """The record with the device's conditions and what they flag."""
        return self.finish_all([record])[0]

    def finish_all(self, records: Sequence[RunRecord]) -> list[RunRecord]:
        """Records of runs made together (a lockstep block): the device's state read once, for all."""
        conditions: dict[str, Any] = {"cores": self.selection.cores, "cpus": list(self.cpus),
                                      "cpu_mask": mask(self.cpus)}
        if not self.phone or self._before is None:  # the host runner's own affinity wins
            return [r.with_(conditions={**conditions, **r.conditions}) for r in records]
        files = shlex.join(self._outs)
        text = self.device.shell(state.state_script(("thermal", "cpufreq")) +
                                 f"; echo @@samples; cat {files} 2>/dev/null; rm -f {files}").stdout
        after = state.parse(text)
        samples = state.parse_samples("\n".join(state.sections(text).get("samples", [])), len(self.cpus),
                                      self._battery is not None)
        before, flags = self._before, []
        tops = [core.max_khz if (core := before.core(cpu)) else None for cpu in self.cpus]
        lowest = state.lowest_ratio(samples, tops)
        governors = sorted({c.governor for cpu in self.cpus if (c := before.core(cpu)) and c.governor})
        battery = before.battery
        conditions.update({
            "cooldown_temp_c": self.selection.cooldown_temp, "cooldown_waited_s": round(self._waited_s, 2),
            "cooldown_from_c": None if self._from_c is None else round(self._from_c, 1),
            **state.describe(before, "before"), **state.describe(after, "after"),
            "freq_max_khz": {f"cpu{cpu}": top for cpu, top in zip(self.cpus, tops, strict=True)},
            "freq_khz_before": state.clocks(before, self.cpus), "freq_khz_after": state.clocks(after, self.cpus),
            "freq_samples": len(samples), "freq_lowest_ratio": None if lowest is None else round(lowest, 3),
            "freq_sampled_khz": _spread(samples, self.cpus),
            "governor": ",".join(governors) or None, "thermal_status": before.thermal_status,
            "battery_pct": battery.capacity if battery else None, "battery_status": battery.status if battery else None,
            "power_source": before.power_source, "screen": before.screen, "fingerprint": before.fingerprint,
        })
        if self._hot:
            flags.append("hot_start")
        if lowest is not None and lowest < state.THROTTLE_RATIO:
            flags.append("throttled")
        if self.selection.energy and before.power_source not in (None, "battery"):
            flags.append("usb_powered")
        finished = []
        for record in records:
            energy = self._energy(record, samples, before) if self.selection.energy else {}
            finished.append(record.with_(conditions={**record.conditions, **conditions, **energy},
                                         flags=tuple(dict.fromkeys([*record.flags, *flags]))))
        return finished

    def _energy(self, record: RunRecord, samples: Sequence[state.Sample], before: state.Snapshot) -> dict[str, Any]:
        battery = before.battery
        discharging = bool(battery and battery.status in ("Discharging", "Not charging"))
        reading = state.energy(samples, discharging)
        if reading is None:
            return {"energy_mj_per_inference": None,
                    "energy_caveats": ["no battery current/voltage readable during the run"]}
        latency = statistics.fmean(record.samples_ms) if record.samples_ms else record.summary_ms["mean"]
        caveats = ["whole-phone power (screen, radios and idle drain included), not the model's alone",
                   f"{reading.samples} readings {SAMPLE_S:g} s apart over the whole run (load and warm-up "
                   "included); fuel gauges update current_now about once a second"]
        if before.power_source not in (None, "battery"):
            caveats.append(f"powered by {before.power_source}: the charging current masks the drain")
        return {"power_w": round(reading.power_w, 4),
                "energy_mj_per_inference": round(reading.power_w * latency, 4),  # W × ms = mJ
                "current_unit": reading.current_unit, "voltage_unit": reading.voltage_unit,
                "current_sign": reading.current_sign, "energy_samples": reading.samples,
                "energy_caveats": caveats}

    def _read(self, script: str) -> state.Snapshot:
        return state.parse(self.device.shell(script).stdout)


def _spread(samples: Sequence[state.Sample], cpus: Sequence[int]) -> dict[str, list[int]]:
    """Per used core: the lowest, median and highest clock the sampler saw (kHz)."""
    columns = {cpu: [s.khz[i] for s in samples] for i, cpu in enumerate(cpus)} if samples else {}
    return {f"cpu{cpu}": [min(col), int(statistics.median(col)), max(col)] for cpu, col in columns.items()}
