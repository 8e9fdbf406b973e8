from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

# onnx before any test's pytester snapshots sys.modules: pytester's restore at teardown would unload
# what a fixture imported meanwhile, and onnx's nanobind extension cannot load twice in one process
# (the next import fails: "CheckerContext was already registered").
import onnx  # noqa: F401
import pytest

pytest_plugins = ["pytester", "pytest_mobiledl.emulator.fixtures"]

BENCH_FILE = '''
import json, pathlib

def test_latency(mobiledl):
    record = mobiledl.run()
    name = f"samples-{mobiledl.case.id}-r{mobiledl.repeat}.json"
    pathlib.Path(name).write_text(json.dumps(record.samples_ms))
'''


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Converted models, shared by every test of the session (conversion takes seconds)."""
    shared = os.environ.get("MOBILEDL_TEST_CACHE")
    return Path(shared) if shared else tmp_path_factory.mktemp("model-cache")


@pytest.fixture
def bench_dir(pytester: pytest.Pytester, model_cache: Path, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A project with one benchmark file whose items also write their samples next to it.

    Its pytest runs load only the plugins they use: executorch's and litert-torch's dependencies
    bring pytest plugins (hypothesis, jaxtyping, hydra, anyio, kgb) that cost ~3 s per start.
    """
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p mobiledl -p benchmark -p xdist -p xdist.looponfail")
    pytester.makepyfile(test_bench=BENCH_FILE)
    # One repeat per case unless a test asks for more: most tests are about one run's flow.
    pytester.makeini(f"[pytest]\nmobiledl_model_cache = {model_cache}\nmobiledl_models = tiny_cnn\n"
                     "mobiledl_repeats = 1\n")
    return pytester


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs filled to the last byte (root only: else the test says why it skips); its
    ``filler`` file is what to delete to free it. Never the real disk."""
    mount = tmp_path / "full"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill (needs root): {done.stderr.strip()}")
    try:
        fd = os.open(mount / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError:
            pass  # full
        finally:
            os.close(fd)
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)

