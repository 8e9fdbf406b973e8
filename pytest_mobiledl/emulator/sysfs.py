"""A loopback device's thermal zones, CPU clocks and battery: real files a thread keeps current.

The files sit in the device's facts folder and are seen where a phone has them
(``/sys/class/thermal``, ``/sys/class/power_supply``, ``/sys/devices/system/cpu/cpuN/cpufreq``),
bound there by the chroot or rewritten to there, so anything reading them with ``cat``, ``grep``
or a shell's ``read`` through the real adb server reads what a phone would show.

A small programmable model drives them (``device.sysfs``)::

    device.sysfs.heat(52.0, seconds=2.0)   # CPU zones at 52 °C, cooling linearly to idle in 2 s
    device.sysfs.heat(52.0, seconds=2.0, trigger="taskset")  # the same, from the next command
                                                              # whose text has "taskset" (a run)
    device.sysfs.set_battery(current_ua=-500_000, voltage_uv=4_000_000, usb=False)

While a CPU zone is above ``throttle_c`` every core's ``scaling_cur_freq`` and
``scaling_max_freq`` fall to ``throttle_ratio`` of its max, as a cpufreq cooling device does.
Files are replaced whole (write, then rename), so a reader never sees half a number.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from pytest_mobiledl.emulator.layout import Layout
from pytest_mobiledl.emulator.props import DeviceProps

IDLE_C = 32.0  # a phone's CPU zones at rest in a room; below the plugin's default --cooldown-temp
THROTTLE_C = 45.0
THROTTLE_RATIO = 0.6
TICK_S = 0.05
#: Zone types as a Qualcomm phone names them: one per cluster, then the battery's.
ZONES = ("cpu-0-0-usr", "cpu-1-0-usr", "battery")


@dataclass(frozen=True)
class Battery:
    current_ua: int = -450_000  # negative while discharging, as Pixels report it
    voltage_uv: int = 3_950_000
    capacity: int = 80
    usb: bool = False

    @property
    def status(self) -> str:
        return "Charging" if self.usb else "Discharging"


class Sysfs:
    def __init__(self, layout: Layout, props: DeviceProps) -> None:
        self.layout = layout
        self.max_khz = props.cpu_max_freq_khz
        self.idle_c = IDLE_C
        self.throttle_c = THROTTLE_C
        self.throttle_ratio = THROTTLE_RATIO
        self._peak_c = IDLE_C
        self._heated_at = 0.0
        self._cool_s = 0.0
        self._trigger = ""
        self._battery = Battery()
        self._written: dict[Path, str] = {}
        self._lock = threading.Lock()
        self._writing = threading.Lock()  # the ticker and a test programming the model
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.write()

    # -- programming --
    def heat(self, temp_c: float, seconds: float, trigger: str = "") -> None:
        """CPU zones at ``temp_c`` now, back at idle after ``seconds`` (linearly).

        With a ``trigger``, the heat starts at the next shell command whose text contains it
        (``thermal_zone``: the first state read; ``taskset``: the run), whenever that comes.
        """
        with self._lock:
            self._peak_c, self._heated_at, self._cool_s = temp_c, time.monotonic(), seconds
            self._trigger = trigger
        self.write()

    def saw_command(self, command: str) -> None:
        """The device is about to run ``command``: a pending heat may start now."""
        with self._lock:
            if not self._trigger or self._trigger not in command:
                return
            self._heated_at, self._trigger = time.monotonic(), ""
        self.write()

    def set_battery(self, current_ua: int, voltage_uv: int, usb: bool = False, capacity: int = 80) -> None:
        with self._lock:
            self._battery = Battery(current_ua, voltage_uv, capacity, usb)
        self.write()

    def cpu_temp_c(self, now: float | None = None) -> float:
        with self._lock:
            left = self._heated_at + self._cool_s - (time.monotonic() if now is None else now)
            if left <= 0 or self._cool_s <= 0 or self._trigger:
                return self.idle_c
            return self.idle_c + (self._peak_c - self.idle_c) * left / self._cool_s

    # -- the files --
    def write(self) -> None:
        temp = self.cpu_temp_c()
        files: dict[Path, str] = {}
        zones = self.layout.thermal
        for index, kind in enumerate(ZONES):
            degrees = temp if kind.startswith("cpu") else self.idle_c - 4
            files[zones / f"thermal_zone{index}" / "type"] = kind
            files[zones / f"thermal_zone{index}" / "temp"] = str(round(degrees * 1000))
        ratio = self.throttle_ratio if temp > self.throttle_c else 1.0
        for core, khz in enumerate(self.max_khz):
            freq = self.layout.cpu / f"cpu{core}" / "cpufreq"
            files[freq / "scaling_cur_freq"] = files[freq / "scaling_max_freq"] = str(int(khz * ratio))
            files[freq / "scaling_governor"] = "schedutil"
        battery, power = self._battery, self.layout.power_supply
        for name, value in (("type", "Battery"), ("capacity", battery.capacity), ("status", battery.status),
                            ("current_now", battery.current_ua), ("voltage_now", battery.voltage_uv),
                            ("present", 1)):
            files[power / "battery" / name] = str(value)
        files[power / "usb" / "type"] = "USB"
        files[power / "usb" / "online"] = "1" if battery.usb else "0"
        with self._writing:
            for path, text in files.items():
                if self._written.get(path) != text:
                    _replace(path, text + "\n")
                    self._written[path] = text

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._tick, name="mobiledl-sysfs", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _tick(self) -> None:
        while not self._stop.wait(TICK_S):
            try:
                self.write()
            except OSError:
                return  # the device folder is gone: the device is closing


def _replace(path: Path, text: str) -> None:
    if not path.parent.is_dir():
        path.parent.mkdir(parents=True)
        for parent in (path.parent, path.parent.parent):
            parent.chmod(0o755)  # explicit: mkdir's mode is masked by the umask
    temp = path.with_name(f".{path.name}.new")
    temp.write_text(text)
    temp.chmod(0o644)
    os.replace(temp, path)
