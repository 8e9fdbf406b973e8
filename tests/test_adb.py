"""The ADB path for real: the real adb server, loopback devices, pushes, runs and stored results."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import adbutils
import pytest

from pytest_mobiledl.devices.adb import FILES, AdbDevice, _Cksum, _send, discover, parse_servers
from pytest_mobiledl.emulator import Farm
from pytest_mobiledl.errors import RunnerError

RUN = ["-p", "no:cacheprovider", "--warmup=2", "--iterations=10", "--libs=onnxruntime,tflite"]
SAMPLES = Path(__file__).parents[1] / "native_runners"


def devices(farm: Farm) -> dict[str, AdbDevice]:
    return discover(parse_servers(farm.server))


def test_device_facts_come_from_props_and_sys(adb_farm: Farm) -> None:
    facts = devices(adb_farm)[adb_farm.serials[0]].info()
    assert (facts["manufacturer"], facts["model"], facts["abi"], facts["sdk"]) == ("MobileDL", "Loopback 8",
                                                                                  "x86_64", "34")
    assert facts["cores"] == 8 and facts["cpu_max_khz"] == [1800000] * 4 + [2400000] * 4
    assert facts["mem_total_mb"] == 8192 and facts["adb_server"] == adb_farm.server


def test_two_emulated_devices_end_to_end(bench_dir: pytest.Pytester, adb_farm: Farm) -> None:
    result = bench_dir.runpytest_subprocess(*RUN, "--devices=all", f"--adb-server={adb_farm.server}",
                                            "--benchmark-autosave")
    result.assert_outcomes(passed=6)
    [run] = [json.loads(p.read_text()) for p in bench_dir.path.glob(".benchmarks/*/*.json")]
    assert set(run["machine_info"]["mobiledl_devices"]) == {"host", *adb_farm.serials}
    for bench in run["benchmarks"]:
        device = bench["extra_info"]["device"]
        assert bench["param"].startswith(device["serial"] + "-")
        assert bench["stats"]["rounds"] == 10
        if device["serial"] != "host":
            assert device["model"] == "Loopback 8" and device["cores"] == 8


def remote_files(farm: Farm) -> dict[str, str]:
    phone = adbutils.AdbClient(*farm.host_port).device(farm.serials[0])
    listing = phone.shell2(f"find {FILES} -type f -exec stat -c '%n %Y %i' {{}} +", v2=True).stdout
    return dict(line.split(" ", 1) for line in listing.splitlines())


def test_a_second_run_pushes_nothing(bench_dir: pytest.Pytester, adb_farm: Farm) -> None:
    args = [*RUN, f"--devices={adb_farm.serials[0]}", f"--adb-server={adb_farm.server}"]
    bench_dir.runpytest_subprocess(*args).assert_outcomes(passed=2)
    before = remote_files(adb_farm)
    assert any(name.endswith("mobiledl-runner.pyz") for name in before)
    bench_dir.runpytest_subprocess(*args).assert_outcomes(passed=2)
    assert remote_files(adb_farm) == before  # same files, same mtimes and inodes: nothing pushed


def test_session_folder_is_removed_at_the_end(bench_dir: pytest.Pytester, adb_farm: Farm) -> None:
    bench_dir.runpytest_subprocess(*RUN, f"--devices={adb_farm.serials[1]}", f"--adb-server={adb_farm.server}",
                                   "--libs=tflite").assert_outcomes(passed=1)
    phone = adbutils.AdbClient(*adb_farm.host_port).device(adb_farm.serials[1])
    assert "session-" not in phone.shell2("ls /data/local/tmp/mobiledl", v2=True).stdout


# The real tools are arm64 only; these stand-ins replay a recorded output, so what is tested is
# the plugin's side: the runner folder and model deployed, the argv, the parse, record, storage.
STAND_INS = {
    "tflite": ("benchmark_model", 'cat "$(dirname "$0")/recorded.txt"'),
    # benchncnn names the model it read: replay the line with the .param path it was given.
    "ncnn": ("benchncnn", 'p=$(for a in "$@"; do case $a in param=*) echo "${a#param=}";; esac; done)\n'
                          'test -s "$p" && test -s "${p%.param}.bin" || exit 9\n'
                          'sed "s|^/data/local/tmp/mobiledl/models/mobilenet_v2.param|$p|" '
                          '"$(dirname "$0")/recorded.txt" >&2'),
}


@pytest.mark.parametrize(("lib", "precision", "mean_ms"), [("tflite", "fp32", 9.92148), ("ncnn", "fp16", 12.21)])
def test_native_tool_path_deploys_runs_and_parses(bench_dir: pytest.Pytester, adb_farm: Farm, lib: str,
                                                  precision: str, mean_ms: float) -> None:
    binary, body = STAND_INS[lib]
    tool = bench_dir.path / "runners" / lib
    tool.mkdir(parents=True)
    (tool / "recorded.txt").write_text((SAMPLES / lib / "samples" / "cpu_4threads.txt").read_text())
    (tool / "VERSION").write_text("1.2.3\n")
    (tool / binary).write_text(f"#!/system/bin/sh\n{body}\n")
    (tool / binary).chmod(0o755)
    result = bench_dir.runpytest_subprocess("-p", "no:cacheprovider", f"--libs={lib}", f"--precisions={precision}",
                                            "--threads=4", "--warmup=5", "--iterations=50",
                                            f"--devices={adb_farm.serials[0]}", f"--adb-server={adb_farm.server}",
                                            # The recordings were made on all cores (benchncnn powersave = 0).
                                            "--cores=all", f"--runner-dir={tool.parent}", "--benchmark-json=out.json")
    result.assert_outcomes(passed=1)
    [bench] = json.loads((bench_dir.path / "out.json").read_text())["benchmarks"]
    extra = bench["extra_info"]
    assert extra["lib_version"] == "1.2.3" and "min_max_avg_only" in extra["flags"]
    assert extra["summary_ms"]["mean"] == pytest.approx(mean_ms)
    assert bench["stats"]["iterations"] == 50 and bench["stats"]["mean"] == pytest.approx(mean_ms / 1000)


def test_missing_native_runner_on_a_phone_is_a_skip_naming_the_file(bench_dir: pytest.Pytester,
                                                                     make_adb_farm: object) -> None:
    from pytest_mobiledl.emulator import DeviceProps

    arm_phone = DeviceProps().with_properties({"ro.product.cpu.abilist": "arm64-v8a,armeabi-v7a"})
    farm = make_adb_farm(devices=1, props=arm_phone)  # type: ignore[operator]
    result = bench_dir.runpytest_subprocess(*RUN, f"--devices={farm.serials[0]}", f"--adb-server={farm.server}",
                                            "--runner-dir=/nowhere", "-rs")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["*no onnxruntime runner: expected /nowhere/onnxruntime/onnxruntime_perf_test "
                                 "(see native_runners/onnxruntime/README.md)*"])


def test_failed_push_is_one_line_and_other_devices_go_on(bench_dir: pytest.Pytester,
                                                         make_adb_farm: object) -> None:
    farm = make_adb_farm(devices=2)  # type: ignore[operator]
    farm.devices[0].faults.push_error = "No space left on device"
    result = bench_dir.runpytest_subprocess(*RUN, "--libs=tflite", f"--devices={','.join(farm.serials)}",
                                            f"--adb-server={farm.server}")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([f"*{farm.serials[0]} tflite: push of * to {farm.serials[0]} failed: "
                                 "No space left on device"])
    result.stdout.no_fnmatch_line("*Traceback*")


def test_runner_timeout_on_a_device_kills_the_run(bench_dir: pytest.Pytester, adb_farm: Farm) -> None:
    serial = adb_farm.serials[1]
    result = bench_dir.runpytest_subprocess(*RUN, "--libs=tflite", f"--devices={serial}",
                                            f"--adb-server={adb_farm.server}", "--mobiledl-delay-ms=1000",
                                            "--runner-timeout=3")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"*{serial} tflite: runner timed out after 3 s on {serial} (--runner-timeout)*"])
    processes = adbutils.AdbClient(*adb_farm.host_port).device(serial).shell2("ps -ef", v2=True).stdout
    assert not re.search(r"mobiledl-runner\.pyz .*--delay-ms 1000", processes)  # killed, not orphaned


@pytest.mark.parametrize(("args", "message"), [
    (["--devices=all", "--adb-server=127.0.0.1:9"], "*--devices: no adb server answers at 127.0.0.1:9*"),
    (["--devices=SERIAL404"], "*--devices: no device SERIAL404 on *; available: all, host, *"),
])
def test_device_errors_are_one_usage_line(bench_dir: pytest.Pytester, adb_farm: Farm, args: list[str],
                                          message: str) -> None:
    extra = [] if any(a.startswith("--adb-server") for a in args) else [f"--adb-server={adb_farm.server}"]
    result = bench_dir.runpytest_subprocess("--collect-only", *args, *extra)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_a_push_that_arrives_altered_is_refused(adb_farm: Farm, tmp_path: Path) -> None:
    device = devices(adb_farm)[adb_farm.serials[0]]
    local = tmp_path / "model.bin"
    local.write_bytes(b"\x01" * 50000)
    staging, folder = f"{FILES}/altered-test.part", f"{FILES}/altered-test"
    try:
        for altered in (False, True):
            with device._transport("sync:") as conn:
                sums = {"model.bin": _send(conn, local, f"{staging}/model.bin")}
            if not altered:
                device._commit(staging, folder, sums)  # as sent: accepted, under its name
                assert device.shell(f"test -f {folder}/model.bin").returncode == 0
                continue
            device.shell(f"printf x | dd of={staging}/model.bin bs=1 seek=100 conv=notrunc")  # one byte differs
            with pytest.raises(RunnerError, match=r"model\.bin arrived altered"):
                device._commit(staging, f"{folder}-2", sums)
            assert device.shell(f"test -e {folder}-2").returncode != 0  # never given its name
    finally:
        device.shell(f"rm -rf {staging} {folder} {folder}-2")


def test_the_same_bytes_under_two_names_land_as_two_files(adb_farm: Farm, tmp_path: Path) -> None:
    """A user's copy of a cached model (another name, the same bytes) was sought in the first
    one's folder and moved inside it: the runner then found no file under its own name."""
    device = devices(adb_farm)[adb_farm.serials[0]]
    content = os.urandom(4096)
    first, second = tmp_path / "model.onnx", tmp_path / "my model $HOME.onnx"
    for path in (first, second):
        path.write_bytes(content)
    remotes = [device.deploy(path) for path in (first, second)]
    assert remotes[0] != remotes[1]
    for remote, path in zip(remotes, (first, second), strict=True):
        assert remote.endswith("/" + path.name)
        assert device.shell(f"cksum < {shlex.quote(remote)}").stdout.split()[1] == "4096"
    folder = remotes[1].rsplit("/", 1)[0]
    assert device.shell(f"ls -A {shlex.quote(folder)}").stdout.splitlines() == [second.name]


