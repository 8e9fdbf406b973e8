"""A model's op composition, counted from its (static) ONNX graph: the work per op class.

The same conventions as ``counts.file_macs``: convolutions and matrix products count their
multiply-accumulates; every other op counts the elements it writes (its work is memory traffic).
Op types go through the one taxonomy, so the counts line up with the profiles' op classes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pytest_mobiledl.counts import onnx_shapes
from pytest_mobiledl.ops.taxonomy import CLASSES, MAC_CLASSES, classify


@dataclass(frozen=True)
class Composition:
    #: op class -> work: MACs for conv, depthwise_conv and dense; output elements for the others.
    work: dict[str, float]
    #: op class -> number of nodes.
    counts: dict[str, int]
    #: ONNX op types the taxonomy did not map (counted as other).
    unmapped: tuple[str, ...] = ()

    @property
    def macs(self) -> float:
        return sum(self.work[c] for c in MAC_CLASSES)


def of_onnx(path: Path) -> Composition:
    import numpy as np

    graph, shapes = onnx_shapes(path)
    work, counts, unmapped = dict.fromkeys(CLASSES, 0.0), dict.fromkeys(CLASSES, 0), set()
    for node in graph.node:
        out = shapes.get(node.output[0], []) if node.output else []
        elems = float(np.prod(out)) if out else 0.0
        group = next((a.i for a in node.attribute if a.name == "group"), 1)
        x = shapes.get(node.input[0], []) if node.input else []
        cls, mapped = classify(node.op_type, depthwise=group > 1 and len(x) > 1 and group == x[1])
        if not mapped:
            unmapped.add(node.op_type)
        counts[cls] += 1
        if cls in MAC_CLASSES:
            work[cls] += _macs(node, shapes, out)
        else:
            work[cls] += elems
    return Composition(work, counts, tuple(sorted(unmapped)))


def _macs(node: object, shapes: dict[str, list[int]], out: list[int]) -> float:
    import numpy as np

    op_type, inputs = node.op_type, list(node.input)  # type: ignore[attr-defined]
    if op_type in ("Conv", "ConvTranspose") and len(inputs) > 1:
        weight = shapes.get(inputs[1], [])
        elems = out if op_type == "Conv" else shapes.get(inputs[0], [])
        return float(np.prod(elems)) * float(np.prod(weight[1:])) if elems and weight else 0.0
    if op_type in ("MatMul", "Gemm") and len(inputs) > 1:
        a = shapes.get(inputs[0], [])
        trans_a = any(at.name == "transA" and at.i for at in node.attribute)  # type: ignore[attr-defined]
        k = (a[-2] if trans_a else a[-1]) if a else 0
        return float(np.prod(out)) * k if out else 0.0
    if op_type in ("LSTM", "GRU", "RNN") and len(inputs) > 2:
        # Per step: input and recurrent products of every gate.
        w, r, x = shapes.get(inputs[1], []), shapes.get(inputs[2], []), shapes.get(inputs[0], [])
        steps = x[0] if x else 0
        return float(steps) * (float(np.prod(w)) + float(np.prod(r))) if w and r else 0.0
    return float(np.prod(out)) if out else 0.0
