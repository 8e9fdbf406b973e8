"""EfficientNet-B0 (Tan & Le 2019), 224×224, 1000 classes.

MBConv blocks as in the paper's Table 1, SiLU (swish) activations, squeeze-and-excite to a
quarter of each block's input channels. Symmetric padding instead of TensorFlow's "same";
stochastic depth and dropout are training-only and left out.
"""

from torch import Tensor, nn

from pytest_mobiledl.modelspec import ModelSpec
from pytest_mobiledl.tensors import TensorSpec

# (expansion, kernel, output channels, repeats, first stride), stages 2–8 of Table 1.
STAGES = ((1, 3, 16, 1, 1), (6, 3, 24, 2, 2), (6, 5, 40, 2, 2), (6, 3, 80, 3, 2),
          (6, 5, 112, 3, 1), (6, 5, 192, 4, 2), (6, 3, 320, 1, 1))


def conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
                               nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.SiLU())
    return nn.Sequential(*layers)


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, squeezed: int) -> None:
        super().__init__()
        self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, squeezed, 1), nn.SiLU(),
                                  nn.Conv2d(squeezed, channels, 1), nn.Sigmoid())

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gate(x)


class MBConv(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = cin * expansion
        layers: list[nn.Module] = [conv_bn(cin, hidden, 1)] if expansion != 1 else []
        layers += [conv_bn(hidden, hidden, kernel, stride, groups=hidden), SqueezeExcite(hidden, max(1, cin // 4)),
                   conv_bn(hidden, cout, 1, act=False)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x) if self.residual else self.body(x)



def build() -> nn.Module:
    layers: list[nn.Module] = [conv_bn(3, 32, 3, 2)]
    cin = 32
    for expansion, kernel, cout, repeats, stride in STAGES:
        for i in range(repeats):
            layers.append(MBConv(cin, cout, kernel, stride if i == 0 else 1, expansion))
            cin = cout
    layers += [conv_bn(cin, 1280, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1280, 1000)]
    return nn.Sequential(*layers)


MODEL = ModelSpec("efficientnet_b0", "classification", (TensorSpec("input", (1, 3, 224, 224)),), build)
