"""ExecuTorch: ``torch.export`` → ``to_edge_transform_and_lower`` (XNNPACK) → ``.pte``, run by its runtime.

The XNNPACK partitioner delegates every operator it supports (for the zoo's CNNs: all of them);
the rest would run on the kernels linked into the runtime (``executorch.runtime``). XNNPACK runs
on ExecuTorch's own thread pool, which ``_unsafe_reset_threadpool`` resizes. "Unsafe" means: not
while a delegate that holds the pool is running, so it is called before the program loads.

A ``.pte`` keeps input shapes and dtypes (the method's metadata) but not names, so inputs are
named by position: ``in0``, ``in1``… Importing the runtime imports torch and executorch.exir
(about 5–10 s); that lands in the runner's init time.

int8 is ExecuTorch's PT2E flow for XNNPACK: the exported graph is annotated by
``XNNPACKQuantizer`` with ``get_symmetric_quantization_config(is_per_channel=True)`` (int8
weights symmetric per channel, int8 activations per tensor with histogram observers),
``prepare_pt2e`` → calibration on ``CALIBRATION_SAMPLES`` seeded inputs → ``convert_pt2e``
(torchao.quantization.pt2e, which replaced torch.ao.quantization's), then exported again and
lowered like fp32: the partitioner delegates the quantized patterns to XNNPACK's int8 kernels.
Inputs and outputs stay float (the graph quantizes and dequantizes at its ends). Calibration
inputs are ``random_inputs(model.inputs, seed)`` for ``model.seed + 1`` … ``+ N``: never the
input parity compares on (``model.seed``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_mobiledl.tensors import TensorSpec

if TYPE_CHECKING:
    import numpy as np

    from pytest_mobiledl.modelspec import ModelSpec

LIB = "executorch"
MODULE = "executorch"
DIST = "executorch"
EXTRA = "executorch"
SUFFIX = ".pte"
HOST_BACKENDS = ("cpu",)
PRECISIONS = ("fp32", "int8")
CONVERTERS = ("torch", "executorch", "torchao")
RUNTIME = ("executorch.runtime", "executorch.extension.pybindings.portable_lib")
FLAGS: tuple[str, ...] = ()

METHOD = "forward"
#: Seeded inputs the int8 ranges are calibrated on (seeds model.seed + 1 … + N).
CALIBRATION_SAMPLES = 16
#: c10::ScalarType codes, as MethodMeta reports dtypes.
_DTYPES = {0: "uint8", 1: "int8", 2: "int16", 3: "int32", 4: "int64", 5: "float16", 6: "float32", 7: "float64",
           11: "bool"}


def convert(model: ModelSpec, precision: str, out: Path) -> None:
    import torch
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    _check_precision(precision)
    module, example = model.instantiate()
    exported = torch.export.export(module, example)
    if precision == "int8":
        exported = torch.export.export(_quantize(model, exported.module()), example)
    program = to_edge_transform_and_lower(exported, partitioner=[XnnpackPartitioner()]).to_executorch()
    with open(out, "wb") as f:
        program.write_to_file(f)


def _quantize(model: ModelSpec, graph: Any) -> Any:
    import torch
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    from pytest_mobiledl.tensors import random_inputs

    quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
    prepared = prepare_pt2e(graph, quantizer)
    with torch.no_grad():
        for i in range(CALIBRATION_SAMPLES):
            feeds = random_inputs(model.inputs, model.seed + 1 + i)
            prepared(*(torch.from_numpy(feeds[spec.name]) for spec in model.inputs))
    return convert_pt2e(prepared)


def open_session(path: str, threads: int, backend: str, precision: str) -> _Session:
    from executorch.extension.pybindings.portable_lib import _threadpool_get_thread_count, _unsafe_reset_threadpool
    from executorch.runtime import Runtime

    _check_precision(precision)
    _unsafe_reset_threadpool(threads)
    if _threadpool_get_thread_count() != threads:
        raise RuntimeError(f"ExecuTorch's thread pool has {_threadpool_get_thread_count()} threads, asked {threads}")
    program = Runtime.get().load_program(Path(path))
    method = program.load_method(METHOD)
    if method is None:
        raise RuntimeError(f"{path} has no {METHOD!r} method")
    meta = method.metadata
    specs = []
    for i in range(meta.num_inputs()):
        info = meta.input_tensor_meta(i)
        specs.append(TensorSpec(f"in{i}", tuple(int(d) for d in info.sizes()), _DTYPES[int(info.dtype())]))
    return _Session(program, method, specs)


def engine_options(backend: str, precision: str) -> dict[str, Any]:
    options: dict[str, Any] = {"delegate": "xnnpack"}
    if precision == "int8":
        options |= {"quantizer": "XNNPACKQuantizer (PT2E)", "quantization": "static",
                    "weights": "int8 symmetric per-channel", "activations": "int8 affine per-tensor",
                    "calibration": "histogram", "calibration_samples": CALIBRATION_SAMPLES, "io": "fp32"}
    return options


def _check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise ValueError(f"executorch has no {precision} route (it has: {', '.join(PRECISIONS)})")


class _Session:
    def __init__(self, program: Any, method: Any, specs: list[TensorSpec]) -> None:
        self._program = program  # the method's memory belongs to its program: keep it alive
        self._method = method
        self._specs = specs

    def inputs(self) -> Sequence[TensorSpec]:
        return self._specs

    def run(self, feeds: Mapping[str, np.ndarray]) -> Sequence[np.ndarray]:
        import torch

        # ExecuTorch copies inputs into its planned memory and outputs out of it on every call.
        outputs = self._method.execute([torch.from_numpy(feeds[s.name]) for s in self._specs])
        return [o.numpy() for o in outputs]


#: What ``profile_ops`` reads: the runtime's ETDump, read back by ExecuTorch's own Inspector.
PROFILER = "executorch ETDump (portable_lib enable_etdump) + executorch.devtools.Inspector"
#: Wrapper events of an ETDump: they hold the ops, so they are not ops themselves.
_WRAPPERS = ("Method::", "Program::", "DELEGATE_CALL", "OPERATOR_CALL")


def profile_ops(path: str, threads: int, backend: str, precision: str, feeds: Mapping[str, np.ndarray],
                warmup: int, runs: int) -> list[tuple[str, str, list[float], bool]]:
    """Per event: (name, XNNPACK operator or kernel, its ms in each profiled run, depthwise).

    The installed wheel's pybindings are built with ETDump (``_load_for_executorch(...,
    enable_etdump=True)``; ``has_etdump()`` is checked): the runtime records each XNNPACK
    operator inside the delegate (``Convolution (NHWC, F32) IGEMM #3``) and each kernel outside
    it. Only the profiled runs are in the dump (a second module, loaded after the warm-up).
    The depthwise micro-kernel (``DWConv``) is in the event's name.
    """
    import tempfile

    import torch
    from executorch.devtools import Inspector
    from executorch.extension.pybindings.portable_lib import _load_for_executorch, _unsafe_reset_threadpool

    _check_precision(precision)
    _unsafe_reset_threadpool(threads)
    args = [torch.from_numpy(feeds[name]) for name in sorted(feeds, key=lambda n: int(n.removeprefix("in")))]
    module = _load_for_executorch(path, enable_etdump=True)
    if not module.has_etdump():
        raise RuntimeError("this executorch wheel's pybindings were built without ETDump")
    for _ in range(warmup + runs):
        module.forward(args)
    with tempfile.TemporaryDirectory(prefix="mobiledl-etdump-") as tmp:
        dump = f"{tmp}/run.etdp"
        module.write_etdump_result_to_file(dump)
        frame = Inspector(etdump_path=dump).to_dataframe()
    out = []
    for _, row in frame[frame["event_block_name"] == "Execute"].iterrows():
        name = str(row["event_name"])
        if name.startswith(_WRAPPERS):
            continue
        kind = name.rpartition(" #")[0] if " #" in name else name.removeprefix("native_call_")
        times = list(row["raw"])[-runs:]
        out.append((name, kind, [float(t) for t in times], False))
    return out
