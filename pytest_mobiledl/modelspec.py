"""What a model is before any library sees it: a ``ModelSpec``, the zoo's models, the user's file formats.

The leaf of the model layer: it imports nothing of the package but ``tensors``, so the zoo's model
files, the engines' converters, the user's models and the conversion process all build on it.
Every zoo model is one file in ``models/`` (installed as ``pytest_mobiledl.models``) defining
``MODEL = ModelSpec(...)`` in PyTorch, with random seeded weights: latency depends on the
architecture, not on trained values, and nothing is ever downloaded.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_mobiledl.tensors import TensorSpec, random_inputs

if TYPE_CHECKING:
    import torch

MODELS_PACKAGE = "pytest_mobiledl.models"

#: The user's model formats, by suffix; a SavedModel folder is the format ``SAVED_MODEL``.
SAVED_MODEL = "SavedModel"
TORCH_FORMATS = (".py", ".pt2")
TF_FORMATS = (".keras", ".h5", SAVED_MODEL)
SUFFIXES = (".onnx", ".tflite", ".py", ".pt2", ".keras", ".h5")


@dataclass(frozen=True)
class ModelSpec:
    name: str
    domain: str
    inputs: tuple[TensorSpec, ...]
    build: Callable[[], torch.nn.Module] | None = None
    seed: int = 0
    #: A user's own model file (static .onnx or .tflite) standing in for ``build``.
    source: Path | None = None
    #: A user's model runs with the weights ``build`` gives it; the zoo's are re-drawn.
    keep_weights: bool = False

    def instantiate(self, input_seed: int | None = None) -> tuple[torch.nn.Module, tuple[torch.Tensor, ...]]:
        """The module with its seeded weights, in eval mode, and its seeded example inputs."""
        import torch

        if self.build is None:
            raise ValueError(f"{self.name} is a model file, not a PyTorch model")
        torch.manual_seed(self.seed)
        module = self.build() if self.keep_weights else _variance_preserving(self.build())
        try:
            module.eval()
        except NotImplementedError:
            # A torch.export program's module refuses .eval(): its graph runs in the mode it was
            # exported in. The flag is still set, for tools that check it (torch.jit.freeze).
            for layer in module.modules():
                layer.training = False
        feeds = random_inputs(self.inputs, self.seed if input_seed is None else input_seed)
        return module, tuple(torch.from_numpy(feeds[t.name]) for t in self.inputs)


def _variance_preserving(module: torch.nn.Module) -> torch.nn.Module:
    """Re-draw weights so activations keep their scale through every layer.

    PyTorch's default init shrinks activations layer after layer: in a deep random network the
    output ends up equal to the last bias whatever the input, and parity would pass for any
    conversion. He init on fan-in and random batch-norm affines keep every layer in the output.
    """
    import torch
    from torch import nn

    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, (nn.Conv1d, nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(layer.weight, mode="fan_in", nonlinearity="relu")
                if layer.bias is not None:
                    nn.init.normal_(layer.bias, std=0.1)
            elif isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)):
                nn.init.uniform_(layer.weight, 0.5, 1.5)
                nn.init.normal_(layer.bias, std=0.1)
    return module


def names() -> list[str]:
    """Model ids, read from file names: listing models imports none of them."""
    package = importlib.import_module(MODELS_PACKAGE)
    return sorted(m.name for m in pkgutil.iter_modules(package.__path__) if not m.name.startswith("_"))


def load(name: str) -> ModelSpec:
    spec: ModelSpec = importlib.import_module(f"{MODELS_PACKAGE}.{name}").MODEL
    return spec


def is_file_ref(value: str) -> bool:
    return suffix(Path(value)) in SUFFIXES or is_saved_model(Path(value).expanduser())


def is_saved_model(path: Path) -> bool:
    return path.is_dir() and (path / "saved_model.pb").is_file()


def format_of(path: Path) -> str:
    """The suffix routes are keyed by, or ``SavedModel`` for a SavedModel folder."""
    return SAVED_MODEL if path.is_dir() else suffix(path)


def suffix(path: Path) -> str:
    """A model file's format, case-insensitively: ``NET.ONNX`` is an .onnx file."""
    return path.suffix.lower()
