"""Loopback devices through the real adb server, driven by adbutils and the adb CLI."""

from __future__ import annotations

import concurrent.futures
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import adbutils
import pytest

from pytest_mobiledl.emulator.farms import Farm
from pytest_mobiledl.emulator.fixtures import require_chroot

TMP = "/data/local/tmp"


def adb(farm: Farm, *args: str, data: bytes | None = None) -> bytes:
    """The adb CLI against the farm's private server."""
    result = subprocess.run(
        [farm.adb_path, *args],
        input=data,
        capture_output=True,
        env={**os.environ, **farm.adb_env},
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout


@pytest.fixture(scope="module")
def phone(adb_farm: Farm, adb_client: adbutils.AdbClient) -> adbutils.AdbDevice:
    return adb_client.device(adb_farm.serials[0])


def test_adb_devices_shows_each_device_with_its_product(adb_farm: Farm) -> None:
    listing = adb(adb_farm, "devices", "-l").decode()
    for serial in adb_farm.serials:
        line = next(row for row in listing.splitlines() if row.startswith(serial))
        assert line.split()[1:4] == ["device", "product:loopback", "model:Loopback_8"]
        assert "device:loopback" in line


def test_shell_v2_returns_stdout_stderr_and_exit_code(phone: adbutils.AdbDevice) -> None:
    result = phone.shell2("echo out; echo err >&2; exit 3", v2=True)
    assert (result.stdout, result.stderr, result.returncode) == ("out\n", "err\n", 3)


def test_shell_v1_merges_stderr_and_gives_no_exit_code_of_its_own(phone: adbutils.AdbDevice) -> None:
    assert phone.shell("echo a; echo b >&2") == "a\nb"
    assert phone.shell2("(exit 4)").returncode == 4  # adbutils' v1 trick: it echoes $? itself


def test_shell_stdin_reaches_the_command(adb_farm: Farm) -> None:
    assert adb(adb_farm, "-s", adb_farm.serials[0], "shell", "cat", data=b"through stdin") == b"through stdin"


def test_device_facts_as_the_device_layer_reads_them(phone: adbutils.AdbDevice) -> None:
    props = {
        key: phone.shell(f"getprop {key}")
        for key in (
            "ro.product.manufacturer",
            "ro.product.model",
            "ro.board.platform",
            "ro.soc.model",
            "ro.product.cpu.abilist",
            "ro.build.version.sdk",
            "ro.build.version.release",
        )
    }
    assert props["ro.product.model"] == "Loopback 8" and props["ro.product.cpu.abilist"] == "x86_64"
    assert all(props.values())
    assert phone.prop.model == "Loopback 8"  # adbutils' own reader
    assert "[ro.build.version.sdk]: [34]" in phone.shell("getprop")
    # Parse the core number from the end of each line: a rewrite-mode device prints its folder.
    listing = phone.shell("grep -H . /sys/devices/system/cpu/cpu*/cpufreq/cpuinfo_max_freq")
    clocks = dict(re.findall(r"cpu(\d+)/cpufreq/cpuinfo_max_freq:(\d+)$", listing, re.MULTILINE))
    assert [int(clocks[str(core)]) for core in range(8)] == [1800000] * 4 + [2400000] * 4
    assert phone.shell("cat /sys/devices/system/cpu/possible") == "0-7"
    assert phone.shell("nproc") == "8"
    assert phone.shell("grep MemTotal /proc/meminfo").split() == ["MemTotal:", str(8 * 1024 * 1024), "kB"]


def test_push_pull_round_trip_of_5_mib(phone: adbutils.AdbDevice, tmp_path: Path) -> None:
    blob = os.urandom(5 * 1024 * 1024)
    assert phone.sync.push(blob, f"{TMP}/roundtrip/blob.bin", 0o644) == len(blob)
    phone.sync.pull(f"{TMP}/roundtrip/blob.bin", tmp_path / "back.bin")
    assert (tmp_path / "back.bin").read_bytes() == blob
    info = phone.sync.stat(f"{TMP}/roundtrip/blob.bin")
    assert (info.size, info.mode & 0o777) == (len(blob), 0o644)
    assert "blob.bin" in [entry.path for entry in phone.sync.list(f"{TMP}/roundtrip")]
    assert not phone.sync.exists(f"{TMP}/roundtrip/missing")


def test_pushed_files_belong_to_the_shell_user(adb_farm: Farm, phone: adbutils.AdbDevice) -> None:
    require_chroot(adb_farm)
    phone.sync.push(b"x", f"{TMP}/owned/deep/file", 0o600)
    assert phone.shell(f"stat -c '%u:%g %a' {TMP}/owned/deep/file {TMP}/owned/deep {TMP}") == (
        "2000:2000 600\n2000:2000 775\n2000:2000 771"
    )
    assert phone.shell("id -u; stat -c %a /") == "2000\n755"


def test_push_outside_data_local_tmp_is_refused(phone: adbutils.AdbDevice) -> None:
    with pytest.raises(adbutils.AdbError):
        phone.sync.push(b"x", "/system/bin/evil")
    assert not phone.sync.exists("/system/bin/evil")


def test_runs_an_x86_64_program(phone: adbutils.AdbDevice) -> None:
    program = Path("/usr/bin/expr").read_bytes()
    assert program[:4] == b"\x7fELF" and program[18] == 62  # e_machine: x86-64
    phone.sync.push(program, f"{TMP}/expr", 0o755)
    result = phone.shell2(f"{TMP}/expr 6 '*' 7", v2=True)
    assert (result.stdout, result.returncode) == ("42\n", 0)


@pytest.mark.parametrize("interpreter", [sys.executable, "/usr/bin/python3"])
def test_a_pushed_python_script_writes_to_data_local_tmp(phone: adbutils.AdbDevice, interpreter: str) -> None:
    if not os.path.exists(interpreter):
        pytest.skip(f"{interpreter} not on this machine")
    script = "import os, sys\nopen(sys.argv[1], 'w').write(f'{os.getuid()} {sys.version_info[0]}')\n"
    phone.sync.push(script.encode(), f"{TMP}/runner.py", 0o644)
    result = phone.shell2(f"{interpreter} {TMP}/runner.py {TMP}/out.txt", v2=True)
    assert result.returncode == 0, result.stderr
    uid, major = phone.sync.read_text(f"{TMP}/out.txt").split()
    assert major == "3" and uid in ("2000", str(os.getuid()))


def test_a_timeout_kills_the_remote_process_group(phone: adbutils.AdbDevice) -> None:
    script = f"sleep 60 & echo $! > {TMP}/child; echo $$ > {TMP}/parent; wait"
    with pytest.raises(adbutils.AdbTimeout):
        phone.shell2(script, timeout=0.5, v2=True)
    pids = [int(phone.sync.read_text(f"{TMP}/{name}")) for name in ("parent", "child")]
    deadline = time.monotonic() + 3
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not any(_alive(pid) for pid in pids)


def test_two_devices_work_at_once(adb_farm: Farm, adb_client: adbutils.AdbClient) -> None:
    def run(serial: str) -> list[str]:
        script = "date +%s.%N; sleep 1; date +%s.%N; getprop ro.serialno"
        return str(adb_client.device(serial).shell2(script, v2=True).stdout).split()

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        (start0, end0, first), (start1, end1, second) = pool.map(run, adb_farm.serials)
    # The devices' own clocks: their seconds overlapped (served one after the other, they could not)
    assert max(float(start0), float(start1)) < min(float(end0), float(end1))
    assert [first, second] == ["LOOPBACK0000", "LOOPBACK0001"]


def test_exec_out_is_raw_bytes(adb_farm: Farm, phone: adbutils.AdbDevice) -> None:
    blob = bytes(range(256)) * 300
    phone.sync.push(blob, f"{TMP}/raw.bin")
    assert adb(adb_farm, "-s", adb_farm.serials[0], "exec-out", f"cat {TMP}/raw.bin") == blob


def test_an_unknown_service_is_refused(phone: adbutils.AdbDevice) -> None:
    with phone.open_transport() as connection:
        connection.send_command("no-such-service:")
        with pytest.raises(adbutils.AdbError):
            connection.check_okay()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False
