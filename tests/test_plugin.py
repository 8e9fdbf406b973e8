"""The plugin end to end, in real pytest subprocesses running real libraries on tiny_cnn."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

RUN = ["-p", "no:cacheprovider", "--warmup=2", "--iterations=20"]


def saved_runs(root: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(root.glob(".benchmarks/*/*.json"))]


def test_items_have_readable_ids_device_first(bench_dir: pytest.Pytester) -> None:
    result = bench_dir.runpytest_subprocess("--collect-only", "-q", "--libs=onnxruntime,tflite", "--threads=1,2")
    result.stdout.fnmatch_lines([
        "test_bench.py::test_latency[[]host-onnxruntime-tiny_cnn-cpu-fp32-t1]",
        "test_bench.py::test_latency[[]host-onnxruntime-tiny_cnn-cpu-fp32-t2]",
        "test_bench.py::test_latency[[]host-tflite-tiny_cnn-cpu-fp32-t1]",
        "test_bench.py::test_latency[[]host-tflite-tiny_cnn-cpu-fp32-t2]",
        "4 tests collected*",
    ])


def test_repeats_are_items_run_round_robin(bench_dir: pytest.Pytester) -> None:
    result = bench_dir.runpytest_subprocess("--collect-only", "-q", "--libs=onnxruntime,tflite,mace", "--repeats=2")
    result.stdout.fnmatch_lines([
        "test_bench.py::test_latency[[]host-onnxruntime-tiny_cnn-cpu-fp32-t1-r1]",
        "test_bench.py::test_latency[[]host-tflite-tiny_cnn-cpu-fp32-t1-r1]",
        "test_bench.py::test_latency[[]host-mace-tiny_cnn-cpu-fp32-t1]",  # a skip is said once
        "test_bench.py::test_latency[[]host-onnxruntime-tiny_cnn-cpu-fp32-t1-r2]",
        "test_bench.py::test_latency[[]host-tflite-tiny_cnn-cpu-fp32-t1-r2]",
        "5 tests collected*",
    ])


def test_an_items_repeats_are_stored_as_one_result_that_reads_back(bench_dir: pytest.Pytester) -> None:
    from pytest_mobiledl import saved

    result = bench_dir.runpytest_subprocess(*RUN, "--libs=onnxruntime", "--repeats=3", "--benchmark-autosave")
    result.assert_outcomes(passed=3)
    [run] = saved_runs(bench_dir.path)
    [bench] = run["benchmarks"]
    assert bench["fullname"] == "test_bench.py::test_latency[host-onnxruntime-tiny_cnn-cpu-fp32-t1]"
    assert bench["stats"]["rounds"] == 3 * 20
    records = saved.records(bench)
    assert [r.repeat for r in records] == [1, 2, 3]
    assert [list(r.samples_ms or ()) for r in records] == [
        json.loads((bench_dir.path / f"samples-host-onnxruntime-tiny_cnn-cpu-fp32-t1-r{k}.json").read_text())
        for k in (1, 2, 3)]


def test_k_selects_items_as_usual(bench_dir: pytest.Pytester) -> None:
    result = bench_dir.runpytest_subprocess("--collect-only", "-q", "--libs=onnxruntime,tflite", "--threads=1,2,4",
                                            "-k", "tflite and t4")
    result.stdout.fnmatch_lines(["*host-tflite-tiny_cnn-cpu-fp32-t4*", "1/6 tests collected (5 deselected)*"])


def test_unsupported_combinations_are_skipped_with_the_reason(bench_dir: pytest.Pytester) -> None:
    result = bench_dir.runpytest_subprocess("-rs", "--libs=pytorch", "--backends=gpu", "--precisions=fp32,int8")
    result.stdout.fnmatch_lines([
        "*pytorch on host has no gpu backend (it has: cpu); run it on a phone*",
        "*pytorch has no int8 conversion route (it has: fp32)*",
    ])
    result.assert_outcomes(skipped=2)


def test_saved_run_holds_the_runners_own_latencies(bench_dir: pytest.Pytester) -> None:
    result = bench_dir.runpytest_subprocess(*RUN, "--libs=onnxruntime,tflite", "--benchmark-autosave",
                                            "--benchmark-save-data")
    result.assert_outcomes(passed=2)
    [run] = saved_runs(bench_dir.path)
    assert run["machine_info"]["mobiledl_devices"]["host"]["kind"] == "host"
    for bench in run["benchmarks"]:
        case_id = bench["param"]
        samples = json.loads((bench_dir.path / f"samples-{case_id}-r1.json").read_text())
        assert [round(s * 1000, 9) for s in bench["stats"]["data"]] == [round(s, 9) for s in samples]
        assert bench["stats"]["rounds"] == 20
        extra = bench["extra_info"]
        assert extra["lib"] in case_id and extra["lib_version"] not in bench["fullname"]
        assert extra["device"]["serial"] == "host" and extra["load_ms"] > 0 and extra["peak_rss_mb"] > 0


def test_tables_name_a_winner_with_its_ci_where_the_data_tell(bench_dir: pytest.Pytester) -> None:
    # 2 ms more per run of onnxruntime: tflite (~0.06 ms) wins beyond doubt.
    result = bench_dir.runpytest_subprocess(*RUN, "--libs=onnxruntime,tflite", "--threads=1,2", "--repeats=3",
                                            "--mobiledl-delay-ms=onnxruntime=2")
    result.stdout.fnmatch_lines([
        "*mobiledl fragmentation*",
        "| model *| device *| backend *| precision *| fastest *| typical ms [[]95% CI] *| ± *| next *"
        "| next ÷ fastest [[]95% CI] *| paired *|*libs | parity *|",
        "| tiny_cnn *| host *| cpu *| fp32 *| tflite (t[12]) *| 0.* [[]0.*, 0.*] *| *% *| onnxruntime (t[12]) *"
        "| * [[]*, *] *| paired (3 blocks) *|*2 | ok *|",
        "typical ms: the geometric mean of the medians of 3 repeats*",
        "*mobiledl gap*",
        "| tiny_cnn *| host *| tflite *| onnxruntime *| * [[]*, *] *|",
    ])


def test_what_the_data_cannot_tell_is_a_tie(bench_dir: pytest.Pytester) -> None:
    result = bench_dir.runpytest_subprocess(*RUN, "--libs=onnxruntime,tflite", "--repeats=1",
                                            "--mobiledl-delay-ms=onnxruntime=2")
    result.stdout.fnmatch_lines([
        "| tiny_cnn *| host *| cpu *| fp32 *| tie: tflite (t1) ≈ onnxruntime (t1) *| * [[]n/a] *| n/a *| — *",
        "*below 2 repeats no CI can be told: run with --repeats=5",
    ])


def test_one_library_says_so_instead_of_a_table(bench_dir: pytest.Pytester) -> None:
    result = bench_dir.runpytest_subprocess(*RUN, "--libs=onnxruntime")
    result.stdout.fnmatch_lines(["*only one library measured (onnxruntime)*"])
    result.stdout.no_fnmatch_line("*fastest*")


def test_compare_fail_passes_when_equal_and_fails_when_slowed(bench_dir: pytest.Pytester) -> None:
    # A fixed delay per run makes the medians steady on a noisy machine; then it is raised 5×.
    args = [*RUN, "--libs=onnxruntime"]
    bench_dir.runpytest_subprocess(*args, "--mobiledl-delay-ms=2", "--benchmark-autosave").assert_outcomes(passed=1)
    same = bench_dir.runpytest_subprocess(*args, "--mobiledl-delay-ms=2", "--benchmark-compare",
                                          "--benchmark-compare-fail=median:50%")
    assert same.ret == 0, same.stdout.str()
    slowed = bench_dir.runpytest_subprocess(*args, "--mobiledl-delay-ms=10", "--benchmark-compare",
                                            "--benchmark-compare-fail=median:50%")
    assert slowed.ret != 0
    output = pytest.LineMatcher(slowed.outlines + slowed.errlines)
    output.fnmatch_lines(["*Performance has regressed*", "*test_latency[[]host-onnxruntime-tiny_cnn*'median'*"])


def test_mobiledl_compare_fail_passes_an_identical_run_and_fails_a_slowed_one(bench_dir: pytest.Pytester) -> None:
    # A fixed delay per run makes the medians steady on a noisy machine; then it is raised 3×.
    args = [*RUN, "--libs=onnxruntime,tflite", "--repeats=3"]
    bench_dir.runpytest_subprocess(*args, "--mobiledl-delay-ms=2", "--benchmark-autosave").assert_outcomes(passed=6)
    same = bench_dir.runpytest_subprocess(*args, "--mobiledl-delay-ms=2", "--benchmark-compare",
                                          "--mobiledl-compare-fail=10%")
    assert same.ret == 0, same.stdout.str()
    same.stdout.fnmatch_lines([
        "*mobiledl changes: against the saved run*",
        "| item *| baseline *| current *| change % [[]95% CI] *| verdict *| judged on *| artifact *|",
        "| test_latency[[]host-onnxruntime-tiny_cnn-cpu-fp32-t1] *| 1.* 2.* [[]*] *| 1.* 2.* [[]*] *| * [[]*] *| * "
        "| block controls (1 case, 3 + 3 blocks) *| same *|",
    ])
    same.stdout.no_fnmatch_line("*machine_info is different*")
    slowed = bench_dir.runpytest_subprocess(*args, "--mobiledl-delay-ms=2,tflite=6", "--benchmark-compare",
                                            "--mobiledl-compare-fail=10%")
    assert slowed.ret == pytest.ExitCode.TESTS_FAILED
    slowed.stdout.fnmatch_lines([
        "| test_latency[[]host-tflite-tiny_cnn-cpu-fp32-t1] *| +* [[]+*, +*] *| slower *| block controls*| same *|",
        "mobiledl: test_latency[[]host-tflite-tiny_cnn-cpu-fp32-t1] is * % slower [[]95% CI +*, +*] than the saved "
        "run (--mobiledl-compare-fail=10%; block controls (1 case, 3 + 3 blocks))",
    ])
    slowed.stdout.no_fnmatch_line("mobiledl: test_latency[[]host-onnxruntime*")


def test_mobiledl_compare_fail_needs_a_saved_run(bench_dir: pytest.Pytester) -> None:
    result = bench_dir.runpytest_subprocess("--libs=onnxruntime", "--mobiledl-compare-fail=10%")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--mobiledl-compare-fail needs a saved run to compare with: "
                                 "add --benchmark-compare*"])


def test_pytest_benchmark_compare_cli_reads_saved_runs(bench_dir: pytest.Pytester) -> None:
    bench_dir.runpytest_subprocess(*RUN, "--libs=onnxruntime,tflite", "--benchmark-autosave").assert_outcomes(passed=2)
    cli = Path(sys.executable).with_name("pytest-benchmark")
    done = subprocess.run([str(cli), "--storage", str(bench_dir.path / ".benchmarks"), "compare"],
                          capture_output=True, text=True, cwd=bench_dir.path)
    assert done.returncode == 0, done.stderr
    assert "host-onnxruntime-tiny_cnn-cpu-fp32-t1" in done.stdout
    assert "host-tflite-tiny_cnn-cpu-fp32-t1" in done.stdout


def test_runner_failure_is_one_line_naming_device_and_library(bench_dir: pytest.Pytester) -> None:
    # --tb=native printed Python's own chain: the cause, "During handling…", the message again.
    result = bench_dir.runpytest_subprocess(*RUN, "--libs=tflite", "--runner-timeout=0.01", "--tb=native")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*host tflite: runner timed out after 0.01 s (--runner-timeout)*"])
    result.stdout.no_fnmatch_line("*Traceback*")
    result.stdout.no_fnmatch_line("*During handling of the above exception*")
    failures = result.stdout.str().split("short test summary info")[0]  # the summary repeats it by design
    assert failures.count("runner timed out after 0.01 s") == 1


@pytest.mark.parametrize(("args", "message"), [
    (["--libs=caffe"], "*--libs=caffe: caffe is not valid; choose from all, onnxruntime, tflite*"),
    (["--models=resnet9000"], "*--models=resnet9000: resnet9000 is not valid; choose from all, *mobilenet_v2*"),
    (["--backends=tpu"], "*--backends=tpu: tpu is not valid; choose from all, cpu, gpu, nnapi, dsp, npu*"),
    (["--precisions=fp8"], "*fp8 is not valid; choose from all, fp32, fp16, int8*"),
    (["--threads=0"], "*--threads=0: 0 must be ≥ 1*"),
    (["--threads=two"], "*--threads=two: 'two' is not an integer*"),
    (["--iterations=-5"], "*--iterations=-5: -5 must be ≥ 1*"),
    (["--runner-timeout=0"], "*--runner-timeout=0: 0 must be > 0*"),
    (["--devices=R58M123", "--adb-server=127.0.0.1:9"], "*--devices: no device R58M123: no adb server answers at "
                                                         "127.0.0.1:9 (start one with `adb start-server`)"),
    (["--adb-server=localhost"], "*--adb-server=localhost: 'localhost' is not host:port (e.g. 127.0.0.1:5037)"),
    (["--devices=all,host"], "*--devices=all,host: give all, host, or a comma list of adb serials*"),
    (["--repeats=0"], "*--repeats=0: 0 must be ≥ 1*"),
    (["--mobiledl-compare-fail=ten", "--benchmark-compare"], "*--mobiledl-compare-fail=ten: give a slowdown in "
                                                             "percent, e.g. 10%*"),
    (["--mobiledl-compare-fail=-5%", "--benchmark-compare"], "*-5% must be a finite percentage ≥ 0, e.g. 10%*"),
    (["--mobiledl-delay-ms=caffe=10%"], "*--mobiledl-delay-ms=caffe=10%: caffe is not a library; choose from*"),
    (["--mobiledl-delay-ms=mnn=inf"], "*--mobiledl-delay-ms=mnn=inf: inf is not a finite number*"),
    (["--mobiledl-fork=maybe"], "*--mobiledl-fork=maybe: expected yes or no*"),
])
def test_bad_options_are_one_clear_usage_error(bench_dir: pytest.Pytester, args: list[str], message: str) -> None:
    result = bench_dir.runpytest_subprocess("--collect-only", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stderr.str()


def test_ini_options_are_validated_too(bench_dir: pytest.Pytester, model_cache: Path) -> None:
    bench_dir.makeini(f"[pytest]\nmobiledl_model_cache = {model_cache}\nmobiledl_threads = 1,x\n")
    result = bench_dir.runpytest_subprocess("--collect-only")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*ini option mobiledl_threads=1,x: 'x' is not an integer*"])


def test_ini_options_set_the_matrix(bench_dir: pytest.Pytester, model_cache: Path) -> None:
    bench_dir.makeini(f"[pytest]\nmobiledl_model_cache = {model_cache}\nmobiledl_models = tiny_cnn\n"
                      "mobiledl_libs = tflite\nmobiledl_threads = 3\nmobiledl_repeats = 1\n")
    result = bench_dir.runpytest_subprocess("--collect-only", "-q")
    result.stdout.fnmatch_lines(["*host-tflite-tiny_cnn-cpu-fp32-t3*", "1 test collected*"])


def test_plugin_can_be_turned_off(bench_dir: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD")  # installed plugins load as for a user
    monkeypatch.delenv("PYTEST_ADDOPTS")
    result = bench_dir.runpytest_subprocess("-p", "no:mobiledl", "--libs=tflite")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unrecognized arguments: --libs=tflite*"])


def test_help_lists_the_options_in_one_group(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--help")
    result.stdout.fnmatch_lines(["mobile deep-learning benchmarks (pytest-mobiledl):", "*--devices=DEVICES*",
                                 "*--libs=LIBS*", "*--min-time=MIN_TIME*", "*--runner-timeout=RUNNER_TIMEOUT*"])


def test_plugin_import_stays_light() -> None:
    heavy = ["torch", "tensorflow", "keras", "tf2onnx", "executorch", "onnxruntime", "ai_edge_litert", "adbutils",
             "pandas", "numpy"]
    code = f"import sys, pytest_mobiledl.plugin; print([m for m in {heavy!r} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_libraries_without_a_host_build_are_listed_and_skipped_with_why(bench_dir: pytest.Pytester) -> None:
    result = bench_dir.runpytest_subprocess("-rs", "--libs=mace,snpe")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["*mace has no conversion route here: *; it runs on phones only (native_runners/mace)",
                                 "*snpe has no conversion route here: *Qualcomm's licensed SDK*"])
