"""The conversion process: build the source model, convert it, run the artifact once, describe it.

``python -m pytest_mobiledl.conversion convert MODEL LIB PRECISION OUT [--file=PATH --input-shape=…]``
is the child ``zoo.artifact`` starts: converters import torch and friends, which the pytest
process never pays for. It writes the artifact at OUT and its description beside it
(``meta_path``): parity against the source model, the artifact's input and output shapes, its
MACs, its sha256 and how long the build took. Everything that shapes an artifact is here or
imported from here, so the cache key hashes this module's source whole, with the package modules
it imports (``zoo.artifact_path``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_mobiledl import engines, parity, routes, tfmodels, usermodels
from pytest_mobiledl.counts import count, file_macs
from pytest_mobiledl.digests import file_sha256
from pytest_mobiledl.errors import one_line
from pytest_mobiledl.modelspec import TF_FORMATS, TORCH_FORMATS, ModelSpec, format_of, load, suffix
from pytest_mobiledl.tensors import TensorSpec, random_inputs
from pytest_mobiledl.usermodels import UserModel

if TYPE_CHECKING:
    import numpy as np


def meta_path(artifact: Path) -> Path:
    """Where an artifact's description is: written here, read by ``zoo.Artifact``."""
    return artifact.with_name(artifact.name + ".meta.json")


def build(model: ModelSpec, lib: str, precision: str, out: Path) -> dict[str, Any]:
    """Convert, run the artifact once against the source, and describe it."""
    import torch

    engine = engines.get(lib)
    engine.convert(model, precision, out)
    module, example = model.instantiate()
    _, other = model.instantiate(input_seed=model.seed + 1)
    with torch.no_grad():
        references, others = _outputs(module(*example)), _outputs(module(*other))
    # MACs travel with the artifact: the plausibility floor of every latency measured on it.
    return {**_describe(engine, out, precision, [x.numpy() for x in example], references, others),
            "macs": count(model).macs}


def build_file(source: UserModel, lib: str, precision: str, out: Path) -> dict[str, Any]:
    """The same for a user's file: converted along the library's route from its format, and
    compared with the file run by its own framework."""
    engine, fmt = engines.get(lib), format_of(source.path)
    if fmt in TORCH_FORMATS:  # the zoo's own routes, with the user's weights
        routes.route(lib, fmt)
        return build(usermodels.torch_model(source), lib, precision, out)
    if fmt in TF_FORMATS:
        return _build_tf(source, lib, precision, out)
    specs = usermodels.inputs(source.path, dict(source.pins))
    with tempfile.TemporaryDirectory(prefix="mobiledl-user-") as tmp:
        start = (usermodels.pinned_onnx(source.path, specs, Path(tmp) / "pinned.onnx")
                 if suffix(source.path) == ".onnx" else source.path)
        convert = routes.converter(lib, fmt)
        convert(ModelSpec(source.id, "user", specs, source=start), precision, out)
        example, other = (list(random_inputs(specs, seed).values()) for seed in (0, 1))
        references = usermodels.reference(start, dict(zip([s.name for s in specs], example, strict=True)))
        others = usermodels.reference(start, dict(zip([s.name for s in specs], other, strict=True)))
        return {**_describe(engine, out, precision, example, references, others), "macs": file_macs(start)}


def _build_tf(source: UserModel, lib: str, precision: str, out: Path) -> dict[str, Any]:
    """A TensorFlow model: TensorFlow's converter for LiteRT, tf2onnx then the .onnx route otherwise."""
    engine = engines.get(lib)
    routes.route(lib, format_of(source.path))
    if precision not in engine.PRECISIONS:
        raise ValueError(f"{lib} has no {precision} route (it has: {', '.join(engine.PRECISIONS)})")
    if lib == "tflite":
        pinned = usermodels.inputs(source.path, dict(source.pins))
        tfmodels.to_tflite(source.path, pinned, precision, out)
        example, other = (list(random_inputs(pinned, seed).values()) for seed in (0, 1))
        references, others = tfmodels.run(source.path, pinned, example), tfmodels.run(source.path, pinned, other)
        macs = tfmodels.counts(source.path, pinned)[1]
        return {**_describe(engine, out, precision, example, references, others), "macs": macs}
    with tempfile.TemporaryDirectory(prefix="mobiledl-tf-") as tmp:
        # TensorFlow never loads here: MNN's converter aborts beside it (see tfmodels).
        onnx_file, specs, (references, others), macs = to_onnx_apart(source.path, source.pins, Path(tmp))
        # tf2onnx may rename inputs; the ONNX route takes the file's own names and the same shapes.
        onnx_specs = usermodels.inputs(onnx_file, {})
        engines.file_route(engine, ".onnx")(ModelSpec(source.id, "user", onnx_specs, source=onnx_file), precision, out)
    example, other = (list(random_inputs(specs, seed).values()) for seed in (0, 1))
    return {**_describe(engine, out, precision, example, references, others), "macs": macs}


