"""Dispatch, the parent's side of a run: which runner serves a case on a device (or why none
can), the command that starts it there, and the one record it must print. The runner itself,
the process that measures, is ``runner/``.

- ``PythonRunner``: this package's runner (``runner/``) on the library's Python bindings. On the
  host it is ``python -m pytest_mobiledl.runner``; on a device whose CPU runs this machine's
  binaries (the loopback emulator) it is pushed as one zipapp file and run by this interpreter.
- ``NativeRunner``: the library's own Android benchmark tool from ``--runner-dir``, with its argv
  and strict parser from ``native/``.

Both end in a RunRecord, so nothing after them cares which ran.
"""

from __future__ import annotations

import atexit
import io
import os
import platform
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from pytest_mobiledl import engines, native, steady, variants
from pytest_mobiledl.devices import Kind
from pytest_mobiledl.digests import known_sha256
from pytest_mobiledl.errors import RunnerError
from pytest_mobiledl.keys import build_name
from pytest_mobiledl.record import FLAGS, RunRecord, from_json

if TYPE_CHECKING:
    from pytest_mobiledl.devices import Completed, Device
    from pytest_mobiledl.matrix import Case
    from pytest_mobiledl.options import Selection
    from pytest_mobiledl.zoo import Artifact

#: What the zipapp runner carries: the runner and what it imports of this package, nothing more.
ZIPAPP_MODULES = ("__init__.py", "errors.py", "record.py", "tensors.py", "runner/*.py", "engines/*.py")


class Runner(Protocol):
    def run(self, device: Device, case: Case, artifact: Artifact, selection: Selection) -> RunRecord: ...


class PythonRunner:
    def __init__(self, python: Path | None = None) -> None:
        #: A --variant's interpreter: it runs the zipapp, so its environment needs only the library and numpy.
        self.python = python

    def run(self, device: Device, case: Case, artifact: Artifact, selection: Selection) -> RunRecord:
        return parse_record(device.run(self.command(device, case, artifact, selection), selection.runner_timeout),
                            case)

    def command(self, device: Device, case: Case, artifact: Artifact, selection: Selection) -> list[str]:
        """The argv that runs this case on this device (its model deployed first)."""
        model = device.deploy(artifact.path)
        if device.kind is Kind.HOST:  # the runner pins itself; a phone's command runs under taskset
            cpus = ",".join(map(str, steady.device_cpus(device, selection.cores)))
            runner = ([str(self.python), device.deploy(zipapp())] if self.python is not None
                      else [sys.executable, "-m", "pytest_mobiledl.runner"])
            command = [*runner, "--cpus", cpus]
        else:
            command = [str(self.python or sys.executable), device.deploy(zipapp())]
        return command + runner_args(case, model, selection)


def runner_args(case: Case, model: str, s: Selection) -> list[str]:
    return ["--lib", case.lib, "--model", model, "--model-id", case.model, "--backend", case.backend,
            "--precision", case.precision, "--threads", str(case.threads), "--warmup", str(s.warmup),
            "--iterations", str(s.iterations), "--min-time", str(s.min_time),
            "--delay-ms", delay_arg(s.delay, case.lib, case.variant)]


def delay_arg(delays: Mapping[str, tuple[float, bool]], lib: str, variant: str = "") -> str:
    amount, relative = delays.get(build_name(lib, variant), delays.get(lib, delays.get("", (0.0, False))))
    return f"{amount * 100:g}%" if relative else f"{amount:g}"


def parse_record(done: Completed, case: Case) -> RunRecord:
    """Exactly one valid record for exactly this case, or a RunnerError saying what came instead."""
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        if done.returncode in (-9, 128 + 9):  # killed from outside: its last words are not the cause
            raise RunnerError("runner was killed (SIGKILL) mid-run: out of memory, or killed by hand",
                              done.stderr[-2000:])
        raise RunnerError(lines[-1] if lines else f"runner exited with status {done.returncode}", done.stderr[-2000:])
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    if len(lines) != 1:
        raise RunnerError(f"runner printed {len(lines)} lines on stdout, expected one record", done.stdout[-2000:])
    record = from_json(lines[0])
    got = (record.lib, record.model, record.backend, record.precision, record.threads)
    want = (case.lib, case.model, case.backend, case.precision, case.threads)
    if got != want:
        raise RunnerError(f"runner reported {got} for case {want}")
    return record


