"""--variant: builds of one library side by side, interleaved, with the A/B table and its gate."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from pytest_mobiledl import compare, report, stats, variants
from pytest_mobiledl.emulator import Farm
from pytest_mobiledl.record import RunRecord, from_dict

RUN = ["-p", "no:cacheprovider", "--libs=onnxruntime", "--warmup=1", "--iterations=5"]
#: This environment's own interpreter: a variant from an interpreter path, with onnxruntime as installed.
HERE = f"onnxruntime@here={sys.executable}"
SAMPLES = Path(__file__).parents[1] / "native_runners"


@pytest.fixture(scope="session")
def env_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Variant environments, made once per test session (or kept across sessions: MOBILEDL_TEST_ENV_CACHE)."""
    shared = os.environ.get("MOBILEDL_TEST_ENV_CACHE")
    return Path(shared) if shared else tmp_path_factory.mktemp("env-cache")


def records(pytester: pytest.Pytester, name: str = "out.json") -> list[dict[str, object]]:
    return [bench["extra_info"] for bench in json.loads((pytester.path / name).read_text())["benchmarks"]]


@pytest.mark.parametrize(("entry", "message"), [
    ("onnxruntime@old", "'onnxruntime@old' is not a variant; give LIB@LABEL=SPEC"),
    ("onnxruntime@=onnxruntime==1.24.4", "is not a variant; give LIB@LABEL=SPEC"),
    ("nosuchlib@old=nosuchlib==1", "nosuchlib is not a library; choose from"),
    ("onnxruntime@old=/nowhere/python", "no file or folder /nowhere/python; give LIB@LABEL=SPEC"),
    ("onnxruntime@old=onnxruntime===", "is not a pip requirement"),
])
def test_a_bad_spec_is_one_clear_line(entry: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[")):
        variants.parse(entry, ["onnxruntime", "tflite"])


def test_kinds_are_told_by_what_the_spec_is(tmp_path: Path) -> None:
    wheel = tmp_path / "onnxruntime-9.9-py3-none-any.whl"
    wheel.write_bytes(b"")
    given = variants.parse(f"onnxruntime@a=onnxruntime==1.24.4 onnxruntime@b={wheel} {HERE} "
                           f"tflite@c={tmp_path}", ["onnxruntime", "tflite"])
    assert [(v.name, v.kind) for v in given] == [("onnxruntime@a", "pip"), ("onnxruntime@b", "pip"),
                                                 ("onnxruntime@here", "python"), ("tflite@c", "tool")]
    assert given[2].python == Path(sys.executable) and given[3].tool_dir == tmp_path.resolve()
    with pytest.raises(ValueError, match="onnxruntime@a is given twice"):
        variants.parse("onnxruntime@a=onnxruntime onnxruntime@a=onnxruntime", ["onnxruntime"])


@pytest.mark.parametrize(("args", "message"), [
    (["--variant", "onnxruntime@old"], "*--variant=onnxruntime@old: 'onnxruntime@old' is not a variant; give "
                                       "LIB@LABEL=SPEC, where SPEC is a pip requirement*"),
    (["--variant", "onnxruntime@old=~/no/such/python"], "*no file or folder ~/no/such/python*"),
    (["--libs=tflite", "--variant", HERE], "*--variant onnxruntime@here: the library is not selected; add it to "
                                           "--libs (now: tflite)"),
])
def test_a_missing_or_bad_spec_is_one_usage_error(bench_dir: pytest.Pytester, args: list[str], message: str) -> None:
    result = bench_dir.runpytest_subprocess(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stderr.str()


def test_an_environment_that_cannot_be_made_is_one_usage_error(bench_dir: pytest.Pytester, tmp_path: Path) -> None:
    wheel = tmp_path / "onnxruntime-9.9-py3-none-any.whl"
    wheel.write_bytes(b"not a zip")  # pip refuses it before it looks for anything online
    result = bench_dir.runpytest_subprocess(*RUN, f"--mobiledl-env-cache={tmp_path / 'envs'}",
                                            "--variant", f"onnxruntime@broken={wheel}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*making an environment for*", "ERROR: pytest-mobiledl: --variant onnxruntime@broken:"
                                 " pip install */onnxruntime-9.9-py3-none-any.whl failed: *"])
    assert "Traceback" not in result.stderr.str()


def test_ids_carry_the_label_and_variants_alternate_within_each_round(bench_dir: pytest.Pytester) -> None:
    result = bench_dir.runpytest_subprocess(*RUN, "--collect-only", "-q", "--repeats=2", "--threads=1,2",
                                            "--variant", HERE.replace("@here", "@a"),
                                            "--variant", HERE.replace("@here", "@b"))
    ids = [line.split("[", 1)[1].rstrip("]") for line in result.outlines if "::test_latency[" in line]
    assert ids == [f"host-onnxruntime@{v}-tiny_cnn-cpu-fp32-t{t}-r{r}" for r in (1, 2) for t in (1, 2) for v in "ab"]


def test_variants_come_from_the_ini_file_one_per_line(bench_dir: pytest.Pytester) -> None:
    bench_dir.makeini(f"[pytest]\nmobiledl_models = tiny_cnn\nmobiledl_repeats = 1\n"
                      f"mobiledl_variants =\n    {HERE.replace('@here', '@x')}\n    {HERE.replace('@here', '@y')}\n")
    result = bench_dir.runpytest_subprocess(*RUN, "--collect-only", "-q")
    assert [line for line in result.outlines if "::test_latency[" in line] == [
        f"test_bench.py::test_latency[host-onnxruntime@{v}-tiny_cnn-cpu-fp32-t1]" for v in "xy"]


def test_without_variants_nothing_changes(bench_dir: pytest.Pytester) -> None:
    result = bench_dir.runpytest_subprocess(*RUN, "--collect-only", "-q", "--repeats=1")
    assert [line for line in result.outlines if "::test_latency[" in line] == [
        "test_bench.py::test_latency[host-onnxruntime-tiny_cnn-cpu-fp32-t1]"]


def test_two_variants_on_the_host_run_one_artifact_and_print_the_ab_table(
        bench_dir: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))  # where the zipapp runner is written: nothing stays after the session
    result = bench_dir.runpytest_subprocess(*RUN, "--repeats=2", "--benchmark-json=out.json",
                                            "--variant", HERE.replace("@here", "@a"),
                                            "--variant", HERE.replace("@here", "@b"))
    result.assert_outcomes(passed=4)
    saved = records(bench_dir)
    assert [r["engine_options"]["variant"] for r in saved] == ["a", "b"]  # type: ignore[index]
    assert len({r["artifact_sha256"] for r in saved}) == 1
    result.stdout.fnmatch_lines([
        "*mobiledl variants: each build against the case's first (--variant)*",
        "| case*| variant*| version*| typical ms [[]95% CI]*| change % [[]95% CI]*| judged on*| artifact*| verdict*|",
        "*| host-tiny_cnn-cpu-fp32-t1*| onnxruntime@a*| 1.* | * [[]*, *]*| —*| same*| —*|",
        "*| host-tiny_cnn-cpu-fp32-t1*| onnxruntime@b*| 1.* | * [[]*, *]*| [+-]* [[]*, *]*| same*|*|",
    ])
    assert not list(temp.glob("mobiledl-runner-*"))


@pytest.mark.slow
def test_compare_fail_gates_a_slower_variant(bench_dir: pytest.Pytester) -> None:
    result = bench_dir.runpytest_subprocess(*RUN, "--repeats=3", "--mobiledl-compare-fail=10%",
                                            "--mobiledl-delay-ms=onnxruntime@b=60%",
                                            "--variant", HERE.replace("@here", "@a"),
                                            "--variant", HERE.replace("@here", "@b"))
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([
        "*| host-tiny_cnn-cpu-fp32-t1*| onnxruntime@b*| +* [[]+*, +*]*| slower*|",
        "mobiledl: host-tiny_cnn-cpu-fp32-t1 onnxruntime@b is * % slower [[]95% CI +*, +*] than onnxruntime@a "
        "(--mobiledl-compare-fail=10%; paired (3 blocks))",
    ])


GOLDEN = json.loads((Path(__file__).parent / "golden" / "record_v1.json").read_text())


def build(label: str, medians: list[float], version: str = "1.0", model: str = "m1") -> list[RunRecord]:
    """A variant's repeats, each of whose samples all equal that repeat's median."""
    return [from_dict(GOLDEN | {"lib": "onnxruntime", "lib_version": version, "model": model, "threads": 1,
                                "samples_ms": [m] * 5, "device": {"serial": "host"},
                                "engine_options": {"variant": label}}).with_(repeat=k)
            for k, m in enumerate(medians, 1)]


def test_the_ab_table_pairs_rounds_so_drift_between_rounds_cancels() -> None:
    # Each round is slower than the last (drift), and b is 10 % slower than a in every round:
    # as two independent samples this is no change; round by round it is established.
    a, b = build("a", [10.0, 20.0, 40.0]), build("b", [11.0, 22.0, 44.0], version="2.0")
    table, found = report.variants({"x[a]": a, "x[b]": b}, [("onnxruntime", "a"), ("onnxruntime", "b")])
    assert compare.verdicts({"b": stats.compare([10, 20, 40], [11, 22, 44])})["b"].startswith("cannot tell")
    [ab] = found
    assert (ab.item, ab.against, ab.how) == ("host-m1-cpu-fp32-t1 onnxruntime@b", "onnxruntime@a", "paired (3 rounds)")
    assert ab.change.ratio == pytest.approx(1.1)
    rows = table.to_dict("records")
    assert [(r["variant"], r["version"], r["change % [95% CI]"], r["verdict"], r["artifact"]) for r in rows] == [
        ("onnxruntime@a", "1.0", "—", "—", "same"), ("onnxruntime@b", "2.0", "+10.0 [+10.0, +10.0]", "slower", "same")]


def test_the_first_variant_given_is_the_base_and_a_missing_repeat_falls_back_to_welch() -> None:
    a, b = build("a", [10.0, 10.2, 9.8]), build("b", [12.0, 12.1])  # b's third repeat failed
    table, found = report.variants({"x[b]": b, "x[a]": a}, [("onnxruntime", "b"), ("onnxruntime", "a")])
    assert list(table["variant"]) == ["onnxruntime@b", "onnxruntime@a"]
    [c] = found
    assert (c.item, c.how) == ("host-m1-cpu-fp32-t1 onnxruntime@a", "unpaired")
    assert c.change.ratio < 1 and c.change == stats.compare([12.0, 12.1], [10.0, 10.2, 9.8])


def test_a_sweep_has_a_trend_row_per_build_and_a_frame_for_a_plot() -> None:
    records = [*build("r1", [10, 10.1], "1.0"), *build("r2", [9, 9.1], "1.1"), *build("r3", [8, 8.1], "1.2"),
               *build("r1", [5, 5.1], "1.0", model="m2"), *build("r2", [5, 5.1], "1.1", model="m2"),
               *build("r3", [4, 4.1], "1.2", model="m2")]
    frame = report.sweep(records)
    assert len(frame) == 6 and set(frame.columns) >= {"lib", "variant", "version", "model", "median_ms", "low_ms"}
    trend = report.trend(frame, [("onnxruntime", "r3"), ("onnxruntime", "r1"), ("onnxruntime", "r2")])
    assert list(trend["variant"]) == ["onnxruntime@r3", "onnxruntime@r1", "onnxruntime@r2"]
    assert list(trend.columns) == ["variant", "version", "host-m1-cpu-fp32-t1", "host-m2-cpu-fp32-t1"]
    assert trend.iloc[0]["host-m1-cpu-fp32-t1"].startswith("8.05 [")
    assert report.trend(frame[frame["variant"] != "r3"]).empty  # two builds: the A/B table says it all


def tool_folder(root: Path, version: str) -> Path:
    """A stand-in tflite tool replaying a recorded output (the real one is arm64 only), with its VERSION."""
    tool = root / version
    tool.mkdir(parents=True)
    (tool / "recorded.txt").write_text((SAMPLES / "tflite" / "samples" / "cpu_4threads.txt").read_text())
    (tool / "VERSION").write_text(version + "\n")
    (tool / "benchmark_model").write_text('#!/system/bin/sh\ncat "$(dirname "$0")/recorded.txt"\n')
    (tool / "benchmark_model").chmod(0o755)
    return tool


def test_tool_folders_stand_in_on_two_emulated_devices(bench_dir: pytest.Pytester, adb_farm: Farm) -> None:
    old, new = tool_folder(bench_dir.path / "tools", "2.16.1"), tool_folder(bench_dir.path / "tools", "2.18.0")
    result = bench_dir.runpytest_subprocess("-p", "no:cacheprovider", "--libs=tflite", "--threads=4", "--repeats=2",
                                            # what the recorded output echoes: the parser checks it
                                            "--warmup=5", "--iterations=50",
                                            "--devices=all", f"--adb-server={adb_farm.server}", "-rs",
                                            "--runner-dir=/nowhere", "--benchmark-json=out.json",
                                            "--variant", f"tflite@old={old}", "--variant", f"tflite@new={new}")
    result.assert_outcomes(passed=8, skipped=2)  # 2 phones × 2 builds × 2 repeats; the host has no Android tool
    result.stdout.fnmatch_lines(["*tflite@old is an Android tool folder: it runs on phones, not on the host*"])
    got = {(r["device"]["serial"], r["engine_options"]["variant"], r["lib_version"])  # type: ignore[index]
           for r in records(bench_dir)}
    assert got == {(s, label, version) for s in adb_farm.serials for label, version in (("old", "2.16.1"),
                                                                                         ("new", "2.18.0"))}
    for serial in adb_farm.serials:
        result.stdout.fnmatch_lines([f"*| {serial}-tiny_cnn-cpu-fp32-t4*| tflite@new*| 2.18.0*| same*|"])


@pytest.mark.slow
def test_two_released_versions_on_the_host(bench_dir: pytest.Pytester, env_cache: Path) -> None:
    """A pip variant (an environment made once, then reused offline) beside this environment's build."""
    args = [*RUN, "--repeats=2", f"--mobiledl-env-cache={env_cache}", "--benchmark-json=out.json",
            "--variant", "onnxruntime@old=onnxruntime==1.24.4", "--variant", HERE.replace("@here", "@new")]
    first = bench_dir.runpytest_subprocess(*args)
    first.assert_outcomes(passed=4)
    saved = records(bench_dir)
    assert [(r["engine_options"]["variant"], r["lib_version"]) for r in saved] == [  # type: ignore[index]
        ("old", "1.24.4"), ("new", __import__("onnxruntime").__version__)]
    assert len({r["artifact_sha256"] for r in saved}) == 1
    again = bench_dir.runpytest_subprocess(*args)  # the environment is ready: no install, no network
    again.assert_outcomes(passed=4)
    assert "making an environment" not in again.stderr.str()


@pytest.mark.slow
def test_a_build_that_cannot_load_the_artifact_fails_in_its_own_words(bench_dir: pytest.Pytester,
                                                                     env_cache: Path) -> None:
    # onnxruntime 1.15 reads ONNX IR ≤ 9; the default environment exports IR 10.
    result = bench_dir.runpytest_subprocess(*RUN, "--repeats=1", f"--mobiledl-env-cache={env_cache}",
                                            "--variant", "onnxruntime@ancient=onnxruntime==1.15.1", "--variant", HERE)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*host onnxruntime@ancient: *Unsupported model IR version: 10, max supported IR "
                                 "version: 9*"])
