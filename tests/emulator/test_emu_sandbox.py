"""The sandbox a device's commands run in: chroot confinement, cleanup, and the rewrite fallback."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import adbutils
import pytest

from pytest_mobiledl.emulator.farms import Farm
from pytest_mobiledl.emulator.fixtures import require_chroot

TMP = "/data/local/tmp"


def client(farm: Farm) -> adbutils.AdbDevice:
    host, port = farm.host_port
    return adbutils.AdbClient(host=host, port=port).device(farm.serials[0])


def test_symlinks_cannot_lead_a_push_or_pull_out_of_the_device(adb_farm: Farm, tmp_path: Path) -> None:
    require_chroot(adb_farm)
    phone = client(adb_farm)
    phone.shell(f"rm -rf {TMP}/etc {TMP}/bp; ln -s /etc {TMP}/etc; ln -s /system/build.prop {TMP}/bp")
    with pytest.raises(adbutils.AdbError):
        phone.sync.push(b"x", f"{TMP}/etc/mobiledl-escape")
    assert not Path("/etc/mobiledl-escape").exists()
    assert "ro.product.model=Loopback 8" in phone.sync.read_text(f"{TMP}/bp")  # the device's, not the host's


def test_the_chroot_shows_the_host_binaries_read_only_and_hides_the_rest(adb_farm: Farm, tmp_path: Path) -> None:
    require_chroot(adb_farm)
    phone = client(adb_farm)
    assert phone.shell2("touch /usr/mobiledl-x", v2=True).returncode != 0
    (tmp_path / "host-only").touch()
    repo_git = Path(__file__).resolve().parents[2] / ".git"  # the interpreter's prefix is shown, not the repo
    hidden = f"test -e {tmp_path}/host-only || test -e {repo_git} || test -e /home"
    assert phone.shell2(hidden, v2=True).returncode == 1
    assert phone.shell2(f"test -x {sys.executable}", v2=True).returncode == 0
    assert phone.shell("echo $HOME $TMPDIR; id -un; pwd") == f"{TMP} {TMP}\nshell\n/"


def test_closing_the_farm_ends_what_commands_left_running(make_adb_farm: Callable[..., Farm]) -> None:
    farm = make_adb_farm(devices=1)
    require_chroot(farm)
    phone = client(farm)
    phone.shell(f"setsid sleep 300 </dev/null >/dev/null 2>&1 & echo $! > {TMP}/bg")
    pid = int(phone.sync.read_text(f"{TMP}/bg"))
    assert _running(pid)
    base = farm.devices[0].sandbox.layout.base
    farm.close()
    deadline = time.monotonic() + 3
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _running(pid)
    assert not base.exists()
    assert str(base) not in Path("/proc/self/mountinfo").read_text()


def test_rewrite_fallback_runs_device_paths_in_the_folder(make_adb_farm: Callable[..., Farm]) -> None:
    farm = make_adb_farm(devices=1, sandbox="rewrite")
    phone = client(farm)
    assert farm.devices[0].sandbox.mode == "rewrite"
    # Only the command line is rewritten, so paths reach a pushed program as arguments.
    script = b"import sys\nopen(sys.argv[2], 'w').write(open(sys.argv[1]).readline().split()[1] + '\\n')\n"
    phone.sync.push(script, f"{TMP}/mem.py")
    command = f"cd {TMP} && {sys.executable} mem.py /proc/meminfo {TMP}/mem.txt; getprop ro.product.model"
    result = phone.shell2(command, v2=True)
    assert (result.stdout, result.returncode) == ("Loopback 8\n", 0)
    assert phone.sync.read_text(f"{TMP}/mem.txt") == f"{8 * 1024 * 1024}\n"  # the device's meminfo, not the host's
    assert phone.shell("cat /sys/devices/system/cpu/possible; nproc") == "0-7\n8"
    assert phone.sync.stat(f"{TMP}/mem.txt").size == len(f"{8 * 1024 * 1024}\n")
    assert os.path.exists(farm.devices[0].sandbox.layout.host(f"{TMP}/mem.txt"))


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False
