"""The fault matrix through the loopback emulator and the real adb server.

Each fault is injected into a running session: the items it hits fail with one line naming
device, library and cause; the others go on; nothing finished is lost (the journal holds it).
Also in the matrix, elsewhere: a failed push (test_adb.py), a runner past its timeout
(test_adb.py), a killed xdist worker (test_xdist_devices.py), SIGINT/SIGTERM/SIGKILL then resume
(test_journal.py, test_interrupts.py), a corrupted cached artifact (test_cache_integrity.py).

Issue 19's faults, each a test: a full model cache, benchmark storage or report disk (here); a
full journal disk, and a resume with other settings (test_journal.py); a gate whose baseline is
missing, half-written, damaged-newest or partial, and the partial run an interrupted session
saves (test_storage.py, test_bad_inputs.py); an artifact damaged mid-session, whose repeat fails
and is stored nowhere (test_cache_integrity.py); repeats that ran differently (test_storage.py);
the runner's temp folder after a session (test_variants.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import adbutils
import pytest

from pytest_mobiledl import journal
from pytest_mobiledl.devices.adb import ROOT, listening
from pytest_mobiledl.emulator import Farm

pytestmark = pytest.mark.slow

#: An odd delay marks this process's runners among the machine's (xdist runs tests side by side).
MARK = f"{400 + os.getpid() % 1000 / 1000:g}"
#: A device run of ~20 × 400 ms.
LONG = ["-p", "no:cacheprovider", "--libs=tflite", "--warmup=0", "--iterations=20", f"--mobiledl-delay-ms={MARK}"]


def processes(match: Callable[[list[bytes]], bool]) -> list[int]:
    """Pids of this machine's processes whose argv ``match`` accepts."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if proc.name.isdigit() and match(argv):
            found.append(int(proc.name))
    return found


def device_runners() -> list[int]:
    # The interpreter running the runner, or a block's coordinator (``--block SPEC``: the mark is
    # inside the spec's JSON); the on-device clock sampler (a background subshell of the `sh -c`
    # that starts the run) carries the same arguments but is no run.
    return processes(lambda argv: b"python" in Path(argv[0].decode(errors="replace")).name.encode()
                     and any(a.endswith(b"mobiledl-runner.pyz") for a in argv)
                     and any(marked(a) for a in argv))


def marked(arg: bytes) -> bool:
    """This process's mark, whole: a runner's argument, or a string in a block's JSON spec. A
    substring would do wrong under xdist: another worker's 400.123 holds this one's 400.12, and its
    runner would set this test's fault off before this test's own device run began."""
    return arg == MARK.encode() or f'"{MARK}"'.encode() in arg


def test_the_mark_is_matched_whole() -> None:
    spec = json.dumps({"argvs": [["python", "mobiledl-runner.pyz", "--delay-ms", MARK]]}).encode()
    assert marked(MARK.encode()) and marked(spec)
    assert not marked(MARK.encode() + b"1") and not marked(spec.replace(MARK.encode(), MARK.encode() + b"1"))


