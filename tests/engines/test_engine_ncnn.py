"""ncnn's defaults are fp16 on both sides (pnnx's weights, ncnn.Option's storage and arithmetic, even
on x86): the engine must set precision explicitly, per item, and say which (LIBRARIES.md, hazard 4)."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_mobiledl.engines import ncnn as engine


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_precision_options_reach_the_net(convert: Callable[..., Path], precision: str) -> None:
    path = convert("ncnn", "tiny_cnn", precision)
    session = engine.open_session(str(path), 1, "cpu", precision)
    opt = session._net.opt  # the Option the loaded layers were built with
    fp16 = precision == "fp16"
    assert (opt.use_fp16_packed, opt.use_fp16_storage, opt.use_fp16_arithmetic) == (fp16, fp16, fp16)
    assert not opt.use_vulkan_compute and not opt.use_bf16_storage
    assert opt.num_threads == 1
    options = engine.engine_options("cpu", precision)
    assert options["weights"] == precision
    assert [options[k] for k in ("use_fp16_packed", "use_fp16_storage", "use_fp16_arithmetic")] == [fp16] * 3


def test_container_holds_param_bin_and_inputs(convert: Callable[..., Path]) -> None:
    sizes = {}
    for precision in ("fp32", "fp16"):
        with zipfile.ZipFile(convert("ncnn", "tiny_cnn", precision)) as archive:
            assert sorted(archive.namelist()) == sorted([engine.PARAM, engine.BIN, engine.MANIFEST])
            assert all(info.compress_type == zipfile.ZIP_STORED for info in archive.infolist())
            manifest = json.loads(archive.read(engine.MANIFEST))
            assert manifest == {"inputs": [{"name": "input", "shape": [1, 3, 32, 32], "dtype": "float32"}]}
            assert archive.read(engine.PARAM).startswith(b"7767517")  # ncnn's param magic
            sizes[precision] = archive.getinfo(engine.BIN).file_size
    # pnnx wrote fp32 weights for the fp32 artifact (its default, fp16=1, would halve them).
    assert sizes["fp16"] < 0.6 * sizes["fp32"]
