"""Profiling one case: the ``mobiledl_ops`` fixture's work, on the item's device.

A profile is its own process (``python -m pytest_mobiledl.ops``), after and apart from the
case's latency runs, so no profiler overhead reaches a latency figure. Host cases only: on a
phone, the libraries' own tools print per-layer tables (``native/*``'s ``parse_layers``), which
are not run by the plugin yet. A --variant from a pip environment or an interpreter is profiled
by that interpreter, importing the profiling code from this package's folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_mobiledl import engines, zoo
from pytest_mobiledl.errors import ConversionError
from pytest_mobiledl.keys import OPS_KEY, build_name
from pytest_mobiledl.ops.profile import OpProfile, from_dict

if TYPE_CHECKING:
    from pytest_mobiledl.matrix import Case
    from pytest_mobiledl.options import Selection

#: The folder holding this package (what a variant's interpreter is given on its path).
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]
#: Profiled inferences per case (and as many unprofiled ones for the coverage reference).
RUNS = 20
WARMUP = 5


class Profiler:
    """The ``mobiledl_ops`` fixture: ``profile = mobiledl_ops.run()`` profiles the item's case."""

    def __init__(self, case: Case, selection: Selection, device_info: dict[str, object], item: pytest.Item) -> None:
        self.case, self.selection, self.device_info, self._item = case, selection, device_info, item

    def run(self) -> OpProfile:
        profile = self._profile().with_(device=self.device_info)
        self._item.user_properties.append((OPS_KEY, profile.to_dict()))
        return profile

    def _profile(self) -> OpProfile:
        case, selection = self.case, self.selection
        engine = engines.get(case.lib)
        python = _python(case, selection)
        if case.device != "host" or python is None:
            why = ("a variant from a tool folder runs on phones only" if case.device == "host" else
                   "phones are not profiled by the plugin yet; native/<lib>.py parses the per-layer tables their "
                   "tools print")
            return OpProfile(case.lib, engines.version(engine.DIST), case.model, case.backend, case.precision,
                             case.threads, profiler="none", runs=0, latency_ms=None, note=why, variant=case.variant)
        try:
            artifact = zoo.artifact(case.model, case.lib, case.precision, selection.model_cache, selection.rebuild,
                                    selection.user_models.get(case.model))
        except ConversionError as exc:
            skipped = str(exc)
        else:
            skipped = ""
        if skipped:
            pytest.skip(skipped)
        argv = [str(python), "-m", "pytest_mobiledl.ops", "--lib", case.lib, "--model", str(artifact.path),
                "--model-id", case.model, "--backend", case.backend, "--precision", case.precision,
                "--threads", str(case.threads), "--runs", str(RUNS), "--warmup", str(WARMUP)]
        who = f"{case.device} {build_name(case.lib, case.variant)}"
        return run_child(argv, selection.runner_timeout, who).with_(variant=case.variant)


def _python(case: Case, selection: Selection) -> Path | None:
    """The interpreter whose library the case runs: a --variant's own, or this one; None for a tool folder."""
    if not case.variant:
        return Path(sys.executable)
    from pytest_mobiledl import variants

    return variants.find(selection.variants, case.lib, case.variant).python


def run_child(argv: list[str], timeout: float, who: str) -> OpProfile:
    # A variant's interpreter has its library, not this package: it imports the profiler from here.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(_PACKAGE_ROOT),
                                                                      os.environ.get("PYTHONPATH", ""))))}
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{who}: profiling took over {timeout:g} s (--runner-timeout)", pytrace=False)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines or not lines[-1].startswith("{"):
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        pytest.fail(f"{who}: profiling failed (exit {done.returncode}): {tail}", pytrace=False)
    return from_dict(json.loads(lines[-1]))
