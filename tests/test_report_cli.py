"""``mobiledl report``: real saved runs of the plugin merged, journals, filters, and bad input."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from test_report_analyses import RECORDS

from pytest_mobiledl import cli
from pytest_mobiledl.emulator import Farm
from pytest_mobiledl.record import RunRecord, from_dict

RUN = ["-p", "no:cacheprovider", "--warmup=2", "--iterations=10", "--libs=onnxruntime,tflite", "--repeats=2"]


def report(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(["report", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def journal(path: Path, records: list[RunRecord], header: bool = True) -> Path:
    """A journal as journal.py writes it (header, a line per report, end); without header: bare records."""
    if not header:
        path.write_text("\n".join(r.to_json() for r in records) + "\n")
        return path
    lines = [{"mobiledl_journal": 1, "session": path.stem, "items": []},
             {"nodeid": "t::skipped", "item": "t::skipped", "outcome": "skipped", "when": "setup", "record": None},
             *({"nodeid": f"t::{k}", "item": f"t::{k}", "outcome": "passed", "when": "call", "record": r.to_dict()}
               for k, r in enumerate(records)),
             {"end": "2026-12-03T09:00:00+00:00", "exitstatus": 0}]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return path


def test_two_saved_runs_of_the_plugin_are_merged_run_by_run(bench_dir: pytest.Pytester) -> None:
    first = bench_dir.runpytest_subprocess(*RUN, "--benchmark-autosave", "--mobiledl-report=session.html")
    first.assert_outcomes(passed=4)
    first.stdout.fnmatch_lines(["mobiledl: HTML report written to session.html"])
    bench_dir.runpytest_subprocess(*RUN, "--benchmark-autosave").assert_outcomes(passed=4)
    mobiledl = Path(sys.executable).with_name("mobiledl")
    done = subprocess.run([str(mobiledl), "report", ".benchmarks", "--html", "out/report.html", "--csv", "out"],
                          capture_output=True, text=True, cwd=bench_dir.path)
    assert done.returncode == 0, done.stderr
    out = bench_dir.path / "out"
    names = sorted(p.stem for p in out.glob("*.csv"))
    assert names == sorted(["runs", "fragmentation", "gap", "variants", "impact", "cold_warm", "memory", "stability",
                            "conditions", "parity", "environment"])
    with (out / "stability.csv").open() as f:
        rows = list(csv.DictReader(f))
    # 2 libraries × 2 runs, never pooled: each row holds its own run's 2 repeats.
    assert sorted((r["lib"].split()[0], r["run"]) for r in rows) == [
        ("onnxruntime", "0001"), ("onnxruntime", "0002"), ("tflite", "0001"), ("tflite", "0002")]
    assert {r["repeats"] for r in rows} == {"2"}
    assert "tflite" in done.stdout and "@0002" in done.stdout
    for page in (out / "report.html", bench_dir.path / "session.html"):
        text = page.read_text()
        assert text.count("data:image/png;base64,") >= 2 and "http://" not in text and "https://" not in text


def mobiledl_report(cwd: Path, *argv: str) -> tuple[int, str, str]:
    """The ``mobiledl report`` command in its own process (pytester's tests unload what they import)."""
    done = subprocess.run([str(Path(sys.executable).with_name("mobiledl")), "report", *argv], capture_output=True,
                          text=True, cwd=cwd)
    return done.returncode, done.stdout, done.stderr


def test_runs_with_variants_make_every_report(bench_dir: pytest.Pytester) -> None:
    # Two builds of onnxruntime (this interpreter twice) beside tflite, then a plain run: the report
    # of a --variant run used to end in KeyError ('…', 'onnxruntime@a'), in the session and after.
    builds = ["--variant", f"onnxruntime@a={sys.executable}", "--variant", f"onnxruntime@b={sys.executable}"]
    first = bench_dir.runpytest_subprocess(*RUN, *builds, "--benchmark-autosave", "--mobiledl-report=session.html")
    first.assert_outcomes(passed=6)
    first.stdout.fnmatch_lines(["mobiledl: HTML report written to session.html"])
    assert "INTERNALERROR" not in first.stdout.str() + first.stderr.str()
    bench_dir.runpytest_subprocess(*RUN, "--benchmark-autosave").assert_outcomes(passed=4)
    golden = Path(__file__).parent / "golden"
    old = journal(bench_dir.path / "old.jsonl", [from_dict(json.loads((golden / f"record_v{v}.json").read_text()))
                                                 .with_(repeat=v) for v in (1, 2)], header=False)
    session = sorted((bench_dir.path / ".benchmarks" / "mobiledl-journal").glob("*.jsonl"))[0]  # the first
    saved_runs = sorted((bench_dir.path / ".benchmarks").rglob("0*.json"))
    assert len(saved_runs) == 2

    code, out, err = mobiledl_report(bench_dir.path, ".benchmarks", "--html", "out.html", "--csv", "out")
    assert code == 0, err
    with (bench_dir.path / "out" / "stability.csv").open() as f:
        rows = sorted((r["lib"], r["run"], r["repeats"]) for r in csv.DictReader(f))
    # builds keep their label; a build in two runs is named by its run
    assert rows == [("onnxruntime", "0002", "2"), ("onnxruntime@a", "0001", "2"),
                    ("onnxruntime@b", "0001", "2"), ("tflite @0001", "0001", "2"), ("tflite @0002", "0002", "2")]
    with (bench_dir.path / "out" / "impact.csv").open() as f:
        [impact] = list(csv.DictReader(f))
    assert impact["build ×"] != "—"  # onnxruntime's three builds are one library's
    with (bench_dir.path / "out" / "variants.csv").open() as f:
        ab = [(r["run"], r["variant"]) for r in csv.DictReader(f)]
    assert ab == [("0001", "onnxruntime@a"), ("0001", "onnxruntime@b")]  # within the run that interleaved them
    assert "onnxruntime@a" in out and "onnxruntime@b" in out

    # a journal (the variant session's), a saved run and records of schema 1 and 2, together
    code, out, err = mobiledl_report(bench_dir.path, str(session), str(saved_runs[1]), str(old), "--csv", "mix")
    assert code == 0, err
    with (bench_dir.path / "mix" / "runs.csv").open() as f:
        legend = {r["file"]: r["run"] for r in csv.DictReader(f)}
    assert legend == {session.name: "r1", saved_runs[1].name: "0002", "old.jsonl": "old"}  # the session's tag: short
    assert "@r1" in out and session.stem not in out.split("Runs:")[0]
    for page in (bench_dir.path / "out.html", bench_dir.path / "session.html"):
        text = page.read_text()
        assert "onnxruntime@b" in text and text.count("data:image/png;base64,") >= 2


def test_a_phones_conditions_reach_the_terminal_and_the_page(bench_dir: pytest.Pytester,
                                                            make_adb_farm: Callable[..., Farm]) -> None:
    farm = make_adb_farm(devices=1)
    farm.devices[0].sysfs.heat(55.0, seconds=600.0, trigger="taskset")  # cool until the run starts, then throttled
    serial = farm.serials[0]
    result = bench_dir.runpytest_subprocess("-p", "no:cacheprovider", "--warmup=1", "--iterations=5",
                                            "--libs=onnxruntime", f"--devices=host,{serial}",
                                            f"--adb-server={farm.server}", "--mobiledl-report=page.html")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines([
        f"mobiledl conditions: {serial}: CPU * → * °C (median before → after; hottest *), lowest clock 0.* of max, "
        "throttled in 1 of 1 runs, hot start in 0 of 1",
        f"mobiledl conditions: {serial} is emulated: latencies of this machine, not of a phone; {serial}, host share "
        "this machine's cores*"])
    page = (bench_dir.path / "page.html").read_text()
    assert 'id="plot-conditions"' in page and 'id="conditions"' in page
    table = page.split('id="conditions"')[1].split("</section>")[0]
    assert serial in table and "1 of 1" in table and ">host<" not in table  # the host reports no state
    environment = page.split('id="environment"')[1]
    assert "LB8000 loopback (emulated on this machine's CPU)" in environment  # ro.soc.model, ro.board.platform
    assert "Android 14 (SDK 34)" in environment


def test_journals_are_read_and_their_header_skipped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    journal(tmp_path / "s1.jsonl", RECORDS[:6])
    journal(tmp_path / "s2.jsonl", RECORDS[:3], header=False)
    code, out, err = report(capsys, str(tmp_path), "--libs=onnxruntime")
    assert code == 0, err
    assert "@s1" in out and "@s2" in out and "tflite" not in out


def test_a_line_cut_short_at_the_end_of_a_journal_is_tolerated(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    path = journal(tmp_path / "s.jsonl", RECORDS[:3])
    path.write_text(path.read_text() + '{"nodeid": "t::x", "record": {"lib": "onnx')
    assert report(capsys, str(path))[0] == 0


def test_the_report_reads_journals_as_resume_does(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pytest_mobiledl import journal as journals

    # A session killed mid-line, then resumed: the resumed session appended after the torn line.
    path = journal(tmp_path / "s.jsonl", RECORDS[:3])
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines[:2], '{"nodeid": "t::x", "outc' + lines[2], *lines[3:]]) + "\n")
    code, _, err = report(capsys, str(path))
    assert code == 0, err
    assert len(journals.read(path).entries) == 3  # the torn line and the one appended to it are skipped
    # A version this reader does not know is refused, as resume refuses it, not read as if it were 1.
    path.write_text(path.read_text().replace('"mobiledl_journal": 1', '"mobiledl_journal": 2', 1))
    code, _, err = report(capsys, str(path))
    assert code == 2 and err.strip() == f"mobiledl report: {path} is not a version 1 mobiledl journal", err


