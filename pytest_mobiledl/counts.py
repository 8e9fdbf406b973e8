"""How big a model is: its parameter and multiply-accumulate counts, computed from the model itself.

Counts come from torch's own ``FlopCounterMode`` on one forward pass of the seeded example
inputs, so they follow the code and are never typed in. It counts matrix products and
convolutions (and attention kernels), as published MAC figures do; element-wise work (batch norm,
activations, additions, pooling) and table look-ups (embeddings) count as nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_mobiledl.modelspec import ModelSpec


@dataclass(frozen=True)
class Counts:
    #: Trainable parameters (buffers such as batch-norm statistics excluded).
    params: int
    #: Multiply-accumulates of one forward pass at the declared input shapes.
    macs: int
    #: Floating-point operations as FlopCounterMode counts them: 2 per multiply-accumulate.
    flops: int

    def __post_init__(self) -> None:
        for field in ("params", "macs", "flops"):
            value = getattr(self, field)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"{field} must be a non-negative int, not {value!r}")
        if self.flops != 2 * self.macs:
            raise ValueError(f"flops ({self.flops}) must be twice macs ({self.macs})")


def count(spec: ModelSpec) -> Counts:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    module, example = spec.instantiate()
    counter = FlopCounterMode(display=False)
    # oneDNN's fused RNN kernel (aten.mkldnn_rnn_layer) hides an LSTM's matrix products from
    # dispatch modes, so it would count as 0; torch's own kernel shows them as addmm.
    # (allow_tf32=None leaves that flag alone: setting it warns on a CPU-only build.)
    with torch.no_grad(), torch.backends.mkldnn.flags(enabled=False, allow_tf32=None), counter:
        module(*example)
    flops = int(counter.get_total_flops())
    return Counts(params=sum(p.numel() for p in module.parameters()), macs=flops // 2, flops=flops // 2 * 2)


def file_macs(path: Path) -> int:
    """Multiply-accumulates of one run of a static ``.onnx`` or ``.tflite`` file, from its graph.

    The same convention as ``count``: convolutions and matrix products count, element-wise work
    does not. Shapes come from the file (ONNX after shape inference; TFLite as the interpreter
    allocates them), so the file must be static — as every route's start is (pins applied).
    """
    return _onnx_macs(path) if path.suffix.lower() == ".onnx" else _tflite_macs(path)


def onnx_shapes(path: Path) -> tuple[Any, dict[str, list[int]]]:
    """An ONNX file's graph after shape inference, and every tensor's shape by name (0: unknown)."""
    import onnx

    graph = onnx.shape_inference.infer_shapes(onnx.load(str(path))).graph
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in (*graph.value_info, *graph.input, *graph.output)}
    shapes.update({t.name: list(t.dims) for t in graph.initializer})
    return graph, shapes


def _onnx_macs(path: Path) -> int:
    import numpy as np

    graph, shapes = onnx_shapes(path)
    total = 0
    for node in graph.node:
        out = shapes.get(node.output[0], [])
        if node.op_type in ("Conv", "ConvTranspose") and len(node.input) > 1:
            weight = shapes.get(node.input[1], [])
            # Conv: each output element is Cin/group × kernel MACs; ConvTranspose: each input element.
            elems = out if node.op_type == "Conv" else shapes.get(node.input[0], [])
            total += int(np.prod(elems)) * int(np.prod(weight[1:])) if elems and weight else 0
        elif node.op_type in ("MatMul", "Gemm") and len(node.input) > 1:
            a = shapes.get(node.input[0], [])
            trans_a = any(at.name == "transA" and at.i for at in node.attribute)
            k = (a[-2] if trans_a else a[-1]) if a else 0
            total += int(np.prod(out)) * k if out else 0
    return total


def _tflite_macs(path: Path) -> int:
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    shape = {t["index"]: list(t["shape"]) for t in interpreter.get_tensor_details()}
    total = 0
    for op in interpreter._get_ops_details():
        inputs, outputs = list(op["inputs"]), list(op["outputs"])
        if not outputs or len(inputs) < 2:
            continue
        out, weight = shape.get(outputs[0], []), shape.get(inputs[1], [])
        name = op["op_name"]
        if name == "CONV_2D":  # filter [cout, kh, kw, cin]
            total += int(np.prod(out)) * int(np.prod(weight[1:]))
        elif name == "DEPTHWISE_CONV_2D":  # filter [1, kh, kw, cout]
            total += int(np.prod(out)) * int(np.prod(weight[1:3]))
        elif name in ("FULLY_CONNECTED", "BATCH_MATMUL"):
            a = shape.get(inputs[0], [])
            total += int(np.prod(out)) * (int(a[-1]) if a else 0)  # shapes are numpy int32: JSON takes int
    return total
