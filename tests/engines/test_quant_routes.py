"""The reduced-precision routes of ONNX Runtime, LiteRT, ExecuTorch and MNN, for real: the zoo builds
each artifact (the library's own float16 converter or quantizer, then parity against the torch
source in the conversion process), the host runner times it in its own process, and its outputs
there must be those of a session opened here. int8 passes parity at a max relative error ≤ 5e-2
or a cosine ≥ 0.99 (parity.py); a route that misses it fails here, tolerances are not loosened.
"""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pytest_mobiledl import engines, parity, record, zoo
from pytest_mobiledl.tensors import digest, random_inputs

QUANT_LIBS = ("onnxruntime", "tflite", "executorch", "mnn")
#: What each route needs installed: the runtime, then its converter and quantizer.
NEEDS = {
    "onnxruntime": ("onnxruntime", "onnx", "onnxscript", "torch"),
    "tflite": ("ai_edge_litert", "litert_torch", "ai_edge_quantizer", "torch"),
    "executorch": ("executorch", "torchao", "torch"),
    "mnn": ("MNN", "_tools", "onnxscript", "torch"),
}
#: MNN's fp16 (--fp16 weights) predates these routes and is tested with the float ones in test_engine_routes.py.
OLDER = {("mnn", "fp16")}
ROUTES = [(lib, p) for lib in QUANT_LIBS for p in engines.get(lib).PRECISIONS if p != "fp32" and (lib, p) not in OLDER]
IDS = [f"{lib}-{p}" for lib, p in ROUTES]
#: Largest artifact size of a precision relative to the fp32 artifact, for mobilenet_v2's 3.5 M weights.
SIZE_RATIO = {"fp16": 0.6, "int8": 0.35}


def require(lib: str) -> None:
    missing = [m for m in NEEDS[lib] if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"{lib} route not installed (missing {', '.join(missing)}): "
                    f"pip install 'pytest-mobiledl[{engines.get(lib).EXTRA}]'")


def check_parity(numbers: dict[str, Any], precision: str) -> None:
    assert numbers["precision"] == precision
    assert math.isfinite(numbers["max_rel_err"]) and math.isfinite(numbers["cosine"]), numbers
    assert numbers["passed"], parity.describe(numbers)


def check_route(lib: str, model_id: str, precision: str, cache: Path, run_runner: Callable[..., record.RunRecord],
                compare_here: bool) -> zoo.Artifact:
    require(lib)
    engine = engines.get(lib)
    artifact = zoo.artifact(model_id, lib, precision, cache)
    check_parity(artifact.parity, precision)
    # Every route keeps the source's float inputs (quantization happens inside the graph).
    spec = zoo.load(model_id)
    assert [(t.shape, t.dtype) for t in artifact.inputs] == [(t.shape, t.dtype) for t in spec.inputs]

    run = run_runner(lib, artifact.path, model_id, precision=precision)
    assert (run.lib, run.model, run.backend, run.precision, run.threads) == (lib, model_id, "cpu", precision, 1)
    assert run.lib_version == engines.version(engine.DIST) != "not-installed"
    assert run.count >= 5 and run.samples_ms is not None and len(run.samples_ms) == run.count
    assert run.init_ms is not None and run.first_inference_ms is not None and run.first_inference_ms > 0
    assert run.engine_options == engine.engine_options("cpu", precision)
    assert run.engine_options != engine.engine_options("cpu", "fp32")  # the settings are on the record

    if compare_here:
        # The runner ran this artifact: same seeded inputs, same outputs as a session opened here.
        session = engine.open_session(str(artifact.path), 1, "cpu", precision)
        assert run.output_sha256 == digest(session.run(random_inputs(session.inputs(), 0)))
    return artifact


@pytest.mark.parametrize(("lib", "precision"), ROUTES, ids=IDS)
def test_tiny_cnn(model_cache: Path, run_runner: Callable[..., record.RunRecord], lib: str, precision: str) -> None:
    check_route(lib, "tiny_cnn", precision, model_cache, run_runner, compare_here=True)


@pytest.mark.slow
@pytest.mark.parametrize(("lib", "precision"), ROUTES, ids=IDS)
def test_mobilenet_v2(model_cache: Path, run_runner: Callable[..., record.RunRecord], lib: str,
                      precision: str) -> None:
    artifact = check_route(lib, "mobilenet_v2", precision, model_cache, run_runner, compare_here=False)
    fp32 = zoo.artifact("mobilenet_v2", lib, "fp32", model_cache)
    ratio = artifact.path.stat().st_size / fp32.path.stat().st_size
    assert ratio <= SIZE_RATIO[precision], f"{lib} {precision} artifact is {ratio:.2f} of the fp32 one"


@pytest.mark.parametrize("lib", QUANT_LIBS)
def test_quantization_settings_are_recorded(lib: str) -> None:
    engine = engines.get(lib)
    assert set(engine.PRECISIONS) <= set(record.PRECISIONS) and "fp32" in engine.PRECISIONS
    for precision in engine.PRECISIONS:
        options = engine.engine_options("cpu", precision)
        json.dumps(options)  # a record field: plain JSON
        if precision == "int8":
            assert options["calibration_samples"] == engine.CALIBRATION_SAMPLES > 0
            assert options["io"] == "fp32"


def test_engine_modules_import_no_library() -> None:
    """Importing an engine is free: the converters and runtimes load inside convert/open_session only."""
    heavy = ("torch", "torchao", "onnx", "onnxruntime", "litert_torch", "ai_edge_litert", "ai_edge_quantizer",
             "executorch", "MNN", "_tools", "numpy")
    code = ("import sys\n"
            + "".join(f"import pytest_mobiledl.engines.{lib}\n" for lib in QUANT_LIBS)
            + f"print(sorted(m for m in {heavy!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]"


#: A real int8 conversion in a fresh process under an audit hook that refuses (and records) any network
#: use or process launch: MNN's quantizer runs in-process through ``_tools``, never ``MNN.tools``.
OFFLINE_CHILD = r"""
import json, sys

EVENTS = ("socket.", "urllib.Request", "http.client.", "os.system", "subprocess.Popen", "os.exec", "os.posix_spawn")
seen = []

def hook(event, args):
    if event.startswith(EVENTS):
        seen.append(f"{event} {args!r}"[:300])
        raise PermissionError(f"blocked by the offline test: {event}")

sys.addaudithook(hook)
from pytest_mobiledl import conversion

status = conversion.main(["convert", "tiny_cnn", "mnn", "int8", sys.argv[1]])
loaded = sorted(m for m in sys.modules if m.startswith(("MNN.tools", "aliyun")))
with open(sys.argv[2], "w") as f:
    json.dump({"status": status, "events": seen, "loaded": loaded}, f)
"""


def test_mnn_int8_conversion_opens_no_connection(tmp_path: Path) -> None:
    require("mnn")
    out, report = tmp_path / "model.mnn", tmp_path / "report.json"
    done = subprocess.run([sys.executable, "-c", OFFLINE_CHILD, str(out), str(report)],
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(report.read_text())
    assert result == {"status": 0, "events": [], "loaded": []}, done.stderr[-2000:]
    assert out.stat().st_size > 0
