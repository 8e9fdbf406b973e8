"""Tensor descriptions and the seeded inputs every runner and parity check feeds a model."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

#: Integer inputs (token ids, indices) are drawn below this, which every vocabulary exceeds.
INT_INPUT_HIGH = 100


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if not all(isinstance(d, int) and d > 0 for d in self.shape):
            raise ValueError(f"input {self.name!r} has shape {self.shape}: each dimension must be a fixed positive int")


def random_inputs(specs: Sequence[TensorSpec], seed: int = 0) -> dict[str, np.ndarray]:
    """The same seed gives the same inputs in every process, library and device.

    Float tensors of rank ≥ 3 also get a per-channel offset, as images differ in colour as well
    as in detail: i.i.d. noise alone averages out under global pooling, so a classifier's output
    would barely depend on its input and parity could not tell a wrong conversion.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    feeds = {}
    for spec in specs:
        if np.dtype(spec.dtype).kind in "iu":
            feeds[spec.name] = rng.integers(0, INT_INPUT_HIGH, size=spec.shape).astype(spec.dtype)
            continue
        x = rng.standard_normal(spec.shape)
        if len(spec.shape) >= 3:
            x += rng.standard_normal(spec.shape[:2] + (1,) * (len(spec.shape) - 2))
        feeds[spec.name] = x.astype(spec.dtype)
    return feeds


def digest(outputs: Sequence[np.ndarray] | Mapping[str, np.ndarray]) -> str:
    values = outputs.values() if isinstance(outputs, Mapping) else outputs
    h = hashlib.sha256()
    for array in values:
        h.update(array.tobytes())
    return h.hexdigest()
