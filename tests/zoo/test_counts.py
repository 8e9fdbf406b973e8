"""counts.count finds parameters and MACs from the model itself; the zoo's counts agree with the
figures published for each architecture."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pytest_mobiledl import modelspec, zoo
from pytest_mobiledl.counts import Counts, count
from pytest_mobiledl.tensors import TensorSpec

torch = pytest.importorskip("torch")
nn = torch.nn

#: Published (parameters, MACs or None): references to check the code against, never used as counts.
PUBLISHED: dict[str, tuple[float, float | None]] = {
    "mobilenet_v1": (4.2e6, 569e6),  # Howard et al. 2017, Table 8
    "mobilenet_v2": (3.4e6, 300e6),  # Sandler et al. 2018, Table 4
    "mobilenet_v3_small": (2.5e6, 56e6),  # Howard et al. 2019, Table 3
    "squeezenet1_1": (1.24e6, None),  # SqueezeNet v1.1 release notes
    "shufflenet_v2": (2.3e6, 146e6),  # Ma et al. 2018, Table 8 (MFLOPs there are MACs)
    "efficientnet_b0": (5.3e6, 390e6),  # Tan & Le 2019, Table 2
    "resnet18": (11.7e6, 1.8e9),  # He et al. 2016, Table 1
    "resnet50": (25.6e6, 4.1e9),  # v1.5 (stride on the 3×3); the paper's v1 is 3.8 G
    "inception_v3": (23.8e6, None),  # Keras Applications (no auxiliary head)
    "vgg16": (138e6, 15.5e9),  # Simonyan & Zisserman 2015, Table 2
    "bert_tiny": (4.4e6, None),  # Turc et al. 2019 (with the pooler, which the zoo leaves out)
}
SLOW = {"inception_v3", "vgg16", "resnet50", "resnet18", "efficientnet_b0", "mobilenet_v1", "mobilenet_v2",
        "shufflenet_v2", "mobilenet_v3_small", "bert_tiny"}


def _spec(build: object, *shape: int) -> modelspec.ModelSpec:
    return modelspec.ModelSpec("probe", "classification", (TensorSpec("input", shape),), build)  # type: ignore[arg-type]


def test_counts_convolutions_and_matrix_products() -> None:
    spec = _spec(lambda: nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 4 * 4, 5)),
                 1, 3, 4, 4)
    macs = (8 * 3 * 3 * 3) * (4 * 4) + (8 * 4 * 4) * 5  # per output pixel × pixels, then the linear layer
    params = (8 * 3 * 3 * 3 + 8) + (8 * 4 * 4 * 5 + 5)
    assert count(spec) == Counts(params=params, macs=macs, flops=2 * macs)


def test_counts_an_lstm() -> None:
    class Lstm(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(4, 8, batch_first=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.lstm(x)[0]

    # oneDNN's fused kernel would hide these products (count 0): four gates per step.
    result = count(_spec(Lstm, 1, 3, 4))
    assert result.macs == 3 * 4 * 8 * (4 + 8)
    assert result.params == 4 * 8 * (4 + 8) + 2 * 4 * 8  # two bias vectors, as torch keeps them


@pytest.mark.parametrize("field, value", [("params", -1), ("macs", 1.5), ("flops", 3)])
def test_counts_are_validated(field: str, value: object) -> None:
    fields: dict[str, object] = {"params": 1, "macs": 1, "flops": 2}
    fields[field] = value
    with pytest.raises(ValueError, match=field):
        Counts(**fields)  # type: ignore[arg-type]


def test_importing_counts_does_not_import_torch() -> None:
    code = "import sys, pytest_mobiledl.counts; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow if n in SLOW else ()) for n in PUBLISHED])
def test_matches_published_figures(name: str) -> None:
    params, macs = PUBLISHED[name]
    result = count(zoo.load(name))
    assert result.params == pytest.approx(params, rel=0.10)
    if macs is not None:
        assert result.macs == pytest.approx(macs, rel=0.10)


@pytest.mark.slow
@pytest.mark.parametrize("name", zoo.names())
def test_every_model_has_work_to_count(name: str) -> None:
    result = count(zoo.load(name))
    assert result.params > 0 and result.macs > 0
