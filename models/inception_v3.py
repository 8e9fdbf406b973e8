"""Inception-v3 (Szegedy et al. 2016), 299×299, 1000 classes.

The released network (as in TF-slim and Keras): 35×35 modules keep a 5×5 branch next to the
double 3×3, 17×17 modules factorize 7×7 into 1×7 and 7×1, 8×8 modules split 3×3 into 1×3 ‖ 3×1.
The auxiliary classifier is training-only and left out.
"""

import torch
from torch import Tensor, nn

from pytest_mobiledl.modelspec import ModelSpec
from pytest_mobiledl.tensors import TensorSpec


def conv(cin: int, cout: int, kernel: int | tuple[int, int], stride: int = 1,
         padding: int | tuple[int, int] = 0) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, padding, bias=False),
                         nn.BatchNorm2d(cout, eps=0.001), nn.ReLU())


def avg_pool_branch(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.AvgPool2d(3, 1, 1), conv(cin, cout, 1))


class Concat(nn.Module):
    """Run branches side by side and concatenate their channels."""

    def __init__(self, *branches: nn.Module) -> None:
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([branch(x) for branch in self.branches], 1)


def module_35(cin: int, pool: int) -> nn.Module:  # 35×35, Figure 5
    return Concat(conv(cin, 64, 1),
                  nn.Sequential(conv(cin, 48, 1), conv(48, 64, 5, padding=2)),
                  nn.Sequential(conv(cin, 64, 1), conv(64, 96, 3, padding=1), conv(96, 96, 3, padding=1)),
                  avg_pool_branch(cin, pool))


def reduce_35_to_17(cin: int) -> nn.Module:  # grid reduction, Figure 10
    return Concat(conv(cin, 384, 3, 2),
                  nn.Sequential(conv(cin, 64, 1), conv(64, 96, 3, padding=1), conv(96, 96, 3, 2)),
                  nn.MaxPool2d(3, 2))


def module_17(c7: int) -> nn.Module:  # 17×17, Figure 6 with n = 7
    return Concat(conv(768, 192, 1),
                  nn.Sequential(conv(768, c7, 1), conv(c7, c7, (1, 7), padding=(0, 3)),
                                conv(c7, 192, (7, 1), padding=(3, 0))),
                  nn.Sequential(conv(768, c7, 1), conv(c7, c7, (7, 1), padding=(3, 0)),
                                conv(c7, c7, (1, 7), padding=(0, 3)), conv(c7, c7, (7, 1), padding=(3, 0)),
                                conv(c7, 192, (1, 7), padding=(0, 3))),
                  avg_pool_branch(768, 192))


def reduce_17_to_8() -> nn.Module:
    return Concat(nn.Sequential(conv(768, 192, 1), conv(192, 320, 3, 2)),
                  nn.Sequential(conv(768, 192, 1), conv(192, 192, (1, 7), padding=(0, 3)),
                                conv(192, 192, (7, 1), padding=(3, 0)), conv(192, 192, 3, 2)),
                  nn.MaxPool2d(3, 2))


def split_1x3_3x1(cin: int) -> nn.Module:
    return Concat(conv(cin, 384, (1, 3), padding=(0, 1)), conv(cin, 384, (3, 1), padding=(1, 0)))


def module_8(cin: int) -> nn.Module:  # 8×8, Figure 7
    return Concat(conv(cin, 320, 1),
                  nn.Sequential(conv(cin, 384, 1), split_1x3_3x1(384)),
                  nn.Sequential(conv(cin, 448, 1), conv(448, 384, 3, padding=1), split_1x3_3x1(384)),
                  avg_pool_branch(cin, 192))



def build() -> nn.Module:
    return nn.Sequential(
        conv(3, 32, 3, 2), conv(32, 32, 3), conv(32, 64, 3, padding=1), nn.MaxPool2d(3, 2),
        conv(64, 80, 1), conv(80, 192, 3), nn.MaxPool2d(3, 2),                      # 35×35×192
        module_35(192, 32), module_35(256, 64), module_35(288, 64), reduce_35_to_17(288),  # 17×17×768
        module_17(128), module_17(160), module_17(160), module_17(192), reduce_17_to_8(),  # 8×8×1280
        module_8(1280), module_8(2048),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.5), nn.Linear(2048, 1000),
    )


MODEL = ModelSpec("inception_v3", "classification", (TensorSpec("input", (1, 3, 299, 299)),), build)
