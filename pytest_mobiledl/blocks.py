"""Blocks: the cases one verdict compares, run together, close in time (the parent's side).

A block is one repeat of one fragmentation row on one device: every library, thread count and
``--variant`` build of one model × backend × precision. Its items stay one per case and repeat,
adjacent in the run order (``order``); the first of them to run runs the whole block and keeps
every other case's outcome until that case's own item collects it, so each item still passes,
fails or skips on its own.

- ``lockstep``: the cases this package's runner serves (the host, the loopback emulator) run as
  processes alive together whose timed runs take turns (``runner/lockstep.py``);
- ``sequence``: a phone's own tools, one invocation per case, back to back in the block's order.

Each record names its block (``RunRecord.block``); ``compare.py`` pairs cases block by block.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_mobiledl.devices import Completed, Kind
from pytest_mobiledl.errors import MobiledlError, RunnerError
from pytest_mobiledl.runner import lockstep

if TYPE_CHECKING:
    from pytest_mobiledl.devices import Device
    from pytest_mobiledl.matrix import Case
    from pytest_mobiledl.options import Selection
    from pytest_mobiledl.record import RunRecord
    from pytest_mobiledl.zoo import Artifact


def block_key(case: Case, repeat: int) -> str:
    """Which block of this session a case's repeat belongs to: ``host-mobilenet_v2-cpu-fp32-r3``."""
    return f"{case.device}-{case.model}-{case.backend}-{case.precision}-r{repeat}"


def member_key(item: Any, case: Case, repeat: int) -> str:
    """Which block an item's run belongs to: a block is one test function's (two functions asking
    for ``mobiledl`` measure apart)."""
    return f"{item.nodeid.partition('[')[0]} {block_key(case, repeat)}"


def block_id(key: str, token: str) -> str:
    """A block's id in its records: its key and the token of the pytest process that ran it, so a
    block run again (a resumed session) never pairs with the first run of it."""
    return f"{key}-{token}"


def place(case: Case) -> tuple[str, str, str, str]:
    return case.device, case.model, case.backend, case.precision


@dataclass(frozen=True)
class Outcome:
    """What one case of a block came to: its artifact and record, or why it has none."""

    artifact: Artifact | None = None
    record: RunRecord | None = None
    error: MobiledlError | None = None
    skipped: str = ""


class Kept:
    """Outcomes of the blocks this pytest process ran, until each case's item collects its own."""

    def __init__(self) -> None:
        self._outcomes: dict[tuple[str, Case], Outcome] = {}
        #: This process's token in block ids (a device's items all run in one process, also under xdist).
        self.token = uuid.uuid4().hex[:8]
        self._members: dict[str, list[Case]] | None = None

    def members(self, items: Sequence[Any]) -> dict[str, list[Case]]:
        """Block key → its cases in run order, from the session's items as they run (after any
        deselection), made once: a block's first item asks, the others find their outcome kept."""
        if self._members is None:
            self._members = {}
            for item in items:
                callspec = getattr(item, "callspec", None)
                params = callspec.params if callspec else {}
                case = params.get("mobiledl_case")
                if case is not None and not item.get_closest_marker("skip"):
                    self._members.setdefault(member_key(item, case, params["mobiledl_repeat"]), []).append(case)
        return self._members

    def keep(self, block: str, case: Case, outcome: Outcome) -> None:
        self._outcomes[block, case] = outcome

    def take(self, block: str, case: Case) -> Outcome | None:
        return self._outcomes.pop((block, case), None)


def run_lockstep(device: Device, commands: Sequence[Sequence[str]], selection: Selection
                 ) -> list[Completed | MobiledlError]:
    """Run the commands as one lockstep block on the device; one result per command, in order.

    The block's timeout is ``--runner-timeout`` per case: its processes live for the whole block.
    """
    timeout = selection.runner_timeout * len(commands)
    if device.kind is Kind.HOST:
        return _on_host(device, commands, timeout, selection)
    return _on_device(device, commands, timeout, selection)


def _on_host(device: Device, commands: Sequence[Sequence[str]], timeout: float, selection: Selection
             ) -> list[Completed | MobiledlError]:
    device.reserve(commands, timeout)  # fork servers for cases of one library at once, from this thread
    coordinator = lockstep.Coordinator(len(commands), timeout)
    results: list[Completed | MobiledlError] = [RunnerError("not run")] * len(commands)
    ended = [threading.Event() for _ in commands]

    def one(slot: int) -> None:
        try:
            results[slot] = device.run(lockstep.lockstep_argv(commands[slot], coordinator.path, slot), timeout)
        except MobiledlError as exc:
            results[slot] = exc
        finally:
            ended[slot].set()

    threads = [threading.Thread(target=one, args=(slot,), daemon=True) for slot in range(len(commands))]
    for thread in threads:
        thread.start()
    try:
        coordinator.serve(selection.iterations, selection.min_time, lambda slot: ended[slot].is_set())
    finally:
        coordinator.close()  # a runner still waiting sees its link end and stops
        for thread in threads:
            thread.join()
    return results


def _on_device(device: Device, commands: Sequence[Sequence[str]], timeout: float, selection: Selection
               ) -> list[Completed | MobiledlError]:
    """The coordinator runs on the device itself (``--block``), beside its runners."""
    spec = {"argvs": [list(c) for c in commands], "timeout": timeout, "iterations": selection.iterations,
            "min_time": selection.min_time}
    done = device.run([*commands[0][:2], "--block", json.dumps(spec)], timeout + 30)
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    if done.returncode != 0 or len(lines) != len(commands):
        tail = done.stderr.strip().splitlines()[-1:] or [f"status {done.returncode}"]
        error = RunnerError(f"lockstep block failed on the device: {tail[0]}", done.stderr[-2000:])
        return [error] * len(commands)
    results: list[Completed | MobiledlError] = []
    for line in lines:
        reply: dict[str, Any] = json.loads(line)
        results.append(Completed(int(reply["returncode"]), str(reply["stdout"]), str(reply["stderr"])))
    return results
