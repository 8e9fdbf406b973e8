"""Each fault hook, seen by an adbutils client as the error it would get from a phone."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import adbutils
import pytest

from pytest_mobiledl.emulator.farms import Farm

TMP = "/data/local/tmp"


@pytest.fixture
def farm(make_adb_farm: Callable[..., Farm]) -> Farm:
    return make_adb_farm(devices=1)  # its own farm: faults and drops stay out of other tests


@pytest.fixture
def phone(farm: Farm) -> adbutils.AdbDevice:
    host, port = farm.host_port
    return adbutils.AdbClient(host=host, port=port).device(farm.serials[0])


def later(seconds: float, action: Callable[[], object]) -> threading.Timer:
    timer = threading.Timer(seconds, action)
    timer.start()
    return timer


def test_open_delay_makes_a_short_client_timeout_expire(farm: Farm, phone: adbutils.AdbDevice) -> None:
    farm.devices[0].faults.open_delay_s = 3.0
    started = time.monotonic()
    with pytest.raises(adbutils.AdbTimeout):
        phone.shell2("echo late", timeout=0.3, v2=True)
    assert time.monotonic() - started < 2.5  # the client's 0.3 s, not the device's 3 s (margin for a loaded CI)
    farm.devices[0].faults.open_delay_s = 0.0
    assert phone.shell2("echo on time", v2=True).stdout == "on time\n"


def test_push_error_fails_the_push_and_leaves_no_file(farm: Farm, phone: adbutils.AdbDevice) -> None:
    farm.devices[0].faults.push_error = "No space left on device"
    with pytest.raises(adbutils.AdbError, match="FAIL"):
        phone.sync.push(b"payload", f"{TMP}/full.bin")
    assert not phone.sync.exists(f"{TMP}/full.bin")
    farm.devices[0].faults.clear()
    phone.sync.push(b"payload", f"{TMP}/full.bin")
    assert phone.sync.read_bytes(f"{TMP}/full.bin") == b"payload"


def test_kill_commands_ends_a_running_command_as_killed(farm: Farm, phone: adbutils.AdbDevice) -> None:
    later(0.3, farm.devices[0].kill_commands)
    result = phone.shell2("sleep 30", timeout=10, v2=True)
    assert result.returncode == 137  # 128 + SIGKILL, as sh reports it


def test_drop_cuts_a_running_command_and_the_device_comes_back(farm: Farm, phone: adbutils.AdbDevice) -> None:
    later(0.3, farm.devices[0].drop)
    with pytest.raises((EOFError, adbutils.AdbError)):
        phone.shell2(f"echo $$ > {TMP}/dropped; sleep 30", timeout=10, v2=True)
    farm.reconnect(farm.serials[0])
    assert phone.shell2("echo back", v2=True).stdout == "back\n"
    pid = int(phone.sync.read_text(f"{TMP}/dropped"))
    assert not _running(pid)


def test_drop_on_open_fails_the_push_that_opens_the_stream(farm: Farm, phone: adbutils.AdbDevice) -> None:
    farm.devices[0].faults.drop_on_open = "sync:"
    with pytest.raises(adbutils.AdbError):
        phone.sync.push(b"x", f"{TMP}/never")
    farm.devices[0].faults.clear()
    farm.reconnect(farm.serials[0])
    assert not phone.sync.exists(f"{TMP}/never")


def test_offline_device_is_reported_offline_until_reconnected(farm: Farm, phone: adbutils.AdbDevice) -> None:
    device = farm.devices[0]
    device.faults.offline = True
    device.drop()
    # The server notices the drop asynchronously; on a loaded machine that takes a moment.
    deadline = time.monotonic() + 10
    while farm.state(farm.serials[0]) == "device" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert farm.state(farm.serials[0]) != "device"
    with pytest.raises(adbutils.AdbError, match=r"offline|not found"):
        phone.shell2("echo hi", v2=True)
    device.faults.offline = False
    farm.reconnect(farm.serials[0])
    assert phone.shell2("echo hi", v2=True).stdout == "hi\n"


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False