def to_onnx_apart(path: Path, pins: Sequence[tuple[str, tuple[int, ...]]], folder: Path
                  ) -> tuple[Path, list[TensorSpec], list[list[np.ndarray]], int]:
    """The pinned inputs, ``tfmodels.to_onnx``, the reference outputs for seeds 0 and 1 and the
    MACs, all in a process of their own (``tf2onnx`` below): this one never loads TensorFlow."""
    import numpy as np

    argv = [sys.executable, "-m", __spec__.name, "tf2onnx", str(path), str(folder), json.dumps(list(pins))]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise RuntimeError(lines[-1] if lines else f"tf2onnx process exited {done.returncode}")
    found = json.loads(done.stdout.splitlines()[-1])
    specs = [TensorSpec(name, tuple(shape), dtype) for name, shape, dtype in found["inputs"]]
    with np.load(folder / "reference.npz") as saved:
        references = [[saved[f"{seed}_{i}"] for i in range(int(saved[f"{seed}_n"]))] for seed in (0, 1)]
    return folder / "model.onnx", specs, references, int(found["macs"])


def _describe(engine: Any, out: Path, precision: str, example: list[Any], references: list[Any],
              others: list[Any]) -> dict[str, Any]:
    import numpy as np

    # The runtime must take the artifact: if it cannot (a missing op), that is the finding.
    session = engine.open_session(str(out), 1, "cpu", precision)
    feeds = {spec.name: x.reshape(spec.shape).astype(spec.dtype)
             for spec, x in zip(session.inputs(), example, strict=True)}
    outputs = session.run(feeds)
    return {
        "parity": parity.compare(references, outputs, precision, parity.sensitivity(references, others)),
        "inputs": [[spec.name, list(spec.shape), spec.dtype] for spec in session.inputs()],
        "outputs": [list(np.shape(o)) for o in outputs],
    }


def _outputs(result: Any) -> list[Any]:
    import numpy as np

    tensors = list(result) if isinstance(result, (tuple, list)) else [result]
    return [np.asarray(t.detach()) for t in tensors]


def main(argv: list[str]) -> int:
    """``convert MODEL LIB PRECISION OUT [--file=PATH --input-shape=…]``, or ``tf2onnx PATH FOLDER PINS_JSON``."""
    if argv[:1] == ["tf2onnx"] and len(argv) == 4:
        return _tf2onnx(argv[1:])
    positional = [a for a in argv if not a.startswith("--")]
    if len(positional) != 5 or positional[0] != "convert":
        print(f"usage: python -m {__spec__.name} convert MODEL LIB PRECISION OUT [--file=PATH]", file=sys.stderr)
        return 2
    _, model, lib, precision, out = positional
    files = [a.partition("=")[2] for a in argv if a.startswith("--file=")]
    pins = usermodels.parse_pins([a.partition("=")[2] for a in argv if a.startswith("--input-shape=")])
    started = time.perf_counter()
    try:
        if files:
            result = build_file(UserModel(model, Path(files[0]), pins), lib, precision, Path(out))
        else:
            result = build(load(model), lib, precision, Path(out))
    except Exception as exc:  # noqa: BLE001 - any converter or runtime error is the finding, in its own words
        print(one_line(exc, 500), file=sys.stderr)
        return 1
    # Which process built it and how long conversion plus parity took (imports included); the
    # checksum, so a later session trusts only the bytes that were checked.
    result["build"] = {"pid": os.getpid(), "seconds": round(time.perf_counter() - started, 2)}
    result["sha256"] = file_sha256(Path(out))
    meta_path(Path(out)).write_text(json.dumps(result))
    return 0


def _tf2onnx(argv: list[str]) -> int:
    """``PATH FOLDER PINS_JSON``: write FOLDER/model.onnx and FOLDER/reference.npz, print the inputs and MACs."""
    import numpy as np

    path, folder = Path(argv[0]), Path(argv[1])
    try:
        specs = usermodels.inputs(path, {name: tuple(dims) for name, dims in json.loads(argv[2])})
        tfmodels.to_onnx(path, specs, folder / "model.onnx")
        arrays: dict[str, np.ndarray] = {}
        for seed in (0, 1):
            outputs = tfmodels.run(path, specs, list(random_inputs(specs, seed).values()))
            arrays |= {f"{seed}_{i}": o for i, o in enumerate(outputs)} | {f"{seed}_n": np.array(len(outputs))}
        np.savez(folder / "reference.npz", **arrays)  # type: ignore[arg-type]
        macs = tfmodels.counts(path, specs)[1]
    except Exception as exc:  # noqa: BLE001 - tf2onnx's own words are the finding
        print(one_line(exc, 500), file=sys.stderr)
        return 1
    print(json.dumps({"inputs": [[s.name, list(s.shape), s.dtype] for s in specs], "macs": macs}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