def test_a_push_that_lands_second_leaves_the_first_in_place(adb_farm: Farm, tmp_path: Path) -> None:
    """Two sessions pushing the same file at once: the folder the first one renamed into place
    stays as it is, and the second's staging goes (``mv`` would move it inside the folder)."""
    device = devices(adb_farm)[adb_farm.serials[0]]
    local = tmp_path / "model.bin"
    local.write_bytes(b"\x02" * 1000)
    folder = f"{FILES}/raced-test"
    try:
        for n in (1, 2):
            staging = f"{FILES}/raced-test.{n}.part"
            with device._transport("sync:") as conn:
                sums = {"model.bin": _send(conn, local, f"{staging}/model.bin")}
            device._commit(staging, folder, sums)
        assert device.shell(f"ls -A {folder}").stdout.split() == ["model.bin"]
        assert device.shell(f"ls -d {FILES}/raced-test.*.part").returncode != 0
    finally:
        device.shell(f"rm -rf {folder} {FILES}/raced-test.*.part")


def test_posix_cksum_as_the_bytes_go_by(tmp_path: Path) -> None:
    """The host's CRC is what coreutils' and toybox's ``cksum`` print, whatever the chunking."""
    if not shutil.which("cksum"):
        pytest.skip("no cksum on this machine")
    for size in (0, 1, 255, 256, 65536 * 3 + 7):
        data = os.urandom(size)
        (tmp_path / "f").write_bytes(data)
        check = _Cksum()
        for start in range(0, max(size, 1), 1000):
            check.update(data[start:start + 1000])
        assert f"{check.value()} {check.size}" == " ".join(
            subprocess.run(["cksum", str(tmp_path / "f")], capture_output=True, text=True).stdout.split()[:2])
