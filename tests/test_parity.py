"""Parity numbers and verdicts, and the conversion process that writes them beside each artifact."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pytest_mobiledl import parity, zoo

REF = [np.array([[1.0, -2.0, 4.0]]), np.arange(6.0).reshape(2, 3)]


def test_identical_outputs_pass_with_zero_error() -> None:
    result = parity.compare(REF, REF, "fp32")
    assert result["passed"] and result["max_rel_err"] == 0 and result["cosine"] == pytest.approx(1)


@pytest.mark.parametrize(("noise", "precision", "passed"), [
    (1e-5, "fp32", True), (1e-3, "fp32", False), (1e-3, "fp16", True), (0.1, "fp16", False),
    (0.1, "int8", True),  # 0.1 / 5 = 2e-2 relative: within 5e-2
    (2.0, "int8", False),
])
def test_tolerance_is_relative_to_the_largest_magnitude(noise: float, precision: str, passed: bool) -> None:
    got = [REF[0] + noise, REF[1]]
    result = parity.compare(REF, got, precision)
    assert result["passed"] is passed
    assert result["max_rel_err"] == pytest.approx(noise / 5)  # the largest |value| is 5


def test_int8_passes_on_cosine_when_values_drift_in_proportion() -> None:
    got = [r * 1.08 for r in REF]  # 8 % off everywhere: relative error 0.08 > 5e-2, cosine 1
    assert parity.compare(REF, got, "int8")["passed"]
    assert not parity.compare(REF, got, "fp16")["passed"]


def test_outputs_are_paired_by_size_when_a_converter_reorders_or_drops_batch() -> None:
    got = [REF[1].ravel(), REF[0][0]]  # swapped, batch dimension gone
    assert parity.compare(REF, got, "fp32")["passed"]


def test_mismatched_outputs_fail_with_the_sizes() -> None:
    result = parity.compare(REF, [REF[0]], "fp32")
    assert not result["passed"] and "output sizes [3] do not match the source's [3, 6]" in result["error"]
    assert parity.describe(result).startswith("parity failed: output sizes")


def test_parity_is_not_proven_when_the_output_ignores_the_input() -> None:
    still = [r + 1e-6 for r in REF]  # another input moved the output by 2e-7 of its magnitude
    result = parity.compare(REF, REF, "fp32", parity.sensitivity(REF, still))
    assert not result["passed"] and result["error"].startswith("not proven: the source's output moves only 2.0e-07")
    moving = [r * 1.5 for r in REF]
    assert parity.compare(REF, REF, "fp32", parity.sensitivity(REF, moving))["passed"]


def test_non_finite_output_never_passes() -> None:
    assert not parity.compare(REF, [REF[0] * np.nan, REF[1]], "int8")["passed"]


def test_every_artifact_carries_its_parity(model_cache: Path) -> None:
    artifact = zoo.artifact("tiny_cnn", "onnxruntime", "fp32", model_cache)
    assert artifact.parity["passed"] and artifact.parity["max_rel_err"] < 1e-5
    assert artifact.parity["sensitivity"] > 0.02  # the zoo's weights keep the input in the output


CONVERT = """
import sys
from pathlib import Path
from pytest_mobiledl import zoo
print(zoo.artifact("tiny_cnn", "onnxruntime", "fp32", Path(sys.argv[1])).meta["build"]["pid"])
"""


def test_concurrent_workers_convert_an_artifact_once(tmp_path: Path) -> None:
    import subprocess
    import sys

    procs = [subprocess.Popen([sys.executable, "-c", CONVERT, str(tmp_path)], stdout=subprocess.PIPE, text=True)
             for _ in range(3)]
    builders = {p.communicate(timeout=600)[0].strip() for p in procs}
    assert len(builders) == 1 and builders != {""}  # all three got the artifact one conversion process made
    assert not list(tmp_path.rglob("*.part"))


def test_a_crashed_converter_is_named_by_its_error_line_not_its_last_warning() -> None:
    stderr = "terminate called after throwing an instance of 'std::bad_alloc'\n  what():  std::bad_alloc\n" \
             "/usr/lib/python3/warnings.py:1: UserWarning: something\n  return cls.__new__(cls, *args)\n"
    assert zoo.failure(stderr, -6) == "what():  std::bad_alloc (the converter died of SIGABRT)"
    python_error = "RuntimeError: pnnx exited 1: unsupported op"
    assert zoo.failure(python_error + "\n", 1) == python_error
    assert zoo.failure("", 3) == "exit status 3"
