"""MobileNetV1 (Howard et al. 2017), width 1.0, 224×224, 1000 classes.

Depthwise-separable convolutions as in the paper's Table 1, each followed by BN and ReLU.
"""

from torch import nn

from pytest_mobiledl.modelspec import ModelSpec
from pytest_mobiledl.tensors import TensorSpec

# (output channels, stride) of the 13 depthwise-separable layers, after a 3×3/2 stem of 32.
LAYERS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
          (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))


def conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU())



def build() -> nn.Module:
    layers: list[nn.Module] = [conv_bn(3, 32, 3, 2)]
    cin = 32
    for cout, stride in LAYERS:
        layers += [conv_bn(cin, cin, 3, stride, groups=cin), conv_bn(cin, cout, 1)]
        cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1024, 1000)]
    return nn.Sequential(*layers)


MODEL = ModelSpec("mobilenet_v1", "classification", (TensorSpec("input", (1, 3, 224, 224)),), build)
