"""Security, kept as tests: loopback only, names that are shell code run as names, the emulator's bind."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest

from pytest_mobiledl import zoo
from pytest_mobiledl.emulator import Farm

# Every Python process of the session (pytest, converter children, runners) imports this first:
# a connection or datagram to anything but loopback is refused and written down.
AUDIT = '''
import ipaddress, os, sys

LOG = os.environ["MOBILEDL_NET_LOG"]

def _loopback(address):
    if not isinstance(address, tuple):
        return True  # a unix socket: not the network
    try:
        return ipaddress.ip_address(address[0]).is_loopback
    except ValueError:
        return address[0] == "localhost"

def _hook(event, args):
    if event in ("socket.connect", "socket.sendto", "socket.sendmsg") and len(args) > 1:
        verdict = "local" if _loopback(args[1]) else "REFUSED"
        with open(LOG, "a") as log:
            log.write(f"{verdict} {event} {args[1]!r} pid={os.getpid()} {sys.argv[:3]!r}\\n")
        if verdict == "REFUSED":
            raise ConnectionRefusedError(f"mobiledl test: no network ({args[1]!r})")

sys.addaudithook(_hook)
'''


@pytest.mark.slow
def test_a_whole_session_with_conversions_stays_on_loopback(bench_dir: pytest.Pytester, adb_farm: Farm,
                                                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(AUDIT)
    log = tmp_path / "net.log"
    monkeypatch.setenv("PYTHONPATH", str(site))
    monkeypatch.setenv("MOBILEDL_NET_LOG", str(log))
    result = bench_dir.runpytest_subprocess("-p", "no:cacheprovider", "--libs=onnxruntime,tflite", "--iterations=2",
                                            f"--model-cache={tmp_path / 'fresh-cache'}",  # conversions included
                                            f"--devices=host,{adb_farm.serials[0]}", f"--adb-server={adb_farm.server}")
    result.assert_outcomes(passed=4)
    lines = log.read_text().splitlines()
    assert any(line.startswith("local") for line in lines)  # the hook saw the adb traffic
    assert [line for line in lines if line.startswith("REFUSED")] == []


NASTY = "x;touch PWNED;$(touch PWNED2)`touch PWNED3`'\"&|.onnx"


@pytest.mark.slow
def test_shell_metacharacters_in_a_model_name_run_as_a_name(bench_dir: pytest.Pytester, adb_farm: Farm,
                                                            model_cache: Path, tmp_path: Path) -> None:
    nasty = tmp_path / "models dir $HOME" / NASTY
    nasty.parent.mkdir()
    shutil.copy(zoo.artifact("tiny_cnn", "onnxruntime", "fp32", model_cache).path, nasty)
    result = bench_dir.runpytest_subprocess("-p", "no:cacheprovider", "--libs=onnxruntime", "--iterations=2",
                                            f"--models={nasty}", f"--devices=host,{adb_farm.serials[0]}",
                                            f"--adb-server={adb_farm.server}")
    result.assert_outcomes(passed=2)
    for root in (bench_dir.path, tmp_path, adb_farm.workdir, Path.cwd()):
        assert not [p for p in root.rglob("PWNED*")], f"a name was executed as shell code under {root}"


def listeners() -> dict[int, str]:
    """TCP sockets in LISTEN state on this machine, by port, with their local address."""
    found = {}
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            local, state = row.split()[1], row.split()[3]
            if state == "0A":
                address, port = local.split(":")
                packed = bytes.fromhex(address)
                if family == socket.AF_INET:
                    packed = packed[::-1]
                else:
                    packed = b"".join(packed[i:i + 4][::-1] for i in range(0, 16, 4))
                found[int(port, 16)] = socket.inet_ntop(family, packed)
    return found


def test_the_emulator_and_its_adb_server_listen_on_127_0_0_1_only(adb_farm: Farm) -> None:
    ports = [adb_farm.host_port[1], *(int(device.serial.rpartition(":")[2]) for device in adb_farm.devices)]
    bound = listeners()
    assert {port: bound.get(port) for port in ports} == dict.fromkeys(ports, "127.0.0.1"), json.dumps(bound)
