"""Reports: tables from records (``tables``, ``analyses``), shown as text, HTML with plots, or CSV.

``tables`` and ``analyses`` hold pandas frames and no I/O, ``cells`` how a figure is written
in one; ``inputs`` reads saved runs and journals back into records; ``page`` and ``plots`` make
the HTML (matplotlib loads only there); ``cli`` is ``mobiledl report``. The session's own tables
keep their old names here.
"""

from __future__ import annotations

from pytest_mobiledl.report.cells import lib_name
from pytest_mobiledl.report.tables import (
    CASE,
    MIN_CONTROLS,
    PLACE,
    best_per_lib,
    changes,
    changes_note,
    drift,
    fragmentation,
    frame,
    gap,
    sweep,
    trend,
    variants,
    variants_note,
)

__all__ = [
    "CASE",
    "MIN_CONTROLS",
    "PLACE",
    "best_per_lib",
    "changes",
    "changes_note",
    "drift",
    "fragmentation",
    "frame",
    "gap",
    "lib_name",
    "sweep",
    "trend",
    "variants",
    "variants_note",
]
