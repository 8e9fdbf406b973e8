"""Fixtures for the engine tests: real conversions (cached per session) and real runner processes."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_mobiledl import engines, zoo
from pytest_mobiledl.record import RunRecord, from_json

#: What each route needs installed: the runtime first, then its converters.
NEEDS = {
    "ncnn": ("ncnn", "pnnx", "torch"),
    "mnn": ("MNN", "torch", "onnxscript"),
    "pytorch": ("torch",),
    "executorch": ("executorch", "torch"),
}
RUNNER_TIMEOUT_S = 300


def _require(lib: str) -> None:
    missing = [m for m in NEEDS[lib] if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"{lib} route not installed (missing {', '.join(missing)}): "
                    f"pip install 'pytest-mobiledl[{engines.get(lib).EXTRA}]'")


@pytest.fixture(scope="session")
def require() -> Callable[[str], None]:
    """``require(lib)``: skip unless the library's runtime and converters are installed."""
    return _require


@pytest.fixture(scope="session")
def convert(model_cache: Path) -> Callable[[str, str, str], Path]:
    """``convert(lib, model, precision)``: the zoo's artifact (tests/conftest.py's cache, so once per session)."""

    def _convert(lib: str, model: str, precision: str) -> Path:
        _require(lib)
        return zoo.artifact(model, lib, precision, model_cache).path

    return _convert


@pytest.fixture(scope="session")
def run_runner() -> Callable[..., RunRecord]:
    """``run_runner(lib, path, model_id, precision=…, threads=…)``: the host runner, in a real process."""

    def _run(lib: str, path: Path, model_id: str, precision: str = "fp32", threads: int = 1,
             iterations: int = 5, warmup: int = 1) -> RunRecord:
        argv = [sys.executable, "-m", "pytest_mobiledl.runner", "--lib", lib, "--model", str(path),
                "--model-id", model_id, "--precision", precision, "--threads", str(threads),
                "--iterations", str(iterations), "--warmup", str(warmup)]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=RUNNER_TIMEOUT_S, check=False)
        assert done.returncode == 0, f"runner failed: {done.stderr[-2000:]}"
        lines = [line for line in done.stdout.splitlines() if line.strip()]
        assert len(lines) == 1, f"runner printed {len(lines)} lines on stdout: {done.stdout[-2000:]}"
        return from_json(lines[0])

    return _run
