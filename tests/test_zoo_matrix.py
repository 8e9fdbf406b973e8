"""The full zoo through every host engine's fp32 route: converts, runs, and matches its source.

Slow (90 artifacts): marked, and run by CI in its slow tier. A route that cannot take a model
(an op a converter or runtime lacks) is skipped with that library's own words: a finding.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_mobiledl import engines, zoo
from pytest_mobiledl.errors import ConversionError

HOST_LIBS = [lib for lib in engines.LIBS if engines.installed(engines.get(lib))]


@pytest.mark.slow
@pytest.mark.parametrize("lib", HOST_LIBS)
@pytest.mark.parametrize("model", zoo.names())
def test_every_model_converts_and_matches_its_source(model: str, lib: str, model_cache: Path) -> None:
    try:
        artifact = zoo.artifact(model, lib, "fp32", model_cache)
    except ConversionError as exc:
        pytest.skip(str(exc))
    parity = artifact.parity
    assert parity["passed"], parity
    assert artifact.path.stat().st_size > 0 and artifact.inputs
