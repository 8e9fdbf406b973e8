"""VGG-16 (Simonyan & Zisserman 2015, configuration D), 224×224, 1000 classes, no batch norm.

138 M parameters (≈ 528 MB in fp32), nearly all in the first fully connected layer: the zoo's
memory-bound heavyweight.
"""

from torch import nn

from pytest_mobiledl.modelspec import ModelSpec
from pytest_mobiledl.tensors import TensorSpec

# Output channels of the 3×3 convolutions; "M" is a 2×2/2 max-pool.
CONFIG_D = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")



def build() -> nn.Module:
    layers: list[nn.Module] = []
    cin = 3
    for item in CONFIG_D:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            assert isinstance(item, int)
            layers += [nn.Conv2d(cin, item, 3, padding=1), nn.ReLU()]
            cin = item
    layers += [nn.Flatten(),  # 7×7×512 at 224×224
               nn.Linear(512 * 7 * 7, 4096), nn.ReLU(), nn.Dropout(0.5),
               nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(0.5),
               nn.Linear(4096, 1000)]
    return nn.Sequential(*layers)


MODEL = ModelSpec("vgg16", "classification", (TensorSpec("input", (1, 3, 224, 224)),), build)
