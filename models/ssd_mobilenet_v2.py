"""SSDLite on a MobileNetV2 backbone (Sandler et al. 2018, §6.2), 320×320, 91 COCO classes.

Features are taken from the expansion of the first 160-channel block (stride 16, 20×20) and the
last 1×1 convolution (stride 32, 10×10), then four extra layers (512, 256, 256, 128 channels)
halve the grid down to 1×1. Every head is separable (3×3 depthwise, then 1×1), as in SSDLite;
6 anchors per location on every map, 3234 anchors in all.

Outputs are the raw heads, concatenated over maps: box offsets (1, 3234, 4) and class logits
(1, 3234, 91). Anchor decoding and non-maximum suppression are post-processing and left out,
so the graph is the same for every library.
"""

from itertools import pairwise

import torch
from torch import Tensor, nn

from pytest_mobiledl.models.mobilenet_v2 import blocks, conv_bn
from pytest_mobiledl.modelspec import ModelSpec
from pytest_mobiledl.tensors import TensorSpec

# MobileNetV2's (expansion t, channels c, repeats n, first stride s), split where SSD taps it.
BLOCKS_TO_STRIDE_16 = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1))
BLOCKS_AFTER_TAP = ((6, 160, 2, 1), (6, 320, 1, 1))  # after the first 160 block, which holds the tap
EXTRA_CHANNELS = (512, 256, 256, 128)
ANCHORS = 6
CLASSES = 91


def separable_head(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(conv_bn(cin, cin, 3, groups=cin), nn.Conv2d(cin, cout, 1))


class SSDLite(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.to_tap = nn.Sequential(conv_bn(3, 32, 3, 2), *blocks(32, BLOCKS_TO_STRIDE_16),
                                    conv_bn(96, 576, 1))  # the 160 block's expansion: first feature map
        self.after_tap = nn.Sequential(conv_bn(576, 576, 3, 2, groups=576), conv_bn(576, 160, 1, relu=False),
                                       *blocks(160, BLOCKS_AFTER_TAP), conv_bn(320, 1280, 1))
        channels = [576, 1280, *EXTRA_CHANNELS]
        self.extras = nn.ModuleList(
            nn.Sequential(conv_bn(cin, cout // 2, 1), conv_bn(cout // 2, cout // 2, 3, 2, groups=cout // 2),
                          conv_bn(cout // 2, cout, 1))
            for cin, cout in pairwise(channels[1:]))
        self.box_heads = nn.ModuleList(separable_head(c, ANCHORS * 4) for c in channels)
        self.class_heads = nn.ModuleList(separable_head(c, ANCHORS * CLASSES) for c in channels)

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor]:
        features = [self.to_tap(image)]
        features.append(self.after_tap(features[0]))
        for extra in self.extras:
            features.append(extra(features[-1]))
        n = image.shape[0]
        # NCHW → (N, H·W·anchors, k): each location's anchors stay together, maps follow each other.
        boxes = [head(f).permute(0, 2, 3, 1).reshape(n, -1, 4)
                 for head, f in zip(self.box_heads, features, strict=True)]
        scores = [head(f).permute(0, 2, 3, 1).reshape(n, -1, CLASSES)
                  for head, f in zip(self.class_heads, features, strict=True)]
        return torch.cat(boxes, 1), torch.cat(scores, 1)


def build() -> nn.Module:
    return SSDLite()


MODEL = ModelSpec("ssd_mobilenet_v2", "detection", (TensorSpec("input", (1, 3, 320, 320)),), build)
