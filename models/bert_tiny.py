"""BERT-Tiny (Turc et al. 2019, "Well-Read Students Learn Better"): 2 layers, hidden 128, 2 heads.

BERT's encoder (Devlin et al. 2019) with the uncased 30522-token vocabulary, a 128-token
sequence of int64 ids, and the last hidden state (1, 128, 128) as output. Every token is real
(no attention mask) and of segment 0; the pooler is left out. Attention is written with plain
matmul and softmax, which every converter takes.
"""

import math

from torch import Tensor, nn

from pytest_mobiledl.modelspec import ModelSpec
from pytest_mobiledl.tensors import TensorSpec

VOCAB, MAX_POSITIONS, SEGMENTS = 30522, 512, 2
LAYERS, HIDDEN, HEADS, INTERMEDIATE = 2, 128, 2, 512
SEQUENCE = 128
EPS = 1e-12


class SelfAttention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.query, self.key, self.value, self.out = (nn.Linear(HIDDEN, HIDDEN) for _ in range(4))

    def forward(self, x: Tensor) -> Tensor:
        n, s, _ = x.shape
        head_dim = HIDDEN // HEADS

        def heads(t: Tensor) -> Tensor:  # (n, s, hidden) → (n, heads, s, head_dim)
            return t.reshape(n, s, HEADS, head_dim).transpose(1, 2)

        q, k, v = heads(self.query(x)), heads(self.key(x)), heads(self.value(x))
        weights = (q @ k.transpose(2, 3) * (1 / math.sqrt(head_dim))).softmax(-1)
        return self.out((weights @ v).transpose(1, 2).reshape(n, s, HIDDEN))


class Layer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.attention = SelfAttention()
        self.norm1 = nn.LayerNorm(HIDDEN, eps=EPS)
        self.feed_forward = nn.Sequential(nn.Linear(HIDDEN, INTERMEDIATE), nn.GELU(), nn.Linear(INTERMEDIATE, HIDDEN))
        self.norm2 = nn.LayerNorm(HIDDEN, eps=EPS)

    def forward(self, x: Tensor) -> Tensor:
        x = self.norm1(x + self.attention(x))  # post-norm, as in BERT
        return self.norm2(x + self.feed_forward(x))


class BertTiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.words = nn.Embedding(VOCAB, HIDDEN)
        self.positions = nn.Embedding(MAX_POSITIONS, HIDDEN)
        self.segments = nn.Embedding(SEGMENTS, HIDDEN)
        self.norm = nn.LayerNorm(HIDDEN, eps=EPS)
        self.layers = nn.Sequential(*(Layer() for _ in range(LAYERS)))

    def forward(self, input_ids: Tensor) -> Tensor:
        # Positions 0…s-1 and segment 0 are the same for every input: slices, not lookups.
        s = input_ids.shape[1]
        x = self.words(input_ids) + self.positions.weight[:s] + self.segments.weight[0]
        return self.layers(self.norm(x))


def build() -> nn.Module:
    return BertTiny()


MODEL = ModelSpec("bert_tiny", "nlp", (TensorSpec("input_ids", (1, SEQUENCE), "int64"),), build)
