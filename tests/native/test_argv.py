"""Commands for every backend of every tool, and clear refusals for what a tool cannot run."""

from __future__ import annotations

import pytest
from native_cases import MODEL, RUNNERS, WORK, make_request

from pytest_mobiledl.native import BACKENDS, PRECISIONS, SPECS, Command, Pull, Unsupported

SUPPORTED = [(lib, b, p) for lib, s in SPECS.items() for b, ps in s.backends.items() for p in ps]
UNSUPPORTED_BACKENDS = [(lib, b) for lib, s in SPECS.items() for b in s.unsupported]
UNSUPPORTED_PRECISIONS = [
    (lib, b, p) for lib, s in SPECS.items() for b, ps in s.backends.items() for p in PRECISIONS if p not in ps
]


def argv(lib: str, **changes: object) -> list[str]:
    return SPECS[lib].argv(make_request(lib, **changes))


@pytest.mark.parametrize(("lib", "backend", "precision"), SUPPORTED)
def test_every_supported_combination_builds_an_argv_list(lib: str, backend: str, precision: str) -> None:
    request = make_request(lib, backend=backend, precision=precision, layout="NHWC" if lib == "mace" else "NCHW")
    plan = SPECS[lib].plan(request)
    main = plan.main
    assert main.argv[0] == request.binary
    assert all(isinstance(a, str) and a for a in main.argv)
    assert ("LD_LIBRARY_PATH", f"{RUNNERS}/{lib}") in main.env
    assert SPECS[lib].supports(backend, precision) is None


@pytest.mark.parametrize(("lib", "backend"), UNSUPPORTED_BACKENDS)
def test_unsupported_backend_is_refused_with_the_reason(lib: str, backend: str) -> None:
    with pytest.raises(Unsupported) as caught:
        SPECS[lib].argv(make_request(lib, backend=backend))
    message = str(caught.value)
    assert message.startswith(f"{lib} does not support backend '{backend}': ")
    assert SPECS[lib].unsupported[backend] in message
    assert "supported: " + ", ".join(SPECS[lib].backends) in message
    assert SPECS[lib].supports(backend, "fp32") == message


@pytest.mark.parametrize(("lib", "backend", "precision"), UNSUPPORTED_PRECISIONS)
def test_unsupported_precision_is_refused_naming_backend_and_choices(lib: str, backend: str, precision: str) -> None:
    with pytest.raises(Unsupported) as caught:
        SPECS[lib].plan(make_request(lib, backend=backend, precision=precision))
    message = str(caught.value)
    assert f"precision '{precision}' on {backend}" in message
    assert "supported: " + ", ".join(SPECS[lib].backends[backend]) in message


def test_every_backend_is_either_supported_or_explained() -> None:
    for spec in SPECS.values():
        assert set(spec.backends) | set(spec.unsupported) == set(BACKENDS)
        assert all(reason.strip() for reason in spec.unsupported.values())


def test_tflite_flags() -> None:
    bin_ = f"{RUNNERS}/tflite/benchmark_model"
    assert argv("tflite", warmup=5, iterations=50, min_time_s=0.5) == [
        bin_,
        f"--graph={MODEL['tflite']}",
        "--num_threads=4",
        "--warmup_runs=5",
        "--warmup_min_secs=0",
        "--num_runs=50",
        "--min_secs=0.5",
        "--report_peak_memory_footprint=true",
        "--use_xnnpack=true",
    ]
    assert argv("tflite", precision="fp16")[-1] == "--xnnpack_force_fp16=true"
    assert argv("tflite", backend="gpu")[-2:] == ["--use_gpu=true", "--gpu_precision_loss_allowed=false"]
    assert argv("tflite", backend="gpu", precision="fp16")[-1] == "--gpu_precision_loss_allowed=true"
    assert argv("tflite", backend="gpu", precision="int8")[-1] == "--gpu_experimental_enable_quant=true"
    assert argv("tflite", backend="nnapi")[-1] == "--use_nnapi=true"
    assert argv("tflite", backend="nnapi", precision="fp16")[-2:] == ["--use_nnapi=true", "--nnapi_allow_fp16=true"]
    assert argv("tflite", backend="dsp", precision="int8")[-2:] == [
        "--use_hexagon=true",
        f"--hexagon_lib_path={RUNNERS}/tflite",
    ]


def test_ncnn_positional_args_and_single_model() -> None:
    assert argv("ncnn", precision="fp16", iterations=30) == [
        f"{RUNNERS}/ncnn/benchncnn",
        "30",
        "4",
        "0",
        "-1",
        "0",
        f"param={MODEL['ncnn']}",
        "shape=[224,224,3]",
    ]
    assert argv("ncnn", backend="gpu", precision="fp16")[4] == "0"
    # NHWC shapes and several inputs become ncnn's [w,h,c] list.
    two = argv(
        "ncnn", precision="int8", layout="NHWC", input_shapes=((1, 128, 96, 3), (1, 64, 48, 1)), input_names=("a", "b")
    )
    assert two[-1] == "shape=[96,128,3],[48,64,1]"
    with pytest.raises(ValueError, match="batch 1"):
        argv("ncnn", precision="fp16", input_shapes=((2, 3, 224, 224),))
    with pytest.raises(ValueError, match=r"\.param"):
        argv("ncnn", precision="fp16", model="/data/local/tmp/m.bin")


