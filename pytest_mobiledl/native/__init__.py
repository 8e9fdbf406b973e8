"""The libraries' own Android benchmark tools: one ``ToolSpec`` per library id.

Stdlib only, so the plugin can import this at collection time::

    from pytest_mobiledl import native
    spec = native.spec_for("tflite")
    reason = spec.supports("npu", "fp32")        # None, or a ready skip reason
    plan = spec.plan(request)                    # files to stage + commands, in order
    output = spec.parse(stdout, stderr, rc, request)   # ToolOutput, or raises ToolError

How to get each binary and what it does not report: ``native_runners/<lib>/README.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from pytest_mobiledl.native import executorch, mace, mnn, ncnn, onnxruntime, pytorch, snpe, tflite
from pytest_mobiledl.native.spec import (
    BACKENDS,
    CAUSES,
    FLAGS,
    MIN_LATENCY_MS,
    PRECISIONS,
    Command,
    Pull,
    RunPlan,
    RunRequest,
    StagedFile,
    ToolError,
    ToolOutput,
    ToolSpec,
    Unsupported,
)

SPECS: Mapping[str, ToolSpec] = MappingProxyType(
    {m.SPEC.lib: m.SPEC for m in (tflite, ncnn, mnn, pytorch, executorch, mace, snpe, onnxruntime)}
)


def spec_for(lib: str) -> ToolSpec:
    try:
        return SPECS[lib]
    except KeyError:
        raise ValueError(f"no native tool for library {lib!r} (known: {', '.join(SPECS)})") from None


__all__ = [
    "BACKENDS",
    "CAUSES",
    "FLAGS",
    "MIN_LATENCY_MS",
    "PRECISIONS",
    "SPECS",
    "Command",
    "Pull",
    "RunPlan",
    "RunRequest",
    "StagedFile",
    "ToolError",
    "ToolOutput",
    "ToolSpec",
    "Unsupported",
    "spec_for",
]
