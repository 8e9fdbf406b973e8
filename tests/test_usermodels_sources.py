"""The user's own PyTorch (.py, .pt2) and TensorFlow (.keras, .h5, SavedModel) models: every route,
with the user's trained weights kept, parity against the source run by its own framework, and one
clear line for a file that cannot be used."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pytest_mobiledl import engines, routes, usermodels, zoo
from pytest_mobiledl.errors import MobiledlError
from pytest_mobiledl.tensors import TensorSpec, random_inputs
from pytest_mobiledl.usermodels import UserModel

HOST_LIBS = ("onnxruntime", "tflite", "ncnn", "mnn", "pytorch", "executorch")
#: The rest run in CI's slow tier: each conversion costs 10–60 s.
QUICK = ("onnxruntime", "pytorch")

SMALL_NET = '''"""A small CNN of the user's, in the simple form: build() + INPUTS + CHECKPOINT."""
import os
import sys

from torch import nn

if "_pytest" in sys.modules and not os.environ.get("SMALL_NET_TRAINING"):
    raise RuntimeError("imported in a pytest process")

INPUTS = {"image": (1, 3, 16, 16)}
CHECKPOINT = "small_net.pt"


def build() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))
'''
SPECS = (TensorSpec("image", (1, 3, 16, 16)),)


def _trained(folder: Path) -> Any:
    """The file's model after a few seeded SGD steps, saved as its checkpoint: weights that no
    initializer draws, so an artifact that re-drew them would not match."""
    import torch

    (folder / "small_net.py").write_text(SMALL_NET)
    spec = importlib.util.spec_from_file_location("small_net_for_training", folder / "small_net.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    os.environ["SMALL_NET_TRAINING"] = "1"  # the test trains it here; the plugin never imports it
    try:
        spec.loader.exec_module(module)
    finally:
        del os.environ["SMALL_NET_TRAINING"]
    torch.manual_seed(0)
    net = module.build()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    x, y = torch.randn(16, 3, 16, 16), torch.randint(0, 4, (16,))
    for _ in range(5):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        optimizer.step()
    torch.save(net.state_dict(), folder / "small_net.pt")
    return net.eval()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    folder = tmp_path_factory.mktemp("user-py")
    return folder / "small_net.py", _trained(folder)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("user-cache")


def _expected(net: Any, x: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return np.asarray(net(torch.from_numpy(x)))


def _check_trained_weights(artifact: zoo.Artifact, lib: str, net: Any) -> None:
    """The artifact computes what the trained model computes: its weights were kept."""
    session = engines.get(lib).open_session(str(artifact.path), 1, "cpu", "fp32")
    x = random_inputs(SPECS, 0)["image"]
    [out] = session.run({session.inputs()[0].name: x})
    np.testing.assert_allclose(out.reshape(-1), _expected(net, x).reshape(-1), rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("lib", [pytest.param(lib, marks=() if lib in QUICK else pytest.mark.slow)
                                 for lib in HOST_LIBS])
def test_a_trained_py_model_reaches_every_library_with_its_own_weights(
        lib: str, trained: tuple[Path, Any], cache: Path) -> None:
    path, net = trained
    artifact = zoo.artifact("small_net", lib, "fp32", cache, source=UserModel("small_net", path))
    assert artifact.parity["passed"], artifact.parity
    assert artifact.meta["macs"] == 16 * 16 * 8 * 27 + 8 * 8 * 8 * 72 + 32  # for the plausibility floor
    _check_trained_weights(artifact, lib, net)


@pytest.fixture(scope="module")
def pt2(trained: tuple[Path, Any]) -> Path:
    import torch

    path, net = trained
    program = torch.export.export(net, (torch.from_numpy(random_inputs(SPECS, 0)["image"]),))
    torch.export.save(program, path.with_name("exported_net.pt2"))
    return path.with_name("exported_net.pt2")


@pytest.mark.parametrize("lib", [pytest.param(lib, marks=() if lib == "onnxruntime" else pytest.mark.slow)
                                 for lib in HOST_LIBS])
def test_an_exported_program_reaches_every_library(lib: str, pt2: Path, trained: tuple[Path, Any],
                                                   cache: Path) -> None:
    artifact = zoo.artifact("exported_net", lib, "fp32", cache, source=UserModel("exported_net", pt2))
    assert artifact.parity["passed"], artifact.parity
    _check_trained_weights(artifact, lib, trained[1])


def test_inspection_finds_inputs_and_counts_macs(trained: tuple[Path, Any], pt2: Path) -> None:
    found = usermodels.inspect(UserModel("small_net", trained[0]))
    assert found.inputs == SPECS
    # conv1 16·16·8·27 + conv2 8·8·8·72 + linear 8·4, as counts.count does for the zoo's
    assert (found.params, found.macs) == (860, 16 * 16 * 8 * 27 + 8 * 8 * 8 * 72 + 32)
    assert usermodels.inspect(UserModel("exported_net", pt2)).macs == found.macs


BAD_PY = {
    "raises.py": ("import torch\nraise ImportError('no module named my_private_lib')\n",
                  "importing it failed: ImportError: no module named my_private_lib"),
    "syntax.py": ("def build(:\n", "importing it failed: SyntaxError: "),
    "empty.py": ("X = 1\n", "it defines neither MODEL = ModelSpec(...) nor build() with INPUTS"),
    "broken.py": ("from torch import nn\nINPUTS = {'x': (1, 4)}\ndef build():\n    return nn.Linear(5, 2)\n",
                  "building or running it failed: RuntimeError: mat1 and mat2 shapes cannot be multiplied"),
    "nockpt.py": ("from torch import nn\nINPUTS = {'x': (1, 4)}\nCHECKPOINT = 'gone.pt'\n"
                  "def build():\n    return nn.Linear(4, 2)\n", "CHECKPOINT 'gone.pt': no file "),
    "bad.pt2": ("not an archive", "not a readable torch.export program"),
}


@pytest.mark.parametrize("name", list(BAD_PY))
def test_a_bad_file_is_one_line(name: str, tmp_path: Path) -> None:
    text, message = BAD_PY[name]
    (tmp_path / name).write_text(text)
    with pytest.raises(MobiledlError) as caught:
        usermodels.inspect(UserModel("bad", tmp_path / name))
    assert message in str(caught.value) and "\n" not in str(caught.value), caught.value


def test_a_bad_py_file_is_a_usage_error_and_is_never_imported_by_pytest(
        bench_dir: pytest.Pytester, trained: tuple[Path, Any]) -> None:
    (bench_dir.path / "raises.py").write_text(BAD_PY["raises.py"][0])
    result = bench_dir.runpytest_subprocess("--collect-only", f"--models={bench_dir.path / 'raises.py'}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--models: */raises.py: importing it failed: ImportError: no module named "
                                 "my_private_lib"])
    assert "Traceback" not in result.stderr.str()
    # The trained file refuses to be imported by a pytest process: collecting it works.
    result = bench_dir.runpytest_subprocess("--collect-only", f"--models={trained[0]}", "--libs=onnxruntime,mace")
    assert result.ret == 0, result.stderr.str()
    result.stdout.fnmatch_lines(["*host-onnxruntime-small_net-cpu-fp32-t1*"])


def test_routes_name_each_library_or_why_none() -> None:
    assert routes.route("executorch", ".pt2") == "torch.export → XNNPACK lowering → .pte"
    assert "skipped if it does not trace" in routes.route("ncnn", ".pt2")
    assert routes.route("tflite", ".keras") == "tf.lite.TFLiteConverter → .tflite"
    assert routes.reason("pytorch", "SavedModel") == ("pytorch has no route from TensorFlow SavedModel models "
                                                      "(SavedModel; it converts PyTorch, torch.export models)")
    assert routes.reason("tflite", ".onnx") == ("tflite has no route from ONNX models (.onnx; it converts TFLite, "
                                                "PyTorch, torch.export, Keras, TensorFlow SavedModel models)")


def test_listing_routes_of_a_file(trained: tuple[Path, Any], tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "pytest_mobiledl", "models", f"--models={trained[0]}",
                           f"--model-cache={tmp_path}"], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "small_net (PyTorch: " in done.stdout and "params 860, MACs 92.19 K" in done.stdout
    assert "| pytorch     | torch.jit.trace → freeze → .ptl (lite interpreter)" in done.stdout
    assert "| mace        | none: " in done.stdout


# TensorFlow: a tiny Keras model (conv, depthwise conv, dense) saved as .keras, .h5 and SavedModel.

@pytest.fixture(scope="module")
def keras_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    pytest.importorskip("tensorflow")
    import keras

    folder = tmp_path_factory.mktemp("user-keras")
    keras.utils.set_random_seed(0)
    image = keras.Input((16, 16, 3), name="image")
    x = keras.layers.Conv2D(8, 3, activation="relu")(image)
    x = keras.layers.DepthwiseConv2D(3)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(image, keras.layers.Dense(5)(x))
    model.save(folder / "keras_net.keras")
    model.save(folder / "keras_net.h5")
    model.export(folder / "keras_net_saved")
    return {".keras": folder / "keras_net.keras", ".h5": folder / "keras_net.h5",
            "SavedModel": folder / "keras_net_saved"}


KERAS_CASES = [("tflite", "fp32", ".keras"), ("onnxruntime", "fp32", ".keras")]
KERAS_SLOW = [("tflite", "fp16", ".keras"), ("tflite", "int8", ".keras"), ("ncnn", "fp32", ".keras"),
              ("mnn", "fp32", ".keras"), ("onnxruntime", "int8", ".keras"), ("tflite", "fp32", ".h5"),
              ("tflite", "fp32", "SavedModel"), ("onnxruntime", "fp32", "SavedModel")]


@pytest.mark.parametrize(("lib", "precision", "fmt"),
                         KERAS_CASES + [pytest.param(*case, marks=pytest.mark.slow) for case in KERAS_SLOW])
def test_a_keras_model_reaches_its_libraries_with_parity(lib: str, precision: str, fmt: str,
                                                         keras_files: dict[str, Path], cache: Path) -> None:
    source = UserModel(f"keras_net_{fmt.strip('.').lower()}", keras_files[fmt])
    artifact = zoo.artifact(source.id, lib, precision, cache, source=source)
    assert artifact.parity["passed"], artifact.parity
    assert artifact.inputs[0].shape == (1, 16, 16, 3)
    assert artifact.meta["macs"] == 14 * 14 * 8 * 27 + 12 * 12 * 8 * 9 + 40  # TensorFlow's graph, counted


def test_keras_inspection_pins_the_batch_and_counts_macs(keras_files: dict[str, Path]) -> None:
    found = usermodels.inspect(UserModel("keras_net", keras_files[".keras"]))
    assert found.inputs == (TensorSpec("image", (1, 16, 16, 3)),)
    # conv 14·14·8·27 + depthwise 12·12·8·9 + dense 8·5
    assert (found.params, found.macs) == (349, 14 * 14 * 8 * 27 + 12 * 12 * 8 * 9 + 40)


def test_a_bad_keras_file_is_one_line(tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    (tmp_path / "bad.keras").write_text("not a zip")
    with pytest.raises(MobiledlError, match=r"bad.keras: not a readable Keras model \(") as caught:
        usermodels.inspect(UserModel("bad", tmp_path / "bad.keras"))
    assert "\n" not in str(caught.value)
