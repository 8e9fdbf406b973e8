"""The device's state around its runs (``RunRecord.conditions`` and the ``hot_start``/``throttled``
flags, see docs/design.md "A phone at a steady state"): a table per run × device for the report,
and one short line per device for the terminal.

A phone's number is only as good as the phone's state: a throttled run measures the thermal
governor as much as the library. The keys are written by ``steady.py``; a key it could not read
is ``None`` and is left out here, never shown as zero.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pytest_mobiledl.report.inputs import Run

if TYPE_CHECKING:
    import pandas as pd

#: An ADB device with one of these ABIs runs this kind of machine's binaries: phones are ARM, so
#: it is an emulator (ours, or Android Studio's), running on the cores of the machine hosting it.
EMULATED_ABIS = ("x86_64", "x86")
COLUMNS = ["run", "device", "runs", "CPU °C before", "CPU °C after", "lowest clock ÷ max", "throttled",
           "hot start", "cooldown s", "governor", "battery %", "power", "thermal status", "note"]
NOTE = ("per run and device, over its runs (repeats): CPU temperature just before and just after each run "
        "(median, and the hottest); lowest clock ÷ max: the busiest used core's lowest sampled clock over its "
        "max, lowest over the runs; throttled: runs where it fell ≥ 10 % below max; hot start: runs begun "
        "above --cooldown-temp after --cooldown-timeout; cooldown s: time spent waiting to cool, in total; "
        "thermal status: the highest Android thermal status seen (0 none … 6 shutdown)")


def emulated(device: Mapping[str, Any]) -> bool:
    return device.get("kind") == "adb" and device.get("abi") in EMULATED_ABIS


def table(runs: Sequence[Run], tags: Mapping[str, str], df: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per run × device that reported its state (``tags``: run label → its tag)."""
    import pandas as pd

    shown = None if df is None else set(zip(df["run"], df["device"], df["base_lib"], strict=True))
    rows = []
    for run in runs:
        tag = tags[run.label]
        records = [r for r in run.records if shown is None or (tag, _serial(r), r.lib) in shown]
        sharing = _sharing(records)
        for serial, mine in _by_device(records).items():
            summary = _summary(mine)
            note = _emulated_note(serial, sharing) if serial in sharing else ""
            if summary is None and not note:
                continue
            s = summary or {}
            rows.append({"run": tag, "device": serial, "runs": len(mine),
                         "CPU °C before": _temps(s.get("before")), "CPU °C after": _temps(s.get("after")),
                         "lowest clock ÷ max": _num(s.get("lowest"), ".2f"),
                         "throttled": _count(s.get("throttled"), len(mine)),
                         "hot start": _count(s.get("hot"), len(mine)),
                         "cooldown s": _num(s.get("waited"), ".1f"), "governor": s.get("governor") or "—",
                         "battery %": s.get("battery") or "—", "power": s.get("power") or "—",
                         "thermal status": _num(s.get("thermal"), "d"), "note": note or "—"})
    return pd.DataFrame(rows, columns=COLUMNS)


def lines(records: Sequence[Any]) -> list[str]:
    """One short line per device that reported its state, and a warning for emulated devices.

    ``mobiledl conditions: R58M123: CPU 34.0 → 47.5 °C (median before → after; hottest 52.0),
    lowest clock 0.72 of max, throttled in 3 of 10 runs, hot start in 0 of 10``
    """
    out = []
    for serial, mine in _by_device(records).items():
        s = _summary(mine)
        if s is None:
            continue
        parts = []
        if s["before"] and s["after"]:
            parts.append(f"CPU {s['before'][0]:.1f} → {s['after'][0]:.1f} °C (median before → after; "
                         f"hottest {max(s['before'][1], s['after'][1]):.1f})")
        if s["lowest"] is not None:
            parts.append(f"lowest clock {s['lowest']:.2f} of max")
        parts.append(f"throttled in {s['throttled']} of {len(mine)} runs, hot start in {s['hot']} of {len(mine)}")
        out.append(f"mobiledl conditions: {serial}: " + ", ".join(parts))
    sharing = _sharing(records)
    if sharing:
        out.append("mobiledl conditions: " + _warning(sorted(sharing), set().union(*sharing.values()) - set(sharing)))
    return out


def _sharing(records: Iterable[Any]) -> dict[str, set[str]]:
    """Emulated device → the other devices of these records on the same machine's cores."""
    devices = {_serial(r): r.device for r in records}
    here = {s for s, info in devices.items() if emulated(info) or info.get("kind") == "host" or s == "host"}
    return {s: here - {s} for s, info in devices.items() if emulated(info)}


def _emulated_note(serial: str, sharing: Mapping[str, set[str]]) -> str:
    others = sorted(sharing[serial])
    return "emulated: this machine's CPU" + (f", shared with {', '.join(others)}" if others else "")


def _warning(emulated: Sequence[str], others: set[str]) -> str:
    """Emulated devices: whose numbers they are, and with whom they share cores."""
    one = len(emulated) == 1
    text = f"{', '.join(emulated)} {'is' if one else 'are'} emulated: latencies of this machine, not of a phone"
    if others or not one:
        text += (f"; {', '.join(sorted({*emulated, *others}))} share this machine's cores: run in parallel (-n), "
                 "they slow each other")
    return text


def _by_device(records: Iterable[Any]) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for r in records:
        found.setdefault(_serial(r), []).append(r)
    return dict(sorted(found.items()))


def _serial(record: Any) -> str:
    return str(record.device.get("serial", "?"))


def _summary(records: Sequence[Any]) -> dict[str, Any] | None:
    """What the records say of the device's state; None when none of them observed it."""
    def values(key: str) -> list[Any]:
        return [r.conditions[key] for r in records if r.conditions.get(key) is not None]

    before, after, lowest = values("cpu_temp_c_before"), values("cpu_temp_c_after"), values("freq_lowest_ratio")
    if not (before or after or lowest):
        return None
    battery = values("battery_pct")
    return {
        "before": (statistics.median(before), max(before)) if before else None,
        "after": (statistics.median(after), max(after)) if after else None,
        "lowest": min(lowest) if lowest else None,
        "throttled": sum("throttled" in r.flags for r in records),
        "hot": sum("hot_start" in r.flags for r in records),
        "waited": sum(values("cooldown_waited_s")) if values("cooldown_waited_s") else None,
        "governor": ", ".join(sorted(set(values("governor")))),
        "battery": (f"{max(battery)}" if min(battery) == max(battery) else f"{max(battery)} → {min(battery)}")
        if battery else "",
        "power": ", ".join(sorted(set(values("power_source")))),
        "thermal": max(values("thermal_status"), default=None),
    }


def _temps(pair: tuple[float, float] | None) -> str:
    return "—" if pair is None else f"{pair[0]:.1f} (max {pair[1]:.1f})"


def _num(value: Any, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def _count(value: int | None, total: int) -> str:
    return "—" if value is None else f"{value} of {total}"
