"""What a loopback device says it is: build properties, cores and their clocks, memory.

A props file is build.prop-style (`key=value`, `#` comments). Keys under `emulator.` configure the
hardware facts instead of becoming properties:

    ro.product.model=Pixel 8
    emulator.cpu.max_freq_khz=4x1800000,4x2400000   # one clock per core: 4 LITTLE + 4 big
    emulator.mem_total_kb=7812500
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from pytest_mobiledl.emulator.errors import EmulatorError

DEFAULT_PROPERTIES: Mapping[str, str] = MappingProxyType(
    {
        "ro.product.manufacturer": "MobileDL",
        "ro.product.brand": "mobiledl",
        "ro.product.name": "loopback",
        "ro.product.model": "Loopback 8",
        "ro.product.device": "loopback",
        "ro.hardware": "loopback",
        "ro.board.platform": "loopback",
        "ro.soc.manufacturer": "MobileDL",
        "ro.soc.model": "LB8000",
        # The device runs this machine's binaries, so it tells the truth about its ABI.
        "ro.product.cpu.abi": "x86_64",
        "ro.product.cpu.abilist": "x86_64",
        "ro.product.cpu.abilist64": "x86_64",
        "ro.build.version.sdk": "34",
        "ro.build.version.release": "14",
        "ro.build.type": "user",
        "ro.build.fingerprint": "mobiledl/loopback/loopback:14/LB1.0/1:user/release-keys",
        "ro.debuggable": "0",
    }
)
BIG_LITTLE_KHZ = (1800000,) * 4 + (2400000,) * 4
DEFAULT_MEM_TOTAL_KB = 8 * 1024 * 1024

_CPU_KEY = "emulator.cpu.max_freq_khz"
_MEM_KEY = "emulator.mem_total_kb"


@dataclass(frozen=True)
class DeviceProps:
    properties: Mapping[str, str] = field(default_factory=lambda: DEFAULT_PROPERTIES)
    # One entry per core, in core order; its length is the core count.
    cpu_max_freq_khz: tuple[int, ...] = BIG_LITTLE_KHZ
    mem_total_kb: int = DEFAULT_MEM_TOTAL_KB

    def __post_init__(self) -> None:
        object.__setattr__(self, "properties", MappingProxyType(dict(self.properties)))
        if not self.cpu_max_freq_khz or min(self.cpu_max_freq_khz) <= 0:
            raise EmulatorError(f"cpu_max_freq_khz needs one positive clock per core, got {self.cpu_max_freq_khz}")
        if self.mem_total_kb <= 0:
            raise EmulatorError(f"mem_total_kb must be positive, got {self.mem_total_kb}")
        bad = [key for key in self.properties if not key or "=" in key or "\n" in key + self.properties[key]]
        if bad:
            raise EmulatorError(f"property names need no '=' or newline, values no newline: {bad}")

    @property
    def cores(self) -> int:
        return len(self.cpu_max_freq_khz)

    def with_properties(self, properties: Mapping[str, str]) -> DeviceProps:
        """A copy with these properties added or changed."""
        return dataclasses.replace(self, properties={**self.properties, **properties})

    def build_prop(self) -> str:
        return "".join(f"{key}={value}\n" for key, value in sorted(self.properties.items()))

    @classmethod
    def from_file(cls, path: str | Path) -> DeviceProps:
        """Defaults overridden by a props file (see the module docstring)."""
        entries = parse_build_prop(Path(path).read_text(), str(path))
        cpu = entries.pop(_CPU_KEY, None)
        mem = entries.pop(_MEM_KEY, None)
        unknown = [key for key in entries if key.startswith("emulator.")]
        if unknown:
            raise EmulatorError(f"{path}: unknown keys {unknown}; known: {_CPU_KEY}, {_MEM_KEY}")
        return cls(
            properties={**DEFAULT_PROPERTIES, **entries},
            cpu_max_freq_khz=parse_clocks(cpu, str(path)) if cpu else BIG_LITTLE_KHZ,
            mem_total_kb=_positive_int(mem, _MEM_KEY, str(path)) if mem else DEFAULT_MEM_TOTAL_KB,
        )


def parse_build_prop(text: str, origin: str = "props") -> dict[str, str]:
    entries: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise EmulatorError(f"{origin}:{number}: expected key=value, got {raw!r}")
        entries[key.strip()] = value.strip()
    return entries


def parse_clocks(text: str, origin: str = "props") -> tuple[int, ...]:
    """'4x1800000,4x2400000' or '1800000,1800000,...' → one clock (kHz) per core."""
    clocks: list[int] = []
    for part in text.split(","):
        count, _, khz = part.strip().rpartition("x")
        clocks += [_positive_int(khz, _CPU_KEY, origin)] * (_positive_int(count, _CPU_KEY, origin) if count else 1)
    return tuple(clocks)


def _positive_int(text: str, key: str, origin: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise EmulatorError(f"{origin}: {key} needs positive integers, got {text!r}")
    return value