class NativeRunner:
    """The library's own tool, from ``--runner-dir/<lib>/``, pushed with its shared libraries."""

    def __init__(self, spec: native.ToolSpec, files: Path) -> None:
        self.spec = spec
        self.files = files

    def run(self, device: Device, case: Case, artifact: Artifact, selection: Selection) -> RunRecord:
        tool_dir = device.deploy(self.files)
        request = native.RunRequest(
            binary=f"{tool_dir}/{self.spec.binary}", model=self._deploy_model(device, artifact),
            work_dir=device.workdir, backend=case.backend, precision=case.precision, threads=case.threads,
            warmup=selection.warmup, iterations=selection.iterations, min_time_s=selection.min_time,
            input_shapes=tuple(t.shape for t in artifact.inputs), input_names=tuple(t.name for t in artifact.inputs),
            cores=selection.cores)
        try:
            output = self._execute(device, request, selection.runner_timeout)
        except (native.ToolError, ValueError) as exc:
            raise RunnerError(str(exc), getattr(exc, "raw_tail", "")) from None
        flags = tuple(f for f in output.flags if f in FLAGS)
        return RunRecord(
            lib=case.lib, lib_version=output.lib_version or self.version(), model=case.model,
            artifact_sha256=known_sha256(artifact.path), backend=case.backend, precision=case.precision,
            threads=case.threads, warmup=selection.warmup, iterations=selection.iterations, count=output.count,
            samples_ms=output.samples_ms, summary_ms={} if output.samples_ms else dict(output.summary_ms),
            load_ms=output.load_ms, init_ms=output.init_ms, first_inference_ms=output.first_inference_ms,
            peak_rss_mb=output.peak_memory_mb, flags=flags,
            engine_options={"tool": self.spec.binary, **switches(self.spec, request)})

    def _deploy_model(self, device: Device, artifact: Artifact) -> str:
        """The artifact as the tool reads it: some engines keep it packed (ncnn's param + bin)."""
        unpack = getattr(engines.get(artifact.lib), "native_files", None)
        if unpack is None:
            return device.deploy(artifact.path)
        folder, name = unpack(artifact.path)
        return f"{device.deploy(folder)}/{name}"

    def version(self) -> str:
        """Tools rarely print their version: a VERSION file beside the binary says it."""
        path = self.files / "VERSION"
        return path.read_text().strip() if path.is_file() else "unknown"

    def _execute(self, device: Device, request: native.RunRequest, timeout: float) -> native.ToolOutput:
        plan = self.spec.plan(request)
        for staged in plan.stage:
            device.put(staged.content, staged.device_path)
        stdout, stderr, status = [], [], 0
        for step in plan.steps:
            if isinstance(step, native.Pull):
                device.pull(step.device_path, Path(step.host_path))
                continue
            done = device.run(step.with_env_prefix(), timeout) if step.where == "device" else _host(step, timeout)
            stdout.append(done.stdout)
            stderr.append(done.stderr)
            if done.returncode != 0:
                status = done.returncode
                break
        return self.spec.parse("".join(stdout), "".join(stderr), status, request)


def switches(spec: native.ToolSpec, request: native.RunRequest) -> dict[str, list[str]]:
    """The tool's switches as it ran (paths left out: they differ per session), for the record."""
    steps = [step for step in spec.plan(request).steps if isinstance(step, native.Command) and step.where == "device"]
    return {"switches": [arg for step in steps for arg in step.argv[1:] if "/" not in arg]}


def native_runner(case: Case, runner_dir: Path, tool_dir: Path | None = None
                  ) -> tuple[NativeRunner | None, str | None]:
    """The case's native tool if its files are in ``runner_dir`` (or a variant's ``tool_dir``,
    standing in for ``runner_dir/<lib>``), else the reason naming the file."""
    try:
        spec = native.spec_for(case.lib)
    except ValueError:
        return None, f"{case.lib} has no native Android tool in pytest-mobiledl"
    folder = tool_dir or runner_dir / case.lib
    missing = [f for f in spec.files if not (folder / Path(f).relative_to(case.lib)).is_file()]
    if missing:
        return None, (f"no {case.lib} runner: expected {folder / Path(missing[0]).relative_to(case.lib)} "
                      f"(see native_runners/{case.lib}/README.md)")
    reason = spec.supports(case.backend, case.precision)
    return (None, reason) if reason else (NativeRunner(spec, folder), None)


