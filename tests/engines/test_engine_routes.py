"""Every route of the ncnn, MNN, PyTorch Mobile and ExecuTorch engines, for real: convert with the
zoo, time with the host runner in its own process, and compare the outputs with the torch module's."""

from __future__ import annotations

import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_mobiledl import engines, record, zoo
from pytest_mobiledl.tensors import digest, random_inputs

LIBS = ("ncnn", "mnn", "pytorch", "executorch")
#: Parity tolerance, relative to the largest magnitude of the reference output.
TOLERANCE = {"fp32": 1e-4, "fp16": 1e-2}
#: Formats that keep the source's input names; the others name inputs by position (in0, in1, …).
KEEPS_NAMES = {"ncnn": True, "mnn": True, "pytorch": True, "executorch": False}

# Float routes only: the int8 routes (mnn, executorch) are checked in test_quant_routes.py, with
# int8's own parity rule (a relative error or a cosine) and tiny_cnn's limits.
ROUTES = [(lib, p) for lib in LIBS for p in engines.get(lib).PRECISIONS if p in TOLERANCE]


def check_parity(lib: str, path: Path, model_id: str, precision: str) -> tuple[float, str]:
    """Max abs error of the artifact against the torch module, and the digest of its outputs (1 thread)."""
    import numpy as np
    import torch

    spec = zoo.load(model_id)
    module, _ = spec.instantiate()

    def reference(seed: int) -> list[np.ndarray]:
        feeds = random_inputs(spec.inputs, seed)
        with torch.no_grad():
            out = module(*(torch.from_numpy(feeds[t.name]) for t in spec.inputs))
        return [o.numpy() for o in ([out] if isinstance(out, torch.Tensor) else out)]

    feeds = random_inputs(spec.inputs, 0)
    expected_outputs = reference(0)
    # Parity means something only if the output depends on the input by more than the tolerance
    # (random weights can make activations vanish, leaving only the last layer's bias).
    sensitivity = max(float(np.abs(a - b).max() / np.abs(a).max())
                      for a, b in zip(expected_outputs, reference(1), strict=True))
    if sensitivity <= TOLERANCE[precision]:
        warnings.warn(f"parity of {model_id} is vacuous at {precision}: another input moves its output by only "
                      f"{sensitivity:.2g} (relative), under the tolerance {TOLERANCE[precision]:g}", stacklevel=2)

    session = engines.get(lib).open_session(str(path), 1, "cpu", precision)
    got_inputs = list(session.inputs())
    names = [t.name for t in spec.inputs] if KEEPS_NAMES[lib] else [f"in{i}" for i in range(len(spec.inputs))]
    assert [t.name for t in got_inputs] == names
    assert [(t.shape, t.dtype) for t in got_inputs] == [(t.shape, t.dtype) for t in spec.inputs]
    outputs = session.run({t.name: feeds[s.name] for t, s in zip(got_inputs, spec.inputs, strict=True)})

    assert len(outputs) == len(expected_outputs)
    worst = 0.0
    for got, want in zip(outputs, expected_outputs, strict=True):
        assert isinstance(got, np.ndarray) and got.shape == want.shape, (type(got), getattr(got, "shape", None))
        error = float(np.abs(got.astype(np.float64) - want).max())
        bound = TOLERANCE[precision] * float(np.abs(want).max())
        assert error <= bound, f"{lib} {precision}: max abs error {error:.3g} > {bound:.3g}"
        worst = max(worst, error)
    return worst, digest(outputs)


def check_route(convert: Callable[..., Path], run_runner: Callable[..., record.RunRecord],
                lib: str, model_id: str, precision: str) -> None:
    path = convert(lib, model_id, precision)
    engine = engines.get(lib)
    run = run_runner(lib, path, model_id, precision=precision)

    assert (run.lib, run.model, run.backend, run.precision, run.threads) == (lib, model_id, "cpu", precision, 1)
    assert run.lib_version == engines.version(engine.DIST) != "not-installed"
    assert run.count >= 5 and run.samples_ms is not None and len(run.samples_ms) == run.count
    assert all(s > 0 for s in run.samples_ms)
    assert run.init_ms is not None and run.first_inference_ms is not None and run.first_inference_ms > 0
    assert run.engine_options == engine.engine_options("cpu", precision)

    _, outputs_digest = check_parity(lib, path, model_id, precision)
    # The runner fed the same seeded inputs and got the same (parity-checked) outputs.
    assert run.output_sha256 == outputs_digest


@pytest.mark.parametrize(("lib", "precision"), ROUTES, ids=[f"{lib}-{p}" for lib, p in ROUTES])
def test_tiny_cnn(convert: Callable[..., Path], run_runner: Callable[..., record.RunRecord],
                  lib: str, precision: str) -> None:
    check_route(convert, run_runner, lib, "tiny_cnn", precision)


@pytest.mark.slow
@pytest.mark.parametrize("lib", LIBS)
def test_mobilenet_v2(convert: Callable[..., Path], run_runner: Callable[..., record.RunRecord], lib: str) -> None:
    check_route(convert, run_runner, lib, "mobilenet_v2", "fp32")


@pytest.mark.parametrize("lib", LIBS)
def test_constants(lib: str) -> None:
    engine = engines.get(lib)
    assert engine.LIB == lib
    assert set(engine.PRECISIONS) <= set(record.PRECISIONS) and "fp32" in engine.PRECISIONS
    assert set(engine.HOST_BACKENDS) <= set(record.BACKENDS)
    assert set(getattr(engine, "FLAGS", ())) <= record.FLAGS.keys()
    for precision in engine.PRECISIONS:
        assert engine.engine_options("cpu", precision)


def test_engine_modules_import_no_library() -> None:
    """Importing an engine is free: the libraries load inside convert/open_session only."""
    code = ("import sys\n"
            + "".join(f"import pytest_mobiledl.engines.{lib}\n" for lib in LIBS)
            + "print(sorted(m for m in ('torch', 'ncnn', 'pnnx', 'MNN', '_tools', 'executorch', 'numpy')"
              " if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]"


def test_pytorch_records_no_mobile_optimization() -> None:
    """optimize_for_mobile fails with the CPU torch wheel (hazard 5): the record must say it did not run."""
    from pytest_mobiledl.engines import pytorch

    assert pytorch.FLAGS == ("no_mobile_optimization",)
    assert pytorch.engine_options("cpu", "fp32")["optimize_for_mobile"] is False
