"""Latencies no device could achieve: the floor a model's work sets, and the check against it.

A published benchmark of these libraries stored ResNet-50 at 0.002 ms from a broken run. Such a
number is rejected before it is stored. The floor is the model's operations (2 per
multiply-accumulate) at a peak no device this plugin measures reaches: the fastest phone
accelerators advertise tens of int8 TOPS (and sustain a fraction of it), no phone CPU or GPU
reaches 10 TFLOPS at fp32, and the host runner uses the host's CPU. A run faster than the model's
work allows at that peak did not run the model.
"""

from __future__ import annotations

from pytest_mobiledl.record import RunRecord

#: Operations per second above any device measured here (100 TOPS).
PEAK_OPS_PER_S = 100e12


def floor_ms(macs: int) -> float:
    """The least time ``macs`` multiply-accumulates can take at ``PEAK_OPS_PER_S``."""
    return 2 * macs / PEAK_OPS_PER_S * 1e3


def check(record: RunRecord, macs: int | None) -> str | None:
    """Why the record cannot be a real run of its model, or None. Unknown MACs check nothing."""
    if not macs:
        return None
    fastest = min(record.samples_ms) if record.samples_ms is not None else min(
        v for k, v in record.summary_ms.items() if k != "std")
    floor = floor_ms(macs)
    if fastest >= floor:
        return None
    return (f"implausible: a run of {fastest:.3g} ms for {record.model} ({macs / 1e9:.3g} GMACs) is faster than "
            f"{PEAK_OPS_PER_S / 1e12:.0f} TOPS allows (≥ {floor:.3g} ms); not stored")
