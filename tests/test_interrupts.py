"""An interrupted or killed session leaves no host runner behind (it used to spin at 100 % CPU)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

#: An odd delay marks this process's runners among the machine's (xdist runs tests side by side).
MARK = f"{500 + os.getpid() % 1000 / 1000:g}"
#: A runner that would time 60 runs of 500 ms: long enough to be caught mid-run.
SLOW = ["-p", "no:cacheprovider", "--libs=tflite", "--warmup=0", "--iterations=60", f"--mobiledl-delay-ms={MARK}",
        "--mobiledl-fork=no"]  # the exec path: a forked run is the fork server's (see test_zygote.py)


def runners() -> dict[int, int]:
    """Running runners of this test, by pid, with their parent pid."""
    found = {}
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            if b"pytest_mobiledl.runner" in argv and MARK.encode() in argv:
                found[int(proc.name)] = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return found


def wait_for(condition: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize(("target", "sig", "xdist"), [
    pytest.param("session", signal.SIGKILL, False, id="session-SIGKILL"),
    pytest.param("session", signal.SIGINT, False, marks=pytest.mark.slow, id="session-SIGINT"),
    pytest.param("session", signal.SIGTERM, False, marks=pytest.mark.slow, id="session-SIGTERM"),
    pytest.param("worker", signal.SIGKILL, True, marks=pytest.mark.slow, id="xdist-worker-SIGKILL"),
])
def test_no_runner_outlives_its_session(bench_dir: pytest.Pytester, target: str, sig: signal.Signals,
                                        xdist: bool) -> None:
    argv = [sys.executable, "-m", "pytest", *SLOW, *(["-n", "1"] if xdist else [])]
    session = subprocess.Popen(argv, cwd=bench_dir.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert wait_for(runners, 60), "the runner never started"
        [(runner, parent)] = runners().items()
        os.kill(parent if target == "worker" else session.pid, sig)
        assert wait_for(lambda: runner not in runners(), 15), f"runner {runner} outlived {target} ({sig.name})"
        if target == "session":
            session.wait(30)
            assert session.returncode == (-sig if sig == signal.SIGKILL else pytest.ExitCode.INTERRUPTED)
    finally:
        session.kill()
        session.wait()
        for pid in runners():
            os.kill(pid, signal.SIGKILL)
