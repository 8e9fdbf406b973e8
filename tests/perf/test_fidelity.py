"""Fidelity: does the runner report what the library really does?

For ONNX Runtime and LiteRT on mobilenet_v2 at 1 thread, the runner's median (a fresh process,
timing inside) over the median of a bare in-process loop over the same library API and model
file. Interleaved rounds, so both see the same machine load. Target: 0.95–1.05.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from pytest_mobiledl import zoo
from pytest_mobiledl.record import from_json

pytestmark = pytest.mark.perf
WARMUP, ITERATIONS, ROUNDS = 10, 100, 5


def bare_onnxruntime(path: Path) -> Callable[[], object]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = 1, 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feeds = {i.name: np.random.default_rng(0).standard_normal(i.shape).astype(np.float32) for i in session.get_inputs()}
    return lambda: session.run(None, feeds)


def bare_tflite(path: Path) -> Callable[[], object]:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=1)
    interpreter.allocate_tensors()
    [inp], [out] = interpreter.get_input_details(), interpreter.get_output_details()
    x = np.random.default_rng(0).standard_normal(inp["shape"]).astype(np.float32)

    def run() -> object:
        interpreter.set_tensor(inp["index"], x)
        interpreter.invoke()
        return interpreter.get_tensor(out["index"])

    return run


def bare_median(run: Callable[[], object]) -> float:
    for _ in range(WARMUP):
        run()
    samples = []
    for _ in range(ITERATIONS):
        t0 = time.perf_counter_ns()
        run()
        samples.append((time.perf_counter_ns() - t0) / 1e6)
    return statistics.median(samples)


def runner_median(lib: str, path: Path) -> float:
    argv = [sys.executable, "-m", "pytest_mobiledl.runner", "--lib", lib, "--model", str(path), "--model-id",
            "mobilenet_v2", "--threads", "1", "--warmup", str(WARMUP), "--iterations", str(ITERATIONS)]
    return from_json(subprocess.run(argv, capture_output=True, text=True, check=True).stdout).median_ms


@pytest.mark.parametrize(("lib", "bare"), [("onnxruntime", bare_onnxruntime), ("tflite", bare_tflite)])
def test_runner_median_matches_a_bare_loop(lib: str, bare: Callable[[Path], Callable[[], object]],
                                           model_cache: Path, figure: Callable[[str], None]) -> None:
    path = zoo.artifact("mobilenet_v2", lib, "fp32", model_cache).path
    run = bare(path)
    ratios = [runner_median(lib, path) / bare_median(run) for _ in range(ROUNDS)]
    ratio = statistics.median(ratios)
    figure(f"fidelity {lib} mobilenet_v2 t1: runner/bare median = {ratio:.3f} (rounds: "
          f"{', '.join(f'{r:.3f}' for r in ratios)})")
    assert 0.8 < ratio < 1.25, "the runner's numbers drifted from what the library does"
