"""MobileNetV3-Small (Howard et al. 2019), width 1.0, 224×224, 1000 classes.

Blocks as in the paper's Table 2. As in the released models, the last 1×1 convolution (576)
has no squeeze-and-excite, and SE bottlenecks are the expansion/4 rounded to a multiple of 8.
"""

from torch import Tensor, nn

from pytest_mobiledl.modelspec import ModelSpec
from pytest_mobiledl.tensors import TensorSpec

# (kernel, expansion channels, output channels, squeeze-excite, hard-swish, stride).
BLOCKS = ((3, 16, 16, True, False, 2), (3, 72, 24, False, False, 2), (3, 88, 24, False, False, 1),
          (5, 96, 40, True, True, 2), (5, 240, 40, True, True, 1), (5, 240, 40, True, True, 1),
          (5, 120, 48, True, True, 1), (5, 144, 48, True, True, 1), (5, 288, 96, True, True, 2),
          (5, 576, 96, True, True, 1), (5, 576, 96, True, True, 1))


def divisible8(value: float) -> int:
    rounded = max(8, int(value + 4) // 8 * 8)
    return rounded + 8 if rounded < 0.9 * value else rounded


def conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, act: type[nn.Module] | None = nn.ReLU,
            ) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
                               nn.BatchNorm2d(cout)]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        squeezed = divisible8(channels / 4)
        self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, squeezed, 1), nn.ReLU(),
                                  nn.Conv2d(squeezed, channels, 1), nn.Hardsigmoid())

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gate(x)


class Bottleneck(nn.Module):
    def __init__(self, cin: int, kernel: int, hidden: int, cout: int, se: bool, hswish: bool, stride: int) -> None:
        super().__init__()
        act = nn.Hardswish if hswish else nn.ReLU
        layers: list[nn.Module] = [conv_bn(cin, hidden, 1, act=act)] if hidden != cin else []
        layers.append(conv_bn(hidden, hidden, kernel, stride, groups=hidden, act=act))
        if se:
            layers.append(SqueezeExcite(hidden))
        layers.append(conv_bn(hidden, cout, 1, act=None))
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x) if self.residual else self.body(x)



def build() -> nn.Module:
    layers: list[nn.Module] = [conv_bn(3, 16, 3, 2, act=nn.Hardswish)]
    cin = 16
    for kernel, hidden, cout, se, hswish, stride in BLOCKS:
        layers.append(Bottleneck(cin, kernel, hidden, cout, se, hswish, stride))
        cin = cout
    layers += [conv_bn(cin, 576, 1, act=nn.Hardswish), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
               nn.Linear(576, 1024), nn.Hardswish(), nn.Dropout(0.2), nn.Linear(1024, 1000)]
    return nn.Sequential(*layers)


MODEL = ModelSpec("mobilenet_v3_small", "classification", (TensorSpec("input", (1, 3, 224, 224)),), build)
