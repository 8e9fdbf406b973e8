"""A setting the tool echoes that contradicts the request fails the item, naming both values."""

from __future__ import annotations

import pytest
from native_cases import make_request, sample

from pytest_mobiledl.native import SPECS, ToolError

#: (lib, sample, request, echoed line as recorded, the same line contradicting it, cause words)
CONTRADICTIONS = [
    ("tflite", "cpu_4threads.txt", {"warmup": 5}, "Num threads: [4]", "Num threads: [1]", "threads 4"),
    ("tflite", "cpu_4threads.txt", {"warmup": 5}, "count=5 first=14210", "count=9 first=14210", "the tool did 9"),
    ("tflite", "cpu_4threads.txt", {"warmup": 5}, "count=50 first=9903", "count=61 first=9903", "the tool did 61"),
    ("tflite", "cpu_4threads.txt", {"warmup": 5}, "Min warmup runs: [5]", "Min warmup runs: [7]", "warm-up runs 5"),
    ("ncnn", "cpu_4threads.txt", {"warmup": 8}, "num_threads = 4", "num_threads = 8", "num_threads 4"),
    ("ncnn", "cpu_4threads.txt", {"warmup": 8}, "cooling_down = 0", "cooling_down = 1", "cooling_down 0"),
    ("ncnn", "cpu_4threads.txt", {"warmup": 8}, "gpu_device = -1", "gpu_device = 0", "gpu_device -1"),
    ("ncnn", "cpu_4threads.txt", {"warmup": 8}, "powersave = 0", "powersave = 2", "powersave 0"),
    ("mnn", "cpu_4threads.txt", {"warmup": 10}, "thread=4", "thread=8", "threads 4"),
    ("mnn", "cpu_4threads.txt", {"warmup": 10}, "precision=1", "precision=2", "precision 1"),
    ("mnn", "cpu_4threads.txt", {"warmup": 10}, "warmup = 10", "warmup = 0", "warmup 10"),
    ("mnn", "cpu_4threads.txt", {"warmup": 10}, "loop = 50", "loop = 500", "loop 50"),
    ("executorch", "cpu_v0_6_threadpool_total.txt", {"iterations": 20}, "threads = 4", "threads = 8", "threads 4"),
    (
        "executorch",
        "cpu_xnnpack_per_iteration.txt",
        {"warmup": 2, "iterations": 10},
        "1 of 12",
        "1 of 13",
        "executions 12",
    ),
    ("mace", "cpu_4threads.txt", {"layout": "NHWC"}, "num_threads: 4", "num_threads: 1", "threads 4"),
    ("mace", "cpu_4threads.txt", {"layout": "NHWC"}, "round: 50", "round: 100", "rounds 50"),
    ("onnxruntime", "cpu_4threads.txt", {"iterations": 100}, "threads to 4", "threads to 2", "threads 4"),
    ("onnxruntime", "cpu_4threads.txt", {"iterations": 100}, "requests: 100", "requests: 120", "runs 100"),
    ("onnxruntime", "cpu_4threads.txt", {"iterations": 100}, "Runs:100", "Runs:120", "runs 100"),
]


@pytest.mark.parametrize(("lib", "name", "request_", "old", "new", "says"), CONTRADICTIONS)
def test_a_contradicting_echo_fails_the_item(
    lib: str, name: str, request_: dict[str, object], old: str, new: str, says: str
) -> None:
    text = sample(lib, name)
    assert old in text
    stream = (text.replace(old, new, 1), "") if lib not in ("ncnn", "executorch") else ("", text.replace(old, new, 1))
    with pytest.raises(ToolError) as caught:
        SPECS[lib].parse(*stream, 0, make_request(lib, **request_))
    assert caught.value.kind == "settings_mismatch" and says in caught.value.cause, str(caught.value)


def test_the_recorded_echo_passes() -> None:
    """The table's samples, unchanged, parse: the contradiction is the only cause above."""
    for lib, name, request_, *_ in CONTRADICTIONS:
        text = sample(lib, name)
        stream = (text, "") if lib not in ("ncnn", "executorch") else ("", text)
        assert SPECS[lib].parse(*stream, 0, make_request(lib, **request_)).count >= 1


def test_more_pytorch_runs_than_asked_is_a_contradiction() -> None:
    text = sample("pytorch", "cpu_4threads.txt")
    line = next(ln for ln in text.splitlines() if ln.startswith("PyTorchObserver"))
    with pytest.raises(ToolError, match="asked 20 runs, the tool printed 21") as caught:
        SPECS["pytorch"].parse(text.replace(line, f"{line}\n{line}", 1), "", 0, make_request("pytorch", iterations=20))
    assert caught.value.kind == "settings_mismatch"


def test_executor_runner_without_a_time_says_which_build_is_needed() -> None:
    text = sample("executorch", "cpu_v0_6_threadpool_total.txt").replace(" in 207.402911 ms.", ".")
    with pytest.raises(ToolError, match=r"prints no time.*v0\.6") as caught:
        SPECS["executorch"].parse("", text, 0, make_request("executorch", iterations=20))
    assert caught.value.kind == "missing_lines"
