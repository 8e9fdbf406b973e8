"""Route fairness: is the zoo's LiteRT route (PyTorch → litert-torch) slower than TensorFlow's own?

For each model, two LiteRT files of the same architecture: the zoo's PyTorch model converted by
litert-torch (NCHW inputs, transposes and explicit pads inside the graph), and the Keras
definition (``keras.applications.*(weights=None)``: nothing downloaded) converted by TensorFlow's
``TFLiteConverter`` (NHWC as the model is), both through pytest-mobiledl's own routes and at the
same precision. Both run in this process on LiteRT's interpreter (XNNPACK, 1 thread), interleaved:
each round times a block of inferences of one then the other (the order alternates), and a
round's ratio is the zoo median over the Keras median. Reported: the median ratio over rounds
and its spread (min–max), with each file's PAD and TRANSPOSE op counts.

    .venv/bin/python benchmarks/route_fairness.py [--models=mobilenet_v2,resnet50] [--precisions=fp32]

Needs the tensorflow extra. Conversions are cached in --model-cache (resnet50's take minutes).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

from pytest_mobiledl import zoo
from pytest_mobiledl.usermodels import UserModel

KERAS = {"mobilenet_v2": "MobileNetV2", "resnet50": "ResNet50"}
WARMUP, BLOCK, ROUNDS = 5, 20, 10


def keras_file(model: str, folder: Path) -> Path:
    import keras

    path = folder / f"{model}_keras.keras"
    if not path.exists():
        getattr(keras.applications, KERAS[model])(weights=None, input_shape=(224, 224, 3)).save(path)
    return path


def runner(path: Path) -> tuple[Callable[[], object], Counter[str]]:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=1)
    interpreter.allocate_tensors()
    ops = Counter(op["op_name"] for op in interpreter._get_ops_details())  # the only op listing it has
    inputs = interpreter.get_input_details()
    feeds = [np.random.default_rng(0).standard_normal(d["shape"]).astype(d["dtype"]) for d in inputs]

    def run() -> object:
        for detail, x in zip(inputs, feeds, strict=True):
            interpreter.set_tensor(detail["index"], x)
        interpreter.invoke()
        return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])

    return run, ops


def block_median(run: Callable[[], object]) -> float:
    samples = []
    for _ in range(BLOCK):
        t0 = time.perf_counter_ns()
        run()
        samples.append((time.perf_counter_ns() - t0) / 1e6)
    return statistics.median(samples)


def compare(model: str, precision: str, cache: Path) -> str:
    torch_path = zoo.artifact(model, "tflite", precision, cache).path
    source = UserModel(f"{model}_keras", keras_file(model, cache))
    keras_path = zoo.artifact(source.id, "tflite", precision, cache, source=source).path
    (run_t, ops_t), (run_k, ops_k) = runner(torch_path), runner(keras_path)
    for _ in range(WARMUP):
        run_t(), run_k()
    ratios, medians_t, medians_k = [], [], []
    for i in range(ROUNDS):
        order = ((run_t, medians_t), (run_k, medians_k)) if i % 2 == 0 else ((run_k, medians_k), (run_t, medians_t))
        for run, medians in order:
            medians.append(block_median(run))
        ratios.append(medians_t[-1] / medians_k[-1])
    return (f"{model} {precision} t1: litert-torch/TFLiteConverter median ratio {statistics.median(ratios):.3f} "
            f"(rounds {min(ratios):.3f}–{max(ratios):.3f}); medians {statistics.median(medians_t):.2f} vs "
            f"{statistics.median(medians_k):.2f} ms; PAD {ops_t['PAD']} vs {ops_k['PAD']}, "
            f"TRANSPOSE {ops_t['TRANSPOSE']} vs {ops_k['TRANSPOSE']}, ops {sum(ops_t.values())} vs "
            f"{sum(ops_k.values())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="mobilenet_v2,resnet50")
    parser.add_argument("--precisions", default="fp32")
    parser.add_argument("--model-cache", type=Path, default=Path(tempfile.gettempdir()) / "mobiledl-route-fairness")
    args = parser.parse_args()
    args.model_cache.mkdir(parents=True, exist_ok=True)
    for precision in args.precisions.split(","):
        for model in args.models.split(","):
            print(compare(model, precision, args.model_cache), flush=True)


if __name__ == "__main__":
    main()
