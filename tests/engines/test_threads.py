"""A session opened for N threads computes on at most N cores: CPU time ÷ wall time of its runs.

MNN 3.6.1's ``load_module_from_file(thread_num=1)`` ran on every core (1.83 on tiny_cnn, 2.0 on
mobilenet_v2, 2 cores), so its "1 thread" items were two-core items beside everyone else's
one-core ones. The ratio is taken in a fresh process, so no other library's threads count, and a
busy machine only lowers it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pytest_mobiledl import engines, zoo

HOST_LIBS = [lib for lib in engines.LIBS if engines.installed(engines.get(lib))]

MEASURE = """
import sys, time
from pytest_mobiledl import engines
from pytest_mobiledl.tensors import random_inputs
session = engines.get(sys.argv[1]).open_session(sys.argv[2], 1, "cpu", "fp32")
feeds = random_inputs(session.inputs(), 0)
for _ in range(20):
    session.run(feeds)
wall0, cpu0 = time.perf_counter(), time.process_time()
while time.perf_counter() - wall0 < 1.0:
    session.run(feeds)
print((time.process_time() - cpu0) / (time.perf_counter() - wall0))
"""


@pytest.mark.parametrize("lib", HOST_LIBS)
def test_one_thread_computes_on_one_core(lib: str, model_cache: Path) -> None:
    artifact = zoo.artifact("tiny_cnn", lib, "fp32", model_cache)
    done = subprocess.run([sys.executable, "-c", MEASURE, lib, str(artifact.path)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    ratio = float(done.stdout.split()[-1])
    assert ratio < 1.5, f"{lib} at 1 thread used {ratio:.2f} cores"