def _host(step: native.Command, timeout: float) -> Completed:
    from pytest_mobiledl.devices.host import HostDevice

    return HostDevice().run(step.with_env_prefix(), timeout)



@cache
def zipapp() -> Path:
    """The runner as one file, byte-identical between sessions so a device keeps its copy."""
    package = Path(__file__).parent
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for pattern in ZIPAPP_MODULES:
            for path in sorted(package.glob(pattern)):
                info = zipfile.ZipInfo(f"pytest_mobiledl/{path.relative_to(package).as_posix()}", (1980, 1, 1, 0, 0, 0))
                zf.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)
        main = "from pytest_mobiledl.runner.__main__ import run\nrun()\n"
        zf.writestr(zipfile.ZipInfo("__main__.py", (1980, 1, 1, 0, 0, 0)), main)
    folder = Path(tempfile.mkdtemp(prefix="mobiledl-runner-"))
    # Removed when this process exits (every xdist worker too): a session leaves no folder behind.
    atexit.register(_remove_if_mine, folder, os.getpid())
    path = folder / "mobiledl-runner.pyz"
    path.write_bytes(buffer.getvalue())
    return path


def _remove_if_mine(folder: Path, pid: int) -> None:
    if os.getpid() == pid:  # not in a forked child that exits through Python
        shutil.rmtree(folder, ignore_errors=True)


def unsupported(device: Device, case: Case, selection: Selection) -> str | None:
    """Why no runner can run this case on this device (naming what is missing), or None."""
    return _runner_or_reason(device, case, selection)[1] or steady.unsupported(device, case, selection)


def runner_for(device: Device, case: Case, selection: Selection) -> Runner:
    runner, reason = _runner_or_reason(device, case, selection)
    if runner is None:
        raise RunnerError(reason or "no runner")
    return runner


def _runner_or_reason(device: Device, case: Case, selection: Selection) -> tuple[Runner | None, str | None]:
    if case.variant:
        return _variant_runner(device, case, selection)
    if device.kind is Kind.HOST:
        reason = _python_reason(case.lib, case.backend, "on host")
        return (None, reason) if reason else (PythonRunner(), None)
    tool, tool_reason = native_runner(case, selection.runner_dir)
    if tool is not None or not _runs_host_python(device):
        return tool, tool_reason
    reason = _python_reason(case.lib, case.backend, f"on {device.serial}")
    return (None, reason) if reason else (PythonRunner(), None)


def _variant_runner(device: Device, case: Case, selection: Selection) -> tuple[Runner | None, str | None]:
    """A --variant's build: its tool folder on phones, its interpreter on the host (and the emulator)."""
    variant = variants.find(selection.variants, case.lib, case.variant)
    if variant.tool_dir is not None:
        if device.kind is Kind.HOST:
            return None, f"{variant.name} is an Android tool folder: it runs on phones, not on the host"
        return native_runner(case, selection.runner_dir, variant.tool_dir)
    if device.kind is not Kind.HOST and not _runs_host_python(device):
        return None, f"{variant.name} is a Python environment: it runs on the host; give a tool folder for phones"
    if case.backend not in engines.get(case.lib).HOST_BACKENDS:
        return None, f"{case.lib} through Python has no {case.backend} backend; run it on a phone"
    return PythonRunner(variant.python), None


@cache
def _python_reason(lib: str, backend: str, where: str) -> str | None:
    engine = engines.get(lib)
    if not engines.installed(engine):
        return f"{lib} is not installed on the host: pip install 'pytest-mobiledl[{engine.EXTRA}]'"
    if backend not in engine.HOST_BACKENDS:
        return f"{lib} {where} has no {backend} backend (it has: {', '.join(engine.HOST_BACKENDS)}); run it on a phone"
    return None


_HOST_PYTHON: dict[str, bool] = {}


def _runs_host_python(device: Device) -> bool:
    """True for a device whose CPU runs this machine's binaries and that sees this interpreter
    (the loopback emulator): there the Python runner stands in for a native tool."""
    if device.serial not in _HOST_PYTHON:
        _HOST_PYTHON[device.serial] = platform.machine() in device.info().get("abilist", ()) and (
            device.run(["test", "-x", sys.executable], timeout=30).returncode == 0)
    return _HOST_PYTHON[device.serial]