def test_mnn_positional_args_use_the_model_directory() -> None:
    assert argv("mnn", warmup=10, iterations=50) == [
        f"{RUNNERS}/mnn/benchmark.out",
        "/data/local/tmp/mobiledl/models/mnn_mobilenet_v2",
        "50",
        "10",
        "0",
        "4",
        "1",
    ]
    assert argv("mnn", backend="gpu", precision="fp16")[4:] == ["3", "4", "2"]
    assert argv("mnn", backend="nnapi")[4] == "5"


def test_pytorch_flags() -> None:
    assert argv("pytorch", warmup=5, iterations=20) == [
        f"{RUNNERS}/pytorch/speed_benchmark_torch",
        f"--model={MODEL['pytorch']}",
        "--input_dims=1,3,224,224",
        "--input_type=float",
        "--warmup=5",
        "--iter=20",
        "--report_pep=true",
    ]
    assert argv("pytorch", backend="gpu")[-1] == "--vulkan=true"
    several = argv("pytorch", input_shapes=((1, 3, 224, 224), (1, 10)), input_names=("a", "b"))
    assert "--input_dims=1,3,224,224;1,10" in several and "--input_type=float;float" in several


def test_executorch_emulates_warmup_with_extra_executions() -> None:
    assert argv("executorch", warmup=3, iterations=20, threads=2) == [
        f"{RUNNERS}/executorch/executor_runner",
        f"--model_path={MODEL['executorch']}",
        "--num_executions=23",
        "--cpu_threads=2",
    ]
    assert argv("executorch", backend="gpu") == argv("executorch")  # the backend lives in the .pte


def test_mace_stages_zero_inputs_named_like_mace_run_reads_them() -> None:
    request = make_request("mace", layout="NHWC", input_names=("input:0",), input_shapes=((1, 224, 224, 3),))
    plan = SPECS["mace"].plan(request)
    (staged,) = plan.stage
    assert staged.device_path == f"{WORK}/mace_input_input_0"
    assert staged.content == bytes(4 * 224 * 224 * 3)
    args = plan.main.argv
    assert f"--model_data_file={MODEL['mace'][:-3]}.data" in args
    assert f"--input_file={WORK}/mace_input" in args and "--input_shape=1,224,224,3" in args
    assert "--input_data_format=NHWC" in args and "--round=50" in args and "--num_threads=4" in args
    with pytest.raises(ValueError, match="output_names"):
        SPECS["mace"].plan(make_request("mace", output_names=(), output_shapes=()))


def test_snpe_runs_three_steps_and_stages_its_input_list() -> None:
    request = make_request("snpe", backend="dsp", precision="int8", warmup=2, iterations=3)
    plan = SPECS["snpe"].plan(request)
    run, pull, view = plan.steps
    assert isinstance(run, Command) and run.where == "device"
    assert run.argv[:3] == (f"{RUNNERS}/snpe/snpe-net-run", "--container", MODEL["snpe"])
    assert "--use_dsp" in run.argv and dict(run.env)["ADSP_LIBRARY_PATH"].startswith(f"{RUNNERS}/snpe;")
    assert isinstance(pull, Pull) and pull.device_path == f"{WORK}/snpe_out/SNPEDiag.log"
    assert isinstance(view, Command) and view.where == "host"
    assert view.argv == ("/home/me/mobiledl-runners/snpe/host/snpe-diagview", "--input_log", pull.host_path)
    raw, input_list = plan.stage
    assert len(raw.content) == 4 * 3 * 224 * 224
    assert input_list.content.decode().splitlines() == [raw.device_path] * 5
    gpu = SPECS["snpe"].argv(make_request("snpe", backend="gpu", precision="fp16"))
    assert gpu[-3:] == ["--use_gpu", "--gpu_mode", "float16"]
    assert "--use_aip" in SPECS["snpe"].argv(make_request("snpe", backend="npu", precision="int8"))
    with pytest.raises(ValueError, match="host_dir"):
        SPECS["snpe"].plan(make_request("snpe", host_dir=None))


def test_onnxruntime_execution_providers() -> None:
    assert argv("onnxruntime", iterations=100) == [
        f"{RUNNERS}/onnxruntime/onnxruntime_perf_test",
        "-e",
        "cpu",
        "-m",
        "times",
        "-r",
        "100",
        "-x",
        "4",
        "-s",
        "-I",
        MODEL["onnxruntime"],
    ]
    assert argv("onnxruntime", backend="nnapi", precision="fp16")[1:5] == [
        "-e",
        "nnapi",
        "-i",
        "NNAPI_FLAG_CPU_DISABLED NNAPI_FLAG_USE_FP16",
    ]
    assert argv("onnxruntime", backend="dsp", precision="int8")[1:5] == ["-e", "qnn", "-i", "backend_path|libQnnHtp.so"]
    assert argv("onnxruntime", backend="dsp", precision="fp16")[4].endswith("enable_htp_fp16_precision|1")


def test_env_prefix_makes_one_argv_for_adb_shell() -> None:
    main = SPECS["mnn"].plan(make_request("mnn")).main
    assert main.with_env_prefix()[:2] == ["env", f"LD_LIBRARY_PATH={RUNNERS}/mnn"]
    assert main.with_env_prefix()[2:] == list(main.argv)


def test_a_request_is_validated() -> None:
    with pytest.raises(ValueError, match="absolute"):
        make_request("tflite", model="mobilenet.tflite")
    with pytest.raises(ValueError, match="backend"):
        make_request("tflite", backend="tpu")
    with pytest.raises(ValueError, match="iterations"):
        make_request("tflite", iterations=0)
    with pytest.raises(ValueError, match="shapes"):
        make_request("tflite", input_shapes=((1, 0, 224, 224),))
