"""A tiny CNN (two convolutions and a classifier on 32×32): fast tests of every route."""

from torch import nn

from pytest_mobiledl.modelspec import ModelSpec
from pytest_mobiledl.tensors import TensorSpec


def build() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10),
    )


MODEL = ModelSpec("tiny_cnn", "classification", (TensorSpec("input", (1, 3, 32, 32)),), build)
