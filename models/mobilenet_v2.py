"""MobileNetV2 (Sandler et al. 2018), width 1.0, 224×224, 1000 classes."""

from torch import Tensor, nn

from pytest_mobiledl.modelspec import ModelSpec
from pytest_mobiledl.tensors import TensorSpec

# (expansion t, output channels c, repeats n, first stride s), as in the paper's Table 2.
BLOCKS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


def conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, relu: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
                               nn.BatchNorm2d(cout)]
    if relu:
        layers.append(nn.ReLU6())
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = cin * expansion
        layers = [conv_bn(cin, hidden, 1)] if expansion != 1 else []
        layers += [conv_bn(hidden, hidden, 3, stride, groups=hidden), conv_bn(hidden, cout, 1, relu=False)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x) if self.residual else self.body(x)


def blocks(cin: int, table: tuple[tuple[int, int, int, int], ...]) -> list[nn.Module]:
    """The inverted-residual stages of ``table`` (also the backbone of ssd_mobilenet_v2)."""
    layers: list[nn.Module] = []
    for t, c, n, s in table:
        for i in range(n):
            layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
            cin = c
    return layers


def build() -> nn.Module:
    return nn.Sequential(conv_bn(3, 32, 3, 2), *blocks(32, BLOCKS), conv_bn(320, 1280, 1), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Dropout(0.2), nn.Linear(1280, 1000))


MODEL = ModelSpec("mobilenet_v2", "classification", (TensorSpec("input", (1, 3, 224, 224)),), build)
