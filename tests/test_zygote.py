"""Host runs forked from a library's server (devices/zygote.py, runner/serve.py), in real processes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_mobiledl import engines, zoo
from pytest_mobiledl.devices.host import HostDevice
from pytest_mobiledl.devices.zygote import RUNNER
from pytest_mobiledl.errors import RunnerError
from pytest_mobiledl.record import from_json

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork servers are Linux only")

#: Libraries whose import leaves no thread across a fork here (ncnn imports in well under a second).
FORKED = [lib for lib in ("ncnn", "mnn", "tflite") if engines.installed(engines.get(lib))][:1]
LIB = FORKED[0] if FORKED else "ncnn"
needs_lib = pytest.mark.skipif(not FORKED, reason="no fork-safe library installed")


@pytest.fixture
def host() -> Iterator[HostDevice]:
    device = HostDevice(fork=True)
    yield device
    device.cleanup()


@pytest.fixture
def argv(model_cache: Path) -> list[str]:
    artifact = zoo.artifact("tiny_cnn", LIB, "fp32", model_cache)
    return [*RUNNER, "--lib", LIB, "--model", str(artifact.path), "--model-id", "tiny_cnn",
            "--warmup", "1", "--iterations", "5"]


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] != "Z"
    except OSError:
        return False


def hwm_kb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1])


@needs_lib
def test_a_forked_run_gives_the_record_an_exec_run_gives(host: HostDevice, argv: list[str]) -> None:
    forked, execed = host.run(argv, 120), HostDevice(fork=False).run(argv, 120)
    assert host.zygotes and LIB in host.zygotes._servers  # it did go through the server
    assert forked.returncode == execed.returncode == 0, forked.stderr
    [line] = forked.stdout.splitlines()  # the record line, and nothing the library printed
    a, b = from_json(line), from_json(execed.stdout)
    assert a.to_dict().keys() == b.to_dict().keys()
    same = ("lib", "lib_version", "model", "artifact_sha256", "count", "output_sha256", "engine_options", "flags")
    assert [getattr(a, f) for f in same] == [getattr(b, f) for f in same]
    assert a.init_ms and a.first_inference_ms and a.peak_rss_mb


@needs_lib
def test_each_run_is_a_new_child_and_the_server_never_runs_the_model(host: HostDevice, argv: list[str]) -> None:
    host.run(argv, 120)
    assert host.zygotes
    server = host.zygotes._servers[LIB]
    first, peak = server.last_pid, hwm_kb(server.proc.pid)
    host.run(argv, 120)
    assert len({first, server.last_pid, server.proc.pid}) == 3
    assert not alive(first) and not alive(server.last_pid)
    assert hwm_kb(server.proc.pid) - peak < 1024  # no session is ever made in the server: its peak stays


@needs_lib
def test_a_timeout_kills_the_child_and_the_server_serves_on(host: HostDevice, argv: list[str]) -> None:
    host.run(argv, 120)  # the server is up: the timeout below is the child's alone
    with pytest.raises(RunnerError, match=r"^runner timed out after 1 s \(--runner-timeout\)$"):
        host.run([*argv, "--iterations", "100", "--delay-ms", "100"], 1)
    assert host.zygotes
    server = host.zygotes._servers[LIB]
    assert not alive(server.last_pid) and alive(server.proc.pid)
    assert host.run(argv, 120).returncode == 0


@needs_lib
def test_a_crashed_child_ends_by_its_signal_as_an_execed_runner_does(host: HostDevice, argv: list[str]) -> None:
    host.run(argv, 120)
    assert host.zygotes
    server = host.zygotes._servers[LIB]
    done = []
    slow = threading.Thread(target=lambda: done.append(host.run([*argv, "--delay-ms", "1000"], 120)))
    before = server.last_pid
    slow.start()
    while server.last_pid == before:
        time.sleep(0.05)
    os.kill(server.last_pid, signal.SIGSEGV)
    slow.join()
    assert done[0].returncode == -signal.SIGSEGV and done[0].stdout == ""
    assert host.run(argv, 120).returncode == 0


@needs_lib
def test_a_library_whose_import_leaves_a_thread_runs_execed(
    host: HostDevice, argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A site hook that starts a thread, as a library's import may (onnxruntime 1.32 does on some
    # machines and not on others): forking past it could deadlock a child.
    (tmp_path / "sitecustomize.py").write_text(
        "import threading, time\nthreading.Thread(target=time.sleep, args=(3600,), daemon=True).start()\n"
    )
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])))
    done = host.run(argv, 120)
    assert done.returncode == 0 and from_json(done.stdout).lib == LIB
    assert host.zygotes and not host.zygotes._servers
    assert "its import leaves 1 thread(s) running across a fork" in host.zygotes.unsafe[LIB]


@needs_lib
def test_a_library_whose_own_import_leaves_a_thread_is_imported_in_each_forked_child(
    host: HostDevice, argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The thread starts when the library's module is imported, and only then (ONNX Runtime 1.32
    # on some machines): a server without the library stays forkable, and each child imports it.
    module = engines.get(LIB).RUNTIME[0]
    (tmp_path / "sitecustomize.py").write_text(textwrap.dedent(f"""
        import importlib.abc, sys, threading, time
        class Hook(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path, target=None):
                if name == {module!r}:
                    threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()
        sys.meta_path.insert(0, Hook())
    """))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])))
    first, second = host.run(argv, 120), host.run(argv, 120)
    assert first.returncode == second.returncode == 0 and from_json(second.stdout).lib == LIB
    assert host.zygotes and not host.zygotes.unsafe
    assert "its import leaves 1 thread(s) running across a fork" in host.zygotes.imported_per_run[LIB]
    server = host.zygotes._servers[LIB]
    assert "--without-library" in server.proc.args and server.threads == 1
    assert server.last_pid  # the runs were its forked children


PARENT = """
import subprocess, sys, threading
from pytest_mobiledl.devices.host import HostDevice

