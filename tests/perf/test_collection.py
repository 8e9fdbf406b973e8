"""Collection cost: 10,080 items must collect in under 3 s (pytest's own collection time).

Reported next to a plain ``@pytest.mark.parametrize`` of as many items, so the figure says what
the plugin adds to what pytest itself costs per item.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

pytestmark = pytest.mark.perf

# 2 libs × 2 models × 5 backends × 3 precisions × 168 thread counts = 10,080 items.
N = 10080
BIG = ["--repeats=1", "--libs=onnxruntime,tflite", "--models=mobilenet_v2,tiny_cnn", "--backends=all",
       "--precisions=all",
       "--threads=" + ",".join(str(t) for t in range(1, 169))]
PLAIN = f"""
import pytest
@pytest.mark.parametrize("x", range({N}), ids=[f"host-onnxruntime-mobilenet_v2-cpu-fp32-t{{i}}" for i in range({N})])
def test_plain(x):
    pass
"""


def collect(pytester: pytest.Pytester, *args: str) -> float:
    result = pytester.runpytest_subprocess("--collect-only", "-q", "-p", "no:cacheprovider",
                                           "-p", "no:hypothesispytest", *args)
    assert result.ret == 0
    match = re.search(rf"^{N} tests collected in ([0-9.]+)s", result.stdout.str(), re.M)
    assert match, result.stdout.str()[-500:]
    return float(match.group(1))


def test_collecting_10000_items(pytester: pytest.Pytester, figure: Callable[[str], None]) -> None:
    pytester.makepyfile(test_bench="def test_latency(mobiledl):\n    mobiledl.run()\n", test_plain=PLAIN)
    ours = min(collect(pytester, "test_bench.py", *BIG) for _ in range(3))
    plain = min(collect(pytester, "test_plain.py") for _ in range(3))
    figure(f"collection of {N} items: pytest-mobiledl {ours:.2f} s, plain parametrize {plain:.2f} s "
          f"(ratio {ours / plain:.2f}; the plugin adds {(ours - plain) / N * 1e6:.0f} µs per item)")
    assert ours < 3.0
