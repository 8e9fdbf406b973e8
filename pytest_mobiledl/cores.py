"""The cpus a run may use, as ``--cores`` names them: ``big``, ``little``, ``all`` or a cpu list.

Below both the options (which check the syntax at parse time) and ``steady`` (which resolves the
name against each device's clocks), so neither imports the other for it.
"""

from __future__ import annotations

import re

CORE_SETS = ("big", "little", "all")


def parse_cores(value: str) -> str:
    """``big``, ``little``, ``all`` or a cpu list (``4-7``, ``0,2,4``); checked for syntax here,
    against each device's cores when items are made."""
    value = value.strip()
    if value in CORE_SETS or (value and cpu_list(value) is not None):
        return value
    raise ValueError(f"{value!r} is not big, little, all or a cpu list such as 4-7 or 0,2,4")


def cpu_list(value: str) -> tuple[int, ...] | None:
    """The cpus of a list such as ``4-7`` or ``0,2,4``, or None if it is not one."""
    cpus: set[int] = set()
    for part in value.split(","):
        match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not match or (match.group(2) and int(match.group(2)) < int(match.group(1))):
            return None
        cpus.update(range(int(match.group(1)), int(match.group(2) or match.group(1)) + 1))
    return tuple(sorted(cpus))
