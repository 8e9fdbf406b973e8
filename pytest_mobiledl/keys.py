"""The names results go by between the item and the controller, and what a node id says.

A leaf module (no imports of this package): the worker side (``bench``, ``ops/host``) writes
these keys and the controller side (``results``, ``journal``, ``ops/collect``, ``scheduling``)
reads them, so neither side imports the other for a string.

A benchmark item's node id is ``path::test[<device>-<lib>[@<label>]-<model>-<backend>-<precision>-t<N>[-r<K>]]``
(``matrix.Case.id``, ``matrix.repeat_id``): its parameters start with the device's serial, and
the case's item is the node id without the repeat.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pytest

#: user_properties key under which an item's record travels to the controller (also across xdist).
RECORD_KEY = "mobiledl_record"
#: user_properties key naming the case's item (the node id without the repeat): what is stored.
ITEM_KEY = "mobiledl_item"
#: user_properties key under which an op profile travels (``ops/``).
OPS_KEY = "mobiledl_ops"
#: engine_options key holding a --variant's label.
VARIANT = "variant"


def carried(report: pytest.TestReport) -> tuple[dict[str, Any] | None, str]:
    """What an item's report carries to the controller: its record (None when it has none) and the
    case's item its repeats are pooled under."""
    props = dict(report.user_properties)
    record = props.get(RECORD_KEY)
    return (record if isinstance(record, dict) else None), str(props.get(ITEM_KEY, report.nodeid))


def build_name(lib: str, label: str) -> str:
    """How ids and tables name a build: ``onnxruntime``, or ``onnxruntime@old`` for a --variant's."""
    return f"{lib}@{label}" if label else lib


def device_of(nodeid: str, serials: Iterable[str]) -> str | None:
    """The device of a benchmark item (its parameters start with the serial), or None.
    Give ``serials`` longest first where one may start another (``emulator-5554`` before ``emu``)."""
    _, bracket, param = nodeid.partition("[")
    if bracket:
        for serial in serials:
            if param.startswith(f"{serial}-"):
                return serial
    return None


def case_item(nodeid: str, test_id: str, case_id: str) -> str:
    """The case's item for one repeat's node id: its test id (``…-r2``) replaced by the case's."""
    return nodeid.replace(f"[{test_id}]", f"[{case_id}]")


def name_of(nodeid: str) -> str:
    """The node id without its file: ``test_latency[host-tflite-…]``, as lines and tables name an item."""
    return nodeid.rpartition("::")[2]


def param(nodeid: str) -> str:
    """The parameters of a node id: ``host-tflite-…`` (empty for a test without them)."""
    return name_of(nodeid).partition("[")[2].rstrip("]")
