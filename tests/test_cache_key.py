"""The cache key follows the code that shapes an artifact: the conversion process's module and every
module of the package it imports, and the engine's module, whole; not the parent's plumbing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import pytest_mobiledl
from pytest_mobiledl import zoo
from pytest_mobiledl.usermodels import UserModel

#: The key of a user's .onnx file (no zoo model to import), printed by a process importing the package at sys.argv[2].
KEY = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from pytest_mobiledl import zoo
from pytest_mobiledl.usermodels import UserModel
assert zoo.__file__.startswith(sys.argv[2]), zoo.__file__
print(zoo.artifact_path("net", "onnxruntime", "fp32", Path("cache"), UserModel("net", Path(sys.argv[1]))).name)
"""


@pytest.mark.parametrize(("edited", "changes"), [
    ("conversion.py", True),  # the child itself
    ("modelspec.py", True),  # how a model is instantiated (weights re-drawn), imported by the child
    ("parity.py", True),
    ("usermodels.py", True),
    ("engines/onnxruntime.py", True),  # the library's own engine
    ("engines/tflite.py", False),  # another library's
    ("zoo.py", False),  # the parent's plumbing: path, lock, damage check
    ("report/tables.py", False),
])
def test_the_key_changes_with_the_code_that_shapes_the_artifact(tmp_path: Path, edited: str, changes: bool) -> None:
    model = tmp_path / "net.onnx"
    model.write_bytes(b"an onnx file's bytes")
    copy = tmp_path / "copy"
    shutil.copytree(Path(pytest_mobiledl.__file__).parent, copy / "pytest_mobiledl",
                    ignore=shutil.ignore_patterns("__pycache__", "models"))
    with (copy / "pytest_mobiledl" / edited).open("a") as f:
        f.write("\n# one comment more\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", KEY, str(model), str(copy)], capture_output=True, text=True,
                          env=env, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    before = zoo.artifact_path("net", "onnxruntime", "fp32", Path("cache"), UserModel("net", model)).name
    assert (done.stdout.strip() != before) is changes, (before, done.stdout)


def test_a_zoo_model_is_keyed_with_the_zoo_files_it_imports() -> None:
    assert zoo.imported("pytest_mobiledl.models.ssd_mobilenet_v2", "pytest_mobiledl.models") == (
        "pytest_mobiledl.models.ssd_mobilenet_v2", "pytest_mobiledl.models.mobilenet_v2")
