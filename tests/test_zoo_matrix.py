"""The full zoo through every host engine's fp32 route: converts, runs, and matches its source.

Slow (90 artifacts, about 28 min on 2 cores): all marked ``slow``. CI runs ``-m "slow and not
matrix"``: every model on the libraries that convert in seconds (the three largest on ONNX
Runtime only), and on ExecuTorch and LiteRT (minutes per large model) the models whose ops the
others do not share. The rest of the cross product is marked ``matrix`` and run by hand
(``pytest -m slow -n 2``); the converters are pinned, so it changes only when the conversion
code does. A route that cannot take a model (an op a converter or runtime lacks) is skipped with
that library's own words: a finding.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_mobiledl import engines, zoo
from pytest_mobiledl.errors import ConversionError

HOST_LIBS = [lib for lib in engines.LIBS if engines.installed(engines.get(lib))]
#: Converters that take minutes on a large model: CI gives them the models with ops unlike the rest
#: (depthwise convs, an LSTM, attention over int64 ids, a detector's several outputs).
SLOW_CONVERTERS = {"executorch", "tflite"}
DISTINCT = {"tiny_cnn", "mobilenet_v2", "kws_lstm", "bert_tiny", "ssd_mobilenet_v2"}
#: The largest models, built only of ops smaller ones have (convs, residual adds, concats, dense
#: layers): CI converts them for ONNX Runtime alone.
LARGE = {"vgg16", "resnet50", "inception_v3"}


def in_ci(model: str, lib: str) -> bool:
    if lib in SLOW_CONVERTERS:
        return model in DISTINCT
    return model not in LARGE or lib == "onnxruntime"


@pytest.mark.slow
@pytest.mark.parametrize(("model", "lib"), [
    pytest.param(model, lib, marks=() if in_ci(model, lib) else pytest.mark.matrix)
    for model in zoo.names() for lib in HOST_LIBS
])
def test_every_model_converts_and_matches_its_source(model: str, lib: str, model_cache: Path) -> None:
    try:
        artifact = zoo.artifact(model, lib, "fp32", model_cache)
    except ConversionError as exc:
        pytest.skip(str(exc))
    parity = artifact.parity
    assert parity["passed"], parity
    assert artifact.path.stat().st_size > 0 and artifact.inputs
