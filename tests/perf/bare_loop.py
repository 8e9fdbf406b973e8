"""A bare loop over a library's own API, taking turns beside the runner in a lockstep block.

    python tests/perf/bare_loop.py LIB MODEL_FILE THREADS WARMUP --lockstep SOCKET --slot N

What the runner does, less the runner: the library imported first (untimed), the block joined
(``runner/lockstep.py``'s link: ``hello SLOT PID``, ``prepare``/``ready``, ``run N``/``done``,
``end``), the model opened and warmed up when told, then each turn's runs timed with
``perf_counter_ns`` around one call of the same API the engine module calls, on the same inputs
(``tensors.random_inputs``, seed 0). Prints the runs' times in ms as one JSON list.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from collections.abc import Callable

from pytest_mobiledl.runner.lockstep import Link
from pytest_mobiledl.tensors import TensorSpec, random_inputs

RUNTIME = {"onnxruntime": "onnxruntime", "tflite": "ai_edge_litert.interpreter"}


def onnxruntime(path: str, threads: int) -> Callable[[], object]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    feeds = random_inputs([TensorSpec(i.name, tuple(i.shape), "float32") for i in session.get_inputs()])
    return lambda: session.run(None, feeds)


def tflite(path: str, threads: int) -> Callable[[], object]:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path, num_threads=threads)
    interpreter.allocate_tensors()
    inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
    feeds = random_inputs([TensorSpec(d["name"], tuple(int(x) for x in d["shape"]), "float32") for d in inputs])

    def run() -> object:
        for detail in inputs:
            interpreter.set_tensor(detail["index"], feeds[detail["name"]])
        interpreter.invoke()
        return [interpreter.get_tensor(d["index"]) for d in outputs]

    return run


def main(lib: str, path: str, threads: str, warmup: str, *joined: str) -> int:
    importlib.import_module(RUNTIME[lib])
    flags = dict(zip(joined[::2], joined[1::2], strict=True))  # as lockstep_argv appends them
    link = Link(flags["--lockstep"], int(flags["--slot"]))
    if link.receive() != "prepare":
        return 2
    run = {"onnxruntime": onnxruntime, "tflite": tflite}[lib](path, int(threads))
    for _ in range(int(warmup)):
        run()
    samples: list[float] = []
    link.send("ready")
    while (order := link.receive()) != "end":
        for _ in range(int(order.removeprefix("run "))):
            started = time.perf_counter_ns()
            run()
            samples.append((time.perf_counter_ns() - started) / 1e6)
        link.send("done")
    print(json.dumps(samples))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
