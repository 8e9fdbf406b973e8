"""ShuffleNetV2 ×1.0 (Ma et al. 2018), 224×224, 1000 classes.

Stages of 4, 8 and 4 units with 116, 232 and 464 channels (the paper's Table 5). A basic unit
splits the channels in two halves and transforms one; a down-sampling unit transforms both; the
halves are concatenated and shuffled.
"""

import torch
from torch import Tensor, nn

from pytest_mobiledl.modelspec import ModelSpec
from pytest_mobiledl.tensors import TensorSpec

STAGES = ((116, 4), (232, 8), (464, 4))


def conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, relu: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
                               nn.BatchNorm2d(cout)]
    if relu:
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def shuffle(x: Tensor) -> Tensor:
    """Interleave the two halves' channels: (a0, a1, …, b0, b1, …) → (a0, b0, a1, b1, …)."""
    n, c, h, w = x.shape
    return x.reshape(n, 2, c // 2, h, w).transpose(1, 2).reshape(n, c, h, w)


class Unit(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        half = cout // 2
        self.stride = stride
        self.shortcut = nn.Sequential(conv_bn(cin, cin, 3, stride, groups=cin, relu=False),
                                      conv_bn(cin, half, 1)) if stride == 2 else nn.Identity()
        branch_in = cin if stride == 2 else half
        self.branch = nn.Sequential(conv_bn(branch_in, half, 1),
                                    conv_bn(half, half, 3, stride, groups=half, relu=False), conv_bn(half, half, 1))

    def forward(self, x: Tensor) -> Tensor:
        if self.stride == 2:
            out = torch.cat([self.shortcut(x), self.branch(x)], 1)
        else:
            kept, changed = x.chunk(2, 1)
            out = torch.cat([kept, self.branch(changed)], 1)
        return shuffle(out)



def build() -> nn.Module:
    layers: list[nn.Module] = [conv_bn(3, 24, 3, 2), nn.MaxPool2d(3, 2, 1)]
    cin = 24
    for cout, repeats in STAGES:
        layers += [Unit(cin if i == 0 else cout, cout, 2 if i == 0 else 1) for i in range(repeats)]
        cin = cout
    layers += [conv_bn(cin, 1024, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1024, 1000)]
    return nn.Sequential(*layers)


MODEL = ModelSpec("shufflenet_v2", "classification", (TensorSpec("input", (1, 3, 224, 224)),), build)
