"""Every bad input is one line and exit code 4 (usage error) before anything runs: a table.

In-process pytest runs (``--collect-only``): each case costs a configure, not an interpreter.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# Placeholders filled per test: {file} an existing file, {dir} an empty folder.
CASES: list[tuple[list[str], str]] = [
    (["--libs=caffe"], "--libs=caffe: caffe is not valid; choose from all, *"),
    (["--libs=onnxruntime,caffe"], "--libs=onnxruntime,caffe: caffe is not valid*"),
    (["--libs=,"], "--libs=,: nothing is not valid*"),
    (["--models=resnet9000"], "--models=resnet9000: resnet9000 is not valid; choose from all, *"),
    (["--models=missing.onnx"], "--models=missing.onnx: no model file missing.onnx"),
    (["--models=MISSING.ONNX"], "--models=MISSING.ONNX: no model file MISSING.ONNX"),
    (["--models={dir}/folder.tflite"], "--models=*folder.tflite: no model file *"),
    (["--models={garbage}"], "--models: *garbage.onnx*"),
    (["--backends=tpu"], "--backends=tpu: tpu is not valid; choose from all, cpu, *"),
    (["--backends="], "--backends=: nothing is not valid*"),
    (["--precisions=fp8"], "--precisions=fp8: fp8 is not valid; choose from all, fp32, fp16, int8"),
    (["--threads=0"], "--threads=0: 0 must be ≥ 1"),
    (["--threads=-1"], "--threads=-1: -1 must be ≥ 1"),
    (["--threads=two"], "--threads=two: 'two' is not an integer"),
    (["--threads=1.5"], "--threads=1.5: '1.5' is not an integer"),
    (["--threads=,"], "--threads=,: give one or more thread counts, e.g. 1,2,4"),
    (["--warmup=-1"], "--warmup=-1: -1 must be ≥ 0"),
    (["--warmup=x"], "--warmup=x: 'x' is not an integer"),
    (["--warmup=inf"], "--warmup=inf: 'inf' is not an integer"),
    (["--iterations=0"], "--iterations=0: 0 must be ≥ 1"),
    (["--iterations=-5"], "--iterations=-5: -5 must be ≥ 1"),
    (["--iterations=nan"], "--iterations=nan: 'nan' is not an integer"),
    (["--min-time=-1"], "--min-time=-1: -1 must be ≥ 0"),
    (["--min-time=inf"], "--min-time=inf: inf is not a finite number"),
    (["--min-time=nan"], "--min-time=nan: nan is not a finite number"),
    (["--min-time=soon"], "--min-time=soon: 'soon' is not a number"),
    (["--runner-timeout=0"], "--runner-timeout=0: 0 must be > 0"),
    (["--runner-timeout=-3"], "--runner-timeout=-3: -3 must be > 0"),
    (["--runner-timeout=inf"], "--runner-timeout=inf: inf is not a finite number"),
    (["--runner-timeout=nan"], "--runner-timeout=nan: nan is not a finite number"),
    (["--runner-timeout=-inf"], "--runner-timeout=-inf: -inf is not a finite number"),
    (["--model-cache={file}"], "--model-cache=*: * is a file, not a folder; give a folder for converted models"),
    (["--model-cache={file}/sub"], "--model-cache=*: * is a file, not a folder*"),
    (["--model-cache=/sys/mobiledl-cache"], "--model-cache=/sys/mobiledl-cache: /sys is not writable (*)*"),
    (["--runner-dir={file}"], "--runner-dir=*: is a file; give the folder that holds one folder per library*"),
    (["--adb-server=localhost"], "--adb-server=localhost: 'localhost' is not host:port (e.g. 127.0.0.1:5037)"),
    (["--adb-server=127.0.0.1:0"], "--adb-server=127.0.0.1:0: '127.0.0.1:0' is not host:port*"),
    (["--adb-server=127.0.0.1:99999"], "--adb-server=127.0.0.1:99999: * is not host:port*"),
    (["--adb-server=:5037"], "--adb-server=:5037: ':5037' is not host:port*"),
    (["--adb-server=127.0.0.1:adb"], "--adb-server=127.0.0.1:adb: * is not host:port*"),
    (["--devices=all,host"], "--devices=all,host: give all, host, or a comma list of adb serials"),
    (["--devices=,"], "--devices=,: give all, host, or a comma list of adb serials"),
    (["--devices=R58M123", "--adb-server=127.0.0.1:9"], "*--devices: no device R58M123: no adb server answers at "
                                                         "127.0.0.1:9 (start one with `adb start-server`)"),
    (["--mobiledl-delay-ms=x"], "--mobiledl-delay-ms=x: 'x' is not a number"),
    (["--mobiledl-delay-ms=-1"], "--mobiledl-delay-ms=-1: -1 must be ≥ 0"),
    (["--mobiledl-delay-ms=inf"], "--mobiledl-delay-ms=inf: inf is not a finite number"),
    (["--input-shape=x"], "--input-shape=x: *"),
    (["--input-shape=x=1,a"], "--input-shape=x=1,a: *"),
    (["--input-shape=nosuch=1,3"], "*--input-shape names nosuch, but no model file has such an input*"),
    # issue 19: each crashed, misled, or ran the whole session first
    (["--models="], "--models=: give zoo models, all, or model files (.onnx, *), comma separated"),
    (["--models=,"], "--models=,: give zoo models, all, or model files*"),
    (["--models= "], "--models= : give zoo models, all, or model files*"),
    (["--models=x.xyz"], "--models=x.xyz: x.xyz: .xyz is not a model format pytest-mobiledl reads; give .onnx, *"),
    (["--models=no/such/folder"], "--models=no/such/folder: no model file or SavedModel folder no/such/folder"),
    (["--benchmark-storage=file://{file}"], "--benchmark-storage=file://*: * is a file, not a folder; give a folder "
                                            "for saved runs"),
    (["--mobiledl-report={file}/r.html"], "--mobiledl-report=*/r.html: * is a file, not a folder; give a folder "
                                          "for the report"),
    (["--mobiledl-report={dir}"], "--mobiledl-report=*: is a folder; give the HTML file to write, e.g. */report.html"),
    (["--mobiledl-report=/sys/r.html"], "--mobiledl-report=/sys/r.html: /sys is not writable (*)*"),
    (["--variant=onnxruntime@x={script}"], "*--variant onnxruntime@x=*script.sh: is not a Python interpreter that runs "
                                           "the runner (exit 0: not python); give a Python interpreter*"),
    (["--variant=onnxruntime@x={text}"], "*--variant onnxruntime@x=*: cannot be run (Exec format error); give a "
                                         "Python interpreter*"),
    (["--variant=onnxruntime@x={nolib}"], "*--variant onnxruntime@x=*: this Python cannot import the runner's needs "
                                          "(ModuleNotFoundError: No module named *); install onnxruntime "
                                          "and numpy into it"),
    (["--variant=onnxruntime@x=not a requirement!!"], "--variant=onnxruntime@x=not a requirement!!: 'onnxruntime@x=not "
                                                      "a requirement!!' is not a variant: SPEC holds spaces; give *"),
    (["--repeats=1000000000"], "--repeats=1000000000: 1000000000 is above the limit of 1000 (each repeat is an item "
                               "of every case)"),
    (["--warmup=1000000000"], "--warmup=1000000000: 1000000000 is above the limit of 10000: *"),
    (["--iterations=10000000000"], "--iterations=10000000000: 10000000000 is above the limit of 100000: raise "
                                   "--repeats instead*"),
    (["--min-time=1e9"], "--min-time=1e9: 1e9 is above the limit of 3600 s (an hour per repeat)"),
    (["--min-time=600"], "--min-time=600: every run would be killed first: it must be below --runner-timeout (600 s)"),
    (["--mobiledl-build-timeout=0"], "--mobiledl-build-timeout=0: 0 must be > 0"),
    (["--models={hang}", "--mobiledl-build-timeout=2"], "*--models: *hang.py: building it (its build()) and running "
                                                        "it once took over 2 s and was stopped (raise "
                                                        "--mobiledl-build-timeout if it is only slow)"),
    (["--benchmark-compare=9999", "--mobiledl-compare-fail=10%"],
     "*--mobiledl-compare-fail cannot compare: no saved run in * matches '9999' (--benchmark-autosave saves one)"),
    (["--benchmark-compare", "--mobiledl-compare-fail=10%", "--benchmark-storage={dir}/empty"],
     "*--mobiledl-compare-fail cannot compare: no saved run in *empty was saved yet*"),
]


def test_the_table_is_large_enough() -> None:
    assert len(CASES) >= 40


@pytest.fixture
def places(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "a-file").write_text("not a folder")
    (tmp_path / "folder.tflite").mkdir()
    (tmp_path / "garbage.onnx").write_bytes(b"\x00not onnx" * 100)
    executables = {"script.sh": "#!/bin/sh\necho not python\n", "text": "just text, no interpreter line\n",
                   "nolib": f"#!/bin/sh\nexec {sys.executable} -I -S \"$@\"\n"}  # no site-packages: no numpy
    for name, text in executables.items():
        (tmp_path / name).write_text(text)
        (tmp_path / name).chmod(0o755)
    (tmp_path / "hang.py").write_text("import time\nINPUTS = {'x': (1, 3, 8, 8)}\n\n\ndef build():\n"
                                      "    time.sleep(3600)\n")
    return {"file": str(tmp_path / "a-file"), "dir": str(tmp_path), "garbage": str(tmp_path / "garbage.onnx"),
            "script": str(tmp_path / "script.sh"), "text": str(tmp_path / "text"), "nolib": str(tmp_path / "nolib"),
            "hang": str(tmp_path / "hang.py")}


@pytest.mark.parametrize(("args", "message"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_bad_input_is_one_line_and_a_usage_error(bench_dir: pytest.Pytester, places: dict[str, str],
                                                 args: list[str], message: str) -> None:
    if "/sys/" in args[0] and Path("/sys").is_dir() and _writable("/sys"):
        pytest.skip("/sys is writable here: no read-only folder to try")
    result = bench_dir.runpytest_inprocess("--collect-only", "-p", "no:cacheprovider",
                                           *(a.format(**places) for a in args))
    lines = [line for line in result.errlines if line.strip()]
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.outlines[-5:] + lines
    assert len(lines) == 1, lines
    result.stderr.fnmatch_lines([f"ERROR: *{message}"])
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


def test_ini_values_are_checked_like_options(bench_dir: pytest.Pytester, model_cache: Path) -> None:
    bench_dir.makeini(f"[pytest]\nmobiledl_model_cache = {model_cache}\nmobiledl_min_time = nan\n")
    result = bench_dir.runpytest_inprocess("--collect-only")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*ini option mobiledl_min_time=nan: nan is not a finite number*"])


def test_model_file_suffixes_are_case_insensitive(bench_dir: pytest.Pytester, model_cache: Path,
                                                  tmp_path: Path) -> None:
    import shutil

    from pytest_mobiledl import zoo

    upper = tmp_path / "NET.ONNX"
    shutil.copy(zoo.artifact("tiny_cnn", "onnxruntime", "fp32", model_cache).path, upper)
    result = bench_dir.runpytest_inprocess("--collect-only", "-q", f"--models={upper}", "--libs=onnxruntime")
    assert result.ret == pytest.ExitCode.OK, result.errlines
    result.stdout.fnmatch_lines(["*host-onnxruntime-net-cpu-fp32-t1*"])


def _writable(folder: str) -> bool:
    import tempfile

    try:
        tempfile.TemporaryFile(dir=folder).close()
    except OSError:
        return False
    return True


# `mobiledl report`: an output that cannot be written is one line and a non-zero exit, before the work.
REPORT_CASES: list[tuple[list[str], str]] = [
    (["--html", "{file}/r.html"], "--html {file}/r.html: {file} is a file, not a folder; give a folder for the report"),
    (["--html", "{dir}"], "--html {dir}: is a folder; give the HTML file to write"),
    (["--csv", "{file}"], "--csv {file}: is a file; give a folder for the CSV files"),
    (["--csv", "{file}/csv"], "--csv {file}/csv: {file} is a file, not a folder; give a folder for the report"),
    (["--html", "/sys/r.html"], "--html /sys/r.html: /sys is not writable (*); give a folder you can write*"),
]


@pytest.mark.parametrize(("args", "message"), REPORT_CASES, ids=[" ".join(a) for a, _ in REPORT_CASES])
def test_a_report_output_that_cannot_be_written_is_one_line(places: dict[str, str], tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str], args: list[str],
                                                            message: str) -> None:
    import fnmatch

    from test_report_analyses import RECORDS
    from test_report_cli import journal

    from pytest_mobiledl import cli

    if "/sys/" in args[1] and _writable("/sys"):
        pytest.skip("/sys is writable here: no read-only folder to try")
    source = journal(tmp_path / "s.jsonl", RECORDS[:3])
    code = cli.main(["report", str(source), *(a.format(**places) for a in args)])
    out, err = capsys.readouterr()
    assert code != 0 and out == ""  # said before any table is made
    assert len(err.strip().splitlines()) == 1, err
    assert fnmatch.fnmatch(err.strip(), "mobiledl report: " + message.format(**places)), err


def test_ini_keys_follow_the_flags_and_the_models_help_names_every_format() -> None:
    from pytest_mobiledl import options, usermodels

    for option in options.OPTIONS:
        if option.cli.startswith("--mobiledl-"):
            assert option.ini_key == "mobiledl_" + option.cli.removeprefix("--mobiledl-").replace("-", "_")
    assert {o.cli: o.ini_key for o in options.OPTIONS}["--variant"] == "mobiledl_variants"
    models = next(o for o in options.OPTIONS if o.name == "models")
    assert all(suffix in models.help for suffix in usermodels.SUFFIXES) and "SavedModel" in models.help


def test_the_delay_ini_key_is_named_like_its_flag(bench_dir: pytest.Pytester) -> None:
    bench_dir.makeini("[pytest]\nmobiledl_models = tiny_cnn\nmobiledl_delay_ms = x\n")
    result = bench_dir.runpytest_inprocess("--collect-only")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*ini option mobiledl_delay_ms=x: 'x' is not a number*"])