host = HostDevice(fork=True)
argv = {argv!r}
host.run(argv, 120)
server = host.zygotes._servers[{lib!r}]
print(server.proc.pid, flush=True)
host.run(argv + ["--iterations", "1000", "--delay-ms", "100"], 600)  # killed during this run
"""


@needs_lib
def test_the_server_and_its_child_die_with_the_pytest_process(argv: list[str], tmp_path: Path) -> None:
    # Its server's folder stays behind (nothing is left to remove it): in tmp_path, not in /tmp.
    parent = subprocess.Popen([sys.executable, "-c", PARENT.format(argv=argv, lib=LIB)], stdout=subprocess.PIPE,
                              text=True, env={**os.environ, "TMPDIR": str(tmp_path)})
    assert parent.stdout
    server = int(parent.stdout.readline())
    children = Path(f"/proc/{server}/task/{server}/children")
    deadline = time.monotonic() + 60
    while not children.read_text().split() and time.monotonic() < deadline:
        time.sleep(0.05)
    [child] = map(int, children.read_text().split())
    parent.kill()  # at once: the child may not yet have asked for its own death signal
    parent.wait()
    deadline = time.monotonic() + 10
    try:
        while (alive(server) or alive(child)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(server) and not alive(child)
    finally:
        for pid in (server, child):  # a failure here leaves nothing running
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


BIG_PARENT = """
import json, subprocess, sys
from pytest_mobiledl.devices.host import HostDevice

peak = bytearray(400 << 20)  # this process peaks at 400 MB, then gives it back
for i in range(0, len(peak), 4096):
    peak[i] = 1
del peak
argv = {argv!r}
host = HostDevice(fork=True)
rss = {{"exec": json.loads(HostDevice(fork=False).run(argv, 120).stdout)["peak_rss_mb"],
        "fork": json.loads(host.run(argv, 120).stdout)["peak_rss_mb"]}}
host.cleanup()
probe = "import resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
rss["ru_maxrss of an exec'd child"] = float(subprocess.run([sys.executable, "-c", probe], capture_output=True,
                                                           text=True).stdout)
print(json.dumps(rss))
"""


@needs_lib
def test_peak_rss_is_the_runners_own_not_its_parents(argv: list[str]) -> None:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(BIG_PARENT.format(argv=argv))],
                          capture_output=True, text=True, timeout=300)
    rss = json.loads(done.stdout)
    assert rss["ru_maxrss of an exec'd child"] > 400  # why measure.py reads VmHWM instead
    assert 10 < rss["exec"] < 300 and 10 < rss["fork"] < 300, rss
