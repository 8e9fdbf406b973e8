"""Cached Python environments for ``--variant LIB@LABEL=<pip requirement or wheel>``.

One environment per spec (and interpreter version), made once with ``python -m venv`` and
``pip install SPEC numpy``: that is all the zipapp runner needs (it imports the library and
numpy, nothing else). It is made under a lock, so xdist workers and parallel sessions wait for
one maker, and marked ready only when complete: a killed install is made again, never trusted.
Later sessions find it ready and need no network.
"""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from pytest_mobiledl import progress
from pytest_mobiledl.errors import MobiledlError

INSTALL_TIMEOUT_S = 1800
#: The runner's own needs besides the library (``dispatch.ZIPAPP_MODULES`` import nothing else).
RUNNER_NEEDS = ("numpy",)


def default_cache() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("pytest-mobiledl")) / "envs"


def folder(spec: str, cache: Path) -> Path:
    """Where the environment for ``spec`` lives: keyed by the spec and this interpreter's version."""
    key = hashlib.sha256(f"{spec}\0{sys.version_info[:2]}".encode()).hexdigest()[:16]
    return cache / key


def python_of(env: Path) -> Path:
    return env / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def ensure(spec: str, cache: Path, say: Callable[[str], None]) -> Path:
    """The interpreter of ``spec``'s environment, made now if it is not ready."""
    from filelock import FileLock

    env = folder(spec, cache)
    ready = env / "READY"
    cache.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{env}.lock"):
        if ready.is_file():
            return python_of(env)
        shutil.rmtree(env, ignore_errors=True)  # a half-made one from a killed session
        what = f"making an environment for {spec} in {env} (once; later sessions reuse it)"
        try:
            with progress.step(what, say, done=" (before any item: no measurement includes it)"):
                # This interpreter's pip installs into the new environment (pip --python): no pip bootstrap there.
                own_pip = importlib.util.find_spec("pip") is not None
                _step([sys.executable, "-m", "venv", *([] if not own_pip else ["--without-pip"]), str(env)],
                      f"python -m venv {env}")
                pip = [sys.executable, "-m", "pip", "--python", str(python_of(env))] if own_pip else [
                    str(python_of(env)), "-m", "pip"]
                _step([*pip, "install", "--quiet", "--disable-pip-version-check", spec, *RUNNER_NEEDS],
                      f"pip install {spec}")
                ready.write_text(spec + "\n")
        except OSError as exc:  # a full disk, most likely: nothing half-made is left to be trusted
            shutil.rmtree(env, ignore_errors=True)
            raise MobiledlError(f"cannot make an environment in {env}: {exc.strerror or exc}") from None
        except MobiledlError:
            shutil.rmtree(env, ignore_errors=True)
            raise
    return python_of(env)


def _step(argv: list[str], what: str) -> None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise MobiledlError(f"{what} took over {INSTALL_TIMEOUT_S} s") from None
    if done.returncode != 0:
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip().startswith("ERROR")]
        lines = lines or [line.strip() for line in done.stderr.splitlines() if line.strip()]
        raise MobiledlError(f"{what} failed: {lines[0] if lines else f'exit status {done.returncode}'}")