def wait_for(condition: Callable[[], object], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def session(bench_dir: pytest.Pytester, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "pytest", *args], cwd=bench_dir.path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def finish(proc: subprocess.Popen[str], timeout: float = 180) -> pytest.LineMatcher:
    out, _ = proc.communicate(timeout=timeout)
    return pytest.LineMatcher(out.splitlines())


def outcome(output: pytest.LineMatcher, **counts: int) -> None:
    last = output.lines[-1]
    for word, n in counts.items():
        assert f"{n} {word}" in last, output.str()[-3000:]
    assert "Traceback" not in output.str(), output.str()[-3000:]


def kept(bench_dir: pytest.Pytester) -> set[str]:
    found: set[str] = set()
    for path in (bench_dir.path / ".benchmarks" / journal.FOLDER).glob("*.jsonl"):
        found |= journal.read(path).kept
    return found


def inject_mid_run(bench_dir: pytest.Pytester, farm: Farm, fault: Callable[[], object],
                   *extra: str) -> pytest.LineMatcher:
    """Host and one device; the fault strikes while the device's runner runs."""
    proc = session(bench_dir, *LONG, f"--devices=host,{farm.serials[0]}", f"--adb-server={farm.server}", *extra)
    try:
        assert wait_for(device_runners, 120), "the device runner never started"
        fault()
        return finish(proc)
    finally:
        proc.kill()


def test_a_device_dropped_mid_run_fails_its_item_and_the_host_goes_on(bench_dir: pytest.Pytester,
                                                                      make_adb_farm: Callable[..., Farm]) -> None:
    farm = make_adb_farm(devices=1)
    device = farm.devices[0]

    def unplug() -> None:
        device.faults.offline = True
        device.drop()

    output = inject_mid_run(bench_dir, farm, unplug)
    outcome(output, passed=1, failed=1)
    output.fnmatch_lines([f"*{farm.serials[0]} tflite: lost {farm.serials[0]} while running: *"])
    output.no_fnmatch_line("*Expected * bytes, got *")
    assert any(nodeid.endswith("[host-tflite-tiny_cnn-cpu-fp32-t1]") for nodeid in kept(bench_dir))


def test_a_killed_device_runner_is_one_line(bench_dir: pytest.Pytester, make_adb_farm: Callable[..., Farm]) -> None:
    farm = make_adb_farm(devices=1)
    output = inject_mid_run(bench_dir, farm, farm.devices[0].kill_commands)
    outcome(output, passed=1, failed=1)
    output.fnmatch_lines([f"*{farm.serials[0]} tflite: runner was killed (SIGKILL) mid-run*"])


def adb_server_pids(port: int) -> list[int]:
    # the farm's `adb -P PORT server nodaemon`, or one adbutils started: `adb -L tcp:PORT fork-server …`
    return processes(lambda argv: b"server" in argv
                     and any(a == str(port).encode() or a.endswith(f":{port}".encode()) for a in argv))


def test_a_dead_adb_server_fails_its_devices_items_and_none_is_started(bench_dir: pytest.Pytester,
                                                                       make_adb_farm: Callable[..., Farm]) -> None:
    farm = make_adb_farm(devices=1)
    host, port = farm.host_port
    [server] = adb_server_pids(port)
    output = inject_mid_run(bench_dir, farm, lambda: os.kill(server, signal.SIGKILL), "--threads=1,2")
    outcome(output, passed=2, failed=2)
    # The device's two cases (t1, t2) ran as one lockstep block: both were running when it went.
    lost = f"{farm.serials[0]} tflite: lost {farm.serials[0]} while running: the adb server {farm.server} went away"
    assert sum(line.strip() == lost for line in output.lines) == 2, "\n".join(output.lines[-40:])
    assert not listening(host, port), "an adb server was started as a side effect"
    assert adb_server_pids(port) == []


def test_two_sessions_never_run_on_one_phone_at_once(bench_dir: pytest.Pytester, adb_farm: Farm) -> None:
    serial = adb_farm.serials[0]
    # ~18 s of runs: longer than the second session's bound (its --runner-timeout + lock.GRACE_S).
    first = session(bench_dir, *LONG, "--iterations=45", f"--devices={serial}", f"--adb-server={adb_farm.server}")
    try:
        assert wait_for(device_runners, 120), "the first session's runner never started"
        # The second waits its bound (--runner-timeout + grace) while the first holds the phone.
        second = bench_dir.runpytest_subprocess("-p", "no:cacheprovider", "--libs=tflite", "--threads=1,2",
                                                "--iterations=2", "--runner-timeout=1", f"--devices={serial}",
                                                f"--adb-server={adb_farm.server}")
        assert len(device_runners()) <= 1
        second.assert_outcomes(failed=2)
        second.stdout.fnmatch_lines([f"*{serial} tflite: {serial} is busy: another pytest-mobiledl session kept "
                                     "it for * s (one run per phone at a time; lock *)"])
        outcome(finish(first), passed=1)
    finally:
        first.kill()
    phone = adbutils.AdbClient(*adb_farm.host_port).device(serial)
    assert ".part" not in phone.shell2(f"find {ROOT}", v2=True).stdout


def test_a_full_model_cache_disk_fails_in_one_line_and_the_next_run_converts(bench_dir: pytest.Pytester,
                                                                             full_disk: Path) -> None:
    args = ["-p", "no:cacheprovider", "--libs=onnxruntime", "--iterations=2", f"--model-cache={full_disk}/models"]
    result = bench_dir.runpytest_subprocess(*args, "-rsf")
    result.assert_outcomes(failed=1)  # the machine's problem: never a skip, as if the library could not convert
    result.stdout.fnmatch_lines([f"*host onnxruntime: no space left on the disk of {full_disk}/models/tiny_cnn: "
                                 "0.0 MB free there; free some space (nothing half-written was kept)"])
    result.stdout.no_fnmatch_line("*Traceback*")
    assert not [p for p in (full_disk / "models").rglob("*") if p.is_file() and not p.name.endswith(".lock")]
    (full_disk / "filler").unlink()
    bench_dir.runpytest_subprocess(*args).assert_outcomes(passed=1)


def test_a_full_storage_disk_fails_in_one_line_leaves_nothing_half_written_and_the_next_run_saves(
        bench_dir: pytest.Pytester, full_disk: Path) -> None:
    storage = full_disk / "bench"
    (storage / journal.FOLDER).mkdir(parents=True)
    args = ["-p", "no:cacheprovider", "--libs=onnxruntime", "--iterations=2", f"--benchmark-storage=file://{storage}",
            "--benchmark-autosave", f"--benchmark-json={full_disk}/out.json"]
    result = bench_dir.runpytest_subprocess(*args)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([f"mobiledl: the journal stopped: no space left on the disk of {storage}/*",
                                 f"mobiledl: the run was not saved: no space left on the disk of {full_disk}/out.json: "
                                 "* MB to write, 0.0 MB free there; *",
                                 f"mobiledl: the run was not saved: no space left on the disk of {storage}/*/"
                                 "0001_*.json: * MB to write, 0.0 MB free there; *"])
    assert "INTERNALERROR" not in result.stdout.str() and "Traceback" not in result.stdout.str()
    assert sorted(p.name for p in full_disk.rglob("*") if p.is_file()) == ["filler"]  # nothing half-written
    (full_disk / "filler").unlink()
    result = bench_dir.runpytest_subprocess(*args)
    assert result.ret == pytest.ExitCode.OK
    assert json.loads(next(storage.glob("*/0001_*.json")).read_text())["mobiledl"]["partial"] is False
    assert len(kept_in(storage)) == 1  # its journal too


def kept_in(storage: Path) -> set[str]:
    return {n for p in (storage / journal.FOLDER).glob("*.jsonl") for n in journal.read(p).kept}


def test_a_report_on_a_full_disk_is_one_line_and_leaves_no_file(full_disk: Path, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from test_report_analyses import RECORDS
    from test_report_cli import journal as write_journal

    from pytest_mobiledl import cli

    source = write_journal(tmp_path / "s.jsonl", RECORDS[:3])
    for option, target in (("--html", full_disk / "r.html"), ("--csv", full_disk / "csv")):
        code = cli.main(["report", str(source), option, str(target)])
        err = capsys.readouterr().err
        assert code == 1 and len(err.strip().splitlines()) == 1, err
        assert err.startswith(f"mobiledl report: no space left on the disk of {full_disk}"), err
        assert not [p for p in full_disk.rglob("*") if p.is_file() and p.name != "filler"]
    (full_disk / "filler").unlink()
    assert cli.main(["report", str(source), "--html", str(full_disk / "r.html")]) == 0


def test_a_phone_locked_from_another_machine_fails_the_item_in_one_line_and_a_stale_lock_is_taken(
        bench_dir: pytest.Pytester, adb_farm: Farm) -> None:
    serial = adb_farm.serials[1]
    phone = adbutils.AdbClient(*adb_farm.host_port).device(serial)
    args = ["-p", "no:cacheprovider", "--libs=tflite", "--iterations=2", "--runner-timeout=1", f"--devices={serial}",
            f"--adb-server={adb_farm.server}"]
    phone.shell2(f"mkdir -p {ROOT}/lock && echo $(($(date +%s) + 600)) > {ROOT}/lock/until && "
                 f"echo otherhost:1:x > {ROOT}/lock/owner", v2=True)
    try:
        result = bench_dir.runpytest_subprocess(*args)
        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines([f"*{serial} tflite: {serial} is busy: a session on another machine holds "
                                     f"{ROOT}/lock (one run per phone at a time)"])
        phone.shell2(f"echo 0 > {ROOT}/lock/until", v2=True)  # its holder's time is up: overtaken
        bench_dir.runpytest_subprocess(*args[:-2], "--runner-timeout=60", *args[-2:]).assert_outcomes(passed=1)
        assert "lock" not in phone.shell2(f"ls {ROOT}", v2=True).stdout
    finally:
        phone.shell2(f"rm -rf {ROOT}/lock", v2=True)


def test_a_killed_session_leaves_no_runner_on_the_phone_after_the_next(
        bench_dir: pytest.Pytester, make_adb_farm: Callable[..., Farm]) -> None:
    farm = make_adb_farm(devices=1)  # its own: the killed session's folder stays on the phone
    args = [f"--devices={farm.serials[0]}", f"--adb-server={farm.server}"]
    proc = session(bench_dir, *LONG, "--iterations=100", *args)
    try:
        assert wait_for(device_runners, 120), "the device runner never started"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        proc.kill()
    # Its lock (held by a process of this machine that is gone) and its runner are taken over.
    bench_dir.runpytest_subprocess("-p", "no:cacheprovider", "--libs=tflite", "--iterations=2", "--runner-timeout=60",
                                   *args).assert_outcomes(passed=1)
    assert wait_for(lambda: not device_runners(), 10), "the killed session's runner still runs on the phone"
