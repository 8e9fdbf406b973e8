"""`python -m pytest_mobiledl.emulator`: prints the server and serials, stops cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import pytest_mobiledl

REPO = Path(pytest_mobiledl.__file__).resolve().parent.parent


def test_cli_serves_two_devices_and_stops_on_sigterm(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest_mobiledl.emulator", "--devices", "2", "--workdir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline().strip()
        serials = [process.stdout.readline().strip() for _ in range(2)]
        if not first:
            pytest.fail(f"no output; stderr: {process.stderr.read() if process.stderr else ''}")
        key, _, server = first.partition("=")
        assert key == "ADB_SERVER" and server.startswith("127.0.0.1:")
        assert all(serial.startswith("127.0.0.1:") for serial in serials) and len(set(serials)) == 2
        port = int(server.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
            conn.sendall(b"000chost:devices")
            assert conn.recv(4) == b"OKAY"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    leftovers = [path.name for path in tmp_path.iterdir() if path.name.startswith("device-")]
    assert leftovers == []  # sandboxes removed


def test_cli_rejects_a_bad_device_count() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest_mobiledl.emulator", "--devices", "0"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=False,
    )
    assert result.returncode == 2 and "--devices must be at least 1" in result.stderr


def test_cli_reports_a_bad_props_file_in_one_line(tmp_path: Path) -> None:
    props = tmp_path / "bad.prop"
    props.write_text("emulator.cpu.max_freq_khz=fast\n")
    result = subprocess.run(
        [sys.executable, "-m", "pytest_mobiledl.emulator", "--props-file", str(props)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: {props}: emulator.cpu.max_freq_khz needs positive integers, got 'fast'"
    ]