@pytest.mark.parametrize(("make", "expected"), [
    (lambda d: d / "missing.json", "missing.json: no such file or folder"),
    (lambda d: (d / "x.json").write_text('{"hello": 1}') and d / "x.json", "x.json: not a pytest-benchmark run"),
    (lambda d: (d / "x.json").write_text("{nope") and d / "x.json", "x.json: not readable JSON"),
    (lambda d: d, "no saved runs (.json) or journals (.jsonl) of pytest-mobiledl in this folder"),
    (lambda d: (d / "j.jsonl").write_text('{"journal": 1}\n{"lib": 3}\n{}\n') and d / "j.jsonl", "j.jsonl:2: record"),
], ids=["missing", "not-a-run", "not-json", "empty-folder", "bad-journal"])
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], make: object,
                                          expected: str) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    code, out, err = report(capsys, str(path))
    assert code == 2
    assert expected in err and len(err.strip().splitlines()) == 1, err
    assert out == ""


def test_a_filter_that_matches_nothing_names_what_is_there(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = report(capsys, str(journal(tmp_path / "s.jsonl", RECORDS[:3])), "--devices=pixel7")
    assert code == 2
    assert err.strip() == "mobiledl report: --devices: pixel7 not in these runs; they hold host"


def test_filters_that_match_nothing_together_are_one_line(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = journal(tmp_path / "s.jsonl", RECORDS[:6])  # onnxruntime t1, tflite t1: both on model m1
    code, _, err = report(capsys, str(path), "--libs=onnxruntime", "--models=m1", "--devices=host")
    assert code == 0, err
    other = journal(tmp_path / "t.jsonl", [r.with_(model="m2", lib="ncnn") for r in RECORDS[:3]])
    code, _, err = report(capsys, str(path), str(other), "--libs=ncnn", "--models=m1")
    assert code == 2
    assert err.strip() == ("mobiledl report: no case of these runs has all of the --models, --libs and --devices "
                           "asked for together")
