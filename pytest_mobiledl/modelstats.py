"""Parameter and multiply-accumulate counts of a zoo model, computed from the model itself.

Counts come from torch's own ``FlopCounterMode`` on one forward pass of the seeded example
inputs, so they follow the code and are never typed in. It counts matrix products and
convolutions (and attention kernels), as published MAC figures do; element-wise work (batch norm,
activations, additions, pooling) and table look-ups (embeddings) count as nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_mobiledl.zoo import ModelSpec


@dataclass(frozen=True)
class ModelStats:
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


def stats(spec: ModelSpec) -> ModelStats:
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
    return ModelStats(params=sum(p.numel() for p in module.parameters()), macs=flops // 2, flops=flops // 2 * 2)
