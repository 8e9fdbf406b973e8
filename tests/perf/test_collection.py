"""Collection cost: what the plugin adds per item to pytest's own collection.

Reported next to a plain ``@pytest.mark.parametrize`` of as many items, in one run (best of a few
collections each), as a ratio and µs per item. Full: 10,080 items, which must collect in under 3 s;
quick: 2,040 items, bounded only by a ratio a broken plugin (quadratic, per-item I/O) would pass.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.perf.conftest import Perf

pytestmark = pytest.mark.perf

#: 2 libs × 2 models × 5 backends × 3 precisions = 60 items per thread count.
PER_THREAD_COUNT = 60
PLAIN = """
import pytest
@pytest.mark.parametrize("x", range({n}), ids=[f"host-onnxruntime-mobilenet_v2-cpu-fp32-t{{i}}" for i in range({n})])
def test_plain(x):
    pass
"""


def collect(pytester: pytest.Pytester, n: int, *args: str) -> float:
    result = pytester.runpytest_subprocess("--collect-only", "-q", "-p", "no:cacheprovider",
                                           "-p", "no:hypothesispytest", *args)
    assert result.ret == 0
    match = re.search(rf"^{n} tests collected in ([0-9.]+)s", result.stdout.str(), re.M)
    assert match, result.stdout.str()[-500:]
    return float(match.group(1))


def test_collecting_many_items(pytester: pytest.Pytester, perf: Perf, figure: Callable[[str], None]) -> None:
    threads, tries = perf.pick(quick=(34, 2), full=(168, 3))
    n = PER_THREAD_COUNT * threads
    big = ["--repeats=1", "--libs=onnxruntime,tflite", "--models=mobilenet_v2,tiny_cnn", "--backends=all",
           "--precisions=all", "--threads=" + ",".join(str(t) for t in range(1, threads + 1))]
    pytester.makepyfile(test_bench="def test_latency(mobiledl):\n    mobiledl.run()\n",
                        test_plain=PLAIN.format(n=n))
    ours = min(collect(pytester, n, "test_bench.py", *big) for _ in range(tries))
    plain = min(collect(pytester, n, "test_plain.py") for _ in range(tries))
    figure(f"collection of {n} items: pytest-mobiledl {ours:.2f} s, plain parametrize {plain:.2f} s "
           f"(ratio {ours / plain:.2f}; the plugin adds {(ours - plain) / n * 1e6:.0f} µs per item)")
    assert ours / plain < 5, "collecting costs five times a plain parametrize: something per item went wrong"
    if perf.full:
        assert ours < 3.0
