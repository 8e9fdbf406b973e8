"""DeepLabv3 (Chen et al. 2017) on a MobileNetV2 backbone, 257×257, 21 PASCAL VOC classes.

257×257 as in TensorFlow Lite's published DeepLabv3 benchmark model (the paper evaluates at
513×513). Output stride 16: the stride-32 stage runs at stride 1 with dilation 2, and the
backbone ends at its 320-channel block (no 1280 convolution). The ASPP head (§3.3) has a 1×1
branch, three 3×3 atrous branches (rates 6, 12, 18) and image pooling, 256 channels each; the
logits are bilinearly upsampled to the input size. Training-only dropout is left out.
"""

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from pytest_mobiledl.modelspec import ModelSpec
from pytest_mobiledl.tensors import TensorSpec

# MobileNetV2's (expansion t, channels c, repeats n, stride s, dilation d) at output stride 16.
BLOCKS = ((1, 16, 1, 1, 1), (6, 24, 2, 2, 1), (6, 32, 3, 2, 1), (6, 64, 4, 2, 1), (6, 96, 3, 1, 1),
          (6, 160, 3, 1, 2), (6, 320, 1, 1, 2))
RATES = (6, 12, 18)
CLASSES = 21


def conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, dilation: int = 1,
            act: type[nn.Module] | None = nn.ReLU6) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel, stride, dilation * (kernel // 2), dilation, groups,
                                         bias=False), nn.BatchNorm2d(cout)]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expansion: int, dilation: int) -> None:
        super().__init__()
        hidden = cin * expansion
        layers = [conv_bn(cin, hidden, 1)] if expansion != 1 else []
        layers += [conv_bn(hidden, hidden, 3, stride, groups=hidden, dilation=dilation),
                   conv_bn(hidden, cout, 1, act=None)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x) if self.residual else self.body(x)


class ImagePooling(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.project = nn.Sequential(nn.AdaptiveAvgPool2d(1), conv_bn(cin, cout, 1, act=nn.ReLU))

    def forward(self, x: Tensor) -> Tensor:
        # Bilinear from 1×1 is a broadcast, but LiteRT's BROADCAST_TO rejects what .expand() becomes.
        return F.interpolate(self.project(x), size=x.shape[2:], mode="bilinear", align_corners=False)


class ASPP(nn.Module):
    def __init__(self, cin: int, cout: int = 256) -> None:
        super().__init__()
        self.branches = nn.ModuleList([conv_bn(cin, cout, 1, act=nn.ReLU),
                                       *(conv_bn(cin, cout, 3, dilation=r, act=nn.ReLU) for r in RATES),
                                       ImagePooling(cin, cout)])
        self.project = conv_bn(cout * len(self.branches), cout, 1, act=nn.ReLU)

    def forward(self, x: Tensor) -> Tensor:
        return self.project(torch.cat([branch(x) for branch in self.branches], 1))


class DeepLabV3(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = [conv_bn(3, 32, 3, 2)]
        cin = 32
        for t, c, n, s, d in BLOCKS:
            for i in range(n):
                layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t, d))
                cin = c
        self.backbone = nn.Sequential(*layers)
        self.head = nn.Sequential(ASPP(cin), nn.Conv2d(256, CLASSES, 1))

    def forward(self, image: Tensor) -> Tensor:
        logits = self.head(self.backbone(image))
        return F.interpolate(logits, size=image.shape[2:], mode="bilinear", align_corners=False)



def build() -> nn.Module:
    return DeepLabV3()


MODEL = ModelSpec("deeplabv3_mobilenet_v2", "segmentation", (TensorSpec("input", (1, 3, 257, 257)),), build)
