"""Parity: is a converted artifact numerically the model it claims to be?

Each artifact is run once on the host with the seeded inputs and compared with the source
framework's output on the same inputs. Errors are relative to the reference's largest magnitude,
so one tolerance serves logits and boxes alike. With random weights top-1 agreement says little:
values are compared.

| precision | passes when |
|---|---|
| fp32 | max relative error ≤ 1e-4 |
| fp16 | max relative error ≤ 1e-2 |
| int8 | max relative error ≤ 5e-2, or cosine similarity ≥ 0.99 |

A comparison proves something only if a wrong model would fail it: ``sensitivity`` is how much
the source's own output moves between two seeded inputs. Below the tolerance, a conversion that
ignored its input would pass, so parity is reported as not proven.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

TOLERANCE = {"fp32": 1e-4, "fp16": 1e-2, "int8": 5e-2}
INT8_COSINE = 0.99


def sensitivity(reference: Sequence[np.ndarray], other: Sequence[np.ndarray]) -> float:
    """How far the source's output moves for another input, relative to its largest magnitude."""
    import numpy as np

    a = np.concatenate([np.asarray(r, dtype=np.float64).ravel() for r in reference])
    b = np.concatenate([np.asarray(r, dtype=np.float64).ravel() for r in other])
    return float(np.abs(a - b).max() / (np.abs(a).max() or 1.0))


def compare(reference: Sequence[np.ndarray], outputs: Sequence[np.ndarray], precision: str,
            input_sensitivity: float | None = None) -> dict[str, Any]:
    """Parity numbers for one artifact; ``passed`` says whether they are within tolerance."""
    import numpy as np

    ref = [np.asarray(r, dtype=np.float64).ravel() for r in reference]
    got = _pair(ref, [np.asarray(o, dtype=np.float64).ravel() for o in outputs])
    if got is None:
        return {"passed": False, "precision": precision, "tolerance": TOLERANCE[precision],
                "error": f"output sizes {[o.size for o in outputs]} do not match the source's {[r.size for r in ref]}"}
    a, b = np.concatenate(ref), np.concatenate(got)
    scale = float(np.abs(a).max()) or 1.0
    rel = float(np.abs(a - b).max()) / scale
    denom = float(np.linalg.norm(a) * np.linalg.norm(b))
    cosine = float(a @ b) / denom if denom else float(np.array_equal(a, b))
    passed = bool(np.isfinite(b).all()) and (
        rel <= TOLERANCE[precision] or (precision == "int8" and cosine >= INT8_COSINE))
    result = {"passed": passed, "precision": precision, "tolerance": TOLERANCE[precision],
              "max_abs_err": float(np.abs(a - b).max()), "max_rel_err": rel, "cosine": cosine,
              "sensitivity": input_sensitivity}
    if input_sensitivity is not None and input_sensitivity < TOLERANCE[precision]:
        result |= {"passed": False, "error": f"not proven: the source's output moves only {input_sensitivity:.1e} "
                                            f"between inputs, less than the tolerance"}
    return result


def describe(parity: dict[str, Any]) -> str:
    """One line for a failed item or a table cell."""
    if "error" in parity:
        return f"parity failed: {parity['error']}"
    verdict = "ok" if parity["passed"] else "FAILED"
    return (f"parity {verdict}: max rel err {parity['max_rel_err']:.2e} (tolerance {parity['tolerance']:g}), "
            f"cosine {parity['cosine']:.5f}")


def _pair(ref: list[np.ndarray], got: list[np.ndarray]) -> list[np.ndarray] | None:
    """Outputs in the source's order. Converters may reorder outputs or drop a batch dim, so
    outputs are matched by element count, in order, when the order itself does not match."""
    if len(ref) != len(got):
        return None
    if all(r.size == g.size for r, g in zip(ref, got, strict=True)):
        return got
    left = list(range(len(got)))
    paired = []
    for r in ref:
        index = next((i for i in left if got[i].size == r.size), None)
        if index is None:
            return None
        left.remove(index)
        paired.append(got[index])
    return paired
