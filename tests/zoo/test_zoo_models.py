"""Every model in the zoo builds, runs, takes exactly the inputs it declares and gives outputs that
depend on them. Big models are slow to build: only a few small ones run by default."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import pytest

from pytest_mobiledl import zoo

torch = pytest.importorskip("torch")

#: Cheap to build and run (well under a second each): the default run keeps these.
FAST = {"tiny_cnn", "kws_lstm", "squeezenet1_1"}


def models() -> list[object]:
    return [pytest.param(name, marks=() if name in FAST else pytest.mark.slow) for name in zoo.names()]


def _single(outputs: tuple[torch.Tensor, ...]) -> torch.Tensor:
    assert len(outputs) == 1, f"expected one output, got {len(outputs)}"
    return outputs[0]


def _scores(inputs: tuple[torch.Tensor, ...], outputs: tuple[torch.Tensor, ...]) -> None:
    out = _single(outputs)
    assert out.ndim == 2 and out.shape[0] == 1 and out.shape[1] >= 2, f"expected (1, classes), got {tuple(out.shape)}"


def _detections(inputs: tuple[torch.Tensor, ...], outputs: tuple[torch.Tensor, ...]) -> None:
    assert len(outputs) == 2, f"expected boxes and scores, got {len(outputs)} outputs"
    boxes, scores = outputs
    assert boxes.ndim == 3 and boxes.shape[0] == 1 and boxes.shape[2] == 4, f"boxes {tuple(boxes.shape)}"
    assert scores.ndim == 3 and scores.shape[:2] == boxes.shape[:2] and scores.shape[2] >= 2, \
        f"scores {tuple(scores.shape)} do not match boxes {tuple(boxes.shape)}"


def _masks(inputs: tuple[torch.Tensor, ...], outputs: tuple[torch.Tensor, ...]) -> None:
    out = _single(outputs)
    image = inputs[0]
    assert out.ndim == 4 and out.shape[0] == 1 and out.shape[2:] == image.shape[2:], \
        f"expected (1, classes, {image.shape[2]}, {image.shape[3]}), got {tuple(out.shape)}"


def _token_states(inputs: tuple[torch.Tensor, ...], outputs: tuple[torch.Tensor, ...]) -> None:
    out = _single(outputs)
    assert out.ndim == 3 and out.shape[:2] == inputs[0].shape, \
        f"expected (1, {inputs[0].shape[1]}, hidden), got {tuple(out.shape)}"


#: The shape class of each domain's outputs, for batch 1.
OUTPUT_SHAPES: dict[str, Callable[[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]], None]] = {
    "classification": _scores,
    "audio": _scores,
    "detection": _detections,
    "segmentation": _masks,
    "nlp": _token_states,
}


def _forward(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    with torch.no_grad():
        out = module(*inputs)
    return out if isinstance(out, tuple) else (out,)


@pytest.mark.parametrize("name", models())
def test_builds_and_gives_finite_outputs_of_its_domains_shape(name: str) -> None:
    spec = zoo.load(name)
    assert spec.name == name, "the model id is the file name"
    assert spec.domain in OUTPUT_SHAPES, f"unknown domain {spec.domain!r} (known: {', '.join(OUTPUT_SHAPES)})"
    module, inputs = spec.instantiate()
    assert not module.training
    outputs = _forward(module, inputs)
    assert all(o.dtype == torch.float32 and torch.isfinite(o).all() for o in outputs)
    OUTPUT_SHAPES[spec.domain](inputs, outputs)


@pytest.mark.parametrize("name", models())
def test_declared_inputs_are_what_forward_takes(name: str) -> None:
    spec = zoo.load(name)
    module, inputs = spec.instantiate()
    assert len({t.name for t in spec.inputs}) == len(spec.inputs), "input names must be unique"
    assert all(t.shape[0] == 1 for t in spec.inputs), "batch size 1"
    assert [str(x.dtype) for x in inputs] == [f"torch.{t.dtype}" for t in spec.inputs]
    params = inspect.signature(module.forward).parameters.values()
    assert len(params) == len(spec.inputs), f"forward takes {[p.name for p in params]}, declared {spec.inputs}"


@pytest.mark.parametrize("name", models())
def test_outputs_depend_on_every_input_enough_to_prove_parity_at_every_precision(name: str) -> None:
    from pytest_mobiledl import parity
    from pytest_mobiledl.tensors import random_inputs

    spec = zoo.load(name)
    module, inputs = spec.instantiate()
    reference = [o.numpy() for o in _forward(module, inputs)]
    others = random_inputs(spec.inputs, spec.seed + 1)
    for i, declared in enumerate(spec.inputs):
        changed = list(inputs)
        changed[i] = torch.from_numpy(others[declared.name])
        moved = parity.sensitivity(reference, [o.numpy() for o in _forward(module, tuple(changed))])
        # int8's tolerance is the loosest: above it, a conversion that ignored this input fails parity.
        assert moved >= parity.TOLERANCE["int8"], f"changing {declared.name!r} moves the output by only {moved:.1e}"


def test_integer_inputs_stay_inside_the_vocabulary() -> None:
    # Seeded token ids are drawn below INT_INPUT_HIGH; an embedding smaller than that would fail at random.
    from pytest_mobiledl.tensors import INT_INPUT_HIGH

    spec = zoo.load("bert_tiny")
    assert [(t.name, t.dtype) for t in spec.inputs] == [("input_ids", "int64")]
    module = spec.build()
    assert module.words.num_embeddings > INT_INPUT_HIGH  # type: ignore[union-attr]
