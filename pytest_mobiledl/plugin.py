"""pytest hooks of pytest-mobiledl, and nothing else.

Imports pytest and the standard library only (plus this package's light modules): libraries,
converters, adbutils and pandas load where they are used, so ``pytest --collect-only`` stays fast.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

import pytest

from pytest_mobiledl import blocks, dispatch, interrupts, journal, matrix, options, storage, usermodels, variants
from pytest_mobiledl.bench import Bench
from pytest_mobiledl.devices import Device, Kind, adb
from pytest_mobiledl.devices.host import HostDevice
from pytest_mobiledl.errors import MobiledlError
from pytest_mobiledl.results import Results


@dataclass(frozen=True)
class State:
    selection: options.Selection
    devices: dict[str, Device]
    #: --devices or mobiledl_devices was given: then ``-n auto`` means one worker per device.
    devices_chosen: bool
    #: What the header says about where devices were looked for.
    note: str


STATE = pytest.StashKey[State]()
#: Outcomes of the blocks this process ran, kept for the items that collect them.
KEPT = pytest.StashKey[blocks.Kept]()
#: workerinput key: the phones' facts as the controller read them, so no worker reads them again.
DEVICE_FACTS = "mobiledl_device_facts"


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add(parser)


def pytest_configure(config: pytest.Config) -> None:
    selection = _prepare_variants(options.resolve(config))
    _inspect_user_models(selection)
    devices, note = _devices(selection, getattr(config, "workerinput", {}).get(DEVICE_FACTS))
    config.stash[STATE] = State(selection, devices, _devices_chosen(config), note)
    config.stash[KEPT] = blocks.Kept()
    if selection.compare_fail is not None and not (config.getoption("benchmark_compare", None)
                                                   or selection.variants):
        raise pytest.UsageError("pytest-mobiledl: --mobiledl-compare-fail needs a saved run to compare with: "
                                "add --benchmark-compare (the last saved run) or --benchmark-compare=NNNN "
                                "(or --variant builds to compare with each other)")
    if not hasattr(config, "workerinput"):  # results are gathered on the controller only
        interrupts.stop_on_sigterm()
        storage.install(config, selection.compare_fail)  # atomic saves, partial runs marked, the gate's baseline
        infos = {serial: device.info() for serial, device in devices.items()}
        results = Results(config, infos, selection)
        config.pluginmanager.register(results, "mobiledl-results")
        config.pluginmanager.register(journal.Writer(config, results, devices, selection.resume), "mobiledl-journal")
        if selection.ops:
            from pytest_mobiledl.ops.collect import Collector

            config.pluginmanager.register(Collector(config, [v.label for v in selection.variants]), "mobiledl-ops")
    elif journal.WORKER_KEY in config.workerinput:  # what the controller resumes, the same on every worker
        config.pluginmanager.register(journal.Resume(config.workerinput[journal.WORKER_KEY]), "mobiledl-resume")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "mobiledl_case" not in metafunc.fixturenames:
        return
    state = metafunc.config.stash[STATE]

    def unsupported(case: matrix.Case) -> str | None:
        return dispatch.unsupported(state.devices[case.device], case, state.selection)

    repeats = state.selection.repeats
    params = []
    for case, reason in matrix.expand(state.selection, state.devices, unsupported):
        if reason:  # a skip is said once, not once per repeat
            params.append(pytest.param(case, 1, id=case.id, marks=_skip(reason)))
        else:
            params += [pytest.param(case, k, id=matrix.repeat_id(case, k, repeats)) for k in range(1, repeats + 1)]
    if "mobiledl_ops" in metafunc.fixturenames:
        params = _ops_params(state, unsupported)
    metafunc.parametrize(("mobiledl_case", "mobiledl_repeat"), params)


def _ops_params(state: State, unsupported: Callable[[matrix.Case], str | None]) -> list[Any]:
    """A profiling item per case, only with --mobiledl-ops; numbered after every repeat, so the
    round-robin sort puts it after the latency rounds of its device."""
    if not state.selection.ops:
        return [pytest.param(None, 0, id="off", marks=_skip("op profiles are made with --mobiledl-ops"))]
    last = state.selection.repeats + 1
    return [pytest.param(case, last, id=case.id, marks=_skip(reason) if reason else ())
            for case, reason in matrix.expand(state.selection, state.devices, unsupported)]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Repeats round-robin, in blocks: every block's first repeat, then every block's second, …

    A block (``blocks.py``) is one fragmentation row on one device: its cases' items are
    adjacent, so they run together; drift, heat and background load hit every block of a
    device alike. Under xdist a device's items keep this order on its worker. Other tests keep
    their places.
    """
    slots = [i for i, item in enumerate(items) if _repeat(item)]
    places: dict[tuple[str, ...], int] = {}
    for i in slots:
        places.setdefault(blocks.place(_case(items[i])), len(places))

    def order(item: pytest.Item) -> tuple[int, int]:
        return _repeat(item), places[blocks.place(_case(item))]

    for slot, item in zip(slots, sorted((items[i] for i in slots), key=order), strict=True):
        items[slot] = item


def _repeat(item: pytest.Item) -> int:
    """Which repeat of its case a benchmark item is (0 for any other test)."""
    callspec = getattr(item, "callspec", None)
    return int(callspec.params.get("mobiledl_repeat", 0)) if callspec else 0


def _case(item: pytest.Item) -> matrix.Case:
    case: matrix.Case = item.callspec.params["mobiledl_case"]  # type: ignore[attr-defined]
    return case


@cache
def _skip(reason: str) -> pytest.MarkDecorator:
    return pytest.mark.skip(reason=reason)  # one per reason: large matrices repeat a few reasons


def pytest_report_header(config: pytest.Config) -> str:
    state = config.stash[STATE]
    return f"mobiledl: devices {', '.join(state.devices)}{state.note}"


def pytest_sessionfinish(session: pytest.Session) -> None:
    for device in session.config.stash[STATE].devices.values():
        device.cleanup()


def pytest_unconfigure(config: pytest.Config) -> None:
    interrupts.restore()


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    # Called before pytest_configure: resolve the devices here too.
    if not _devices_chosen(config):
        return None
    return len(_devices(options.resolve(config))[0])


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    devices = node.config.stash[STATE].devices
    node.workerinput[DEVICE_FACTS] = {serial: dict(device.info()) for serial, device in devices.items()
                                      if device.kind is Kind.ADB}


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    from pytest_mobiledl.scheduling import DeviceScheduling

    return DeviceScheduling(config, log, config.stash[STATE].devices)


@pytest.fixture
def mobiledl(request: pytest.FixtureRequest, mobiledl_case: matrix.Case, mobiledl_repeat: int) -> Bench:
    """Runs one repeat of this item's case on its device: ``record = mobiledl.run()``."""
    state = request.config.stash[STATE]
    return Bench(mobiledl_case, mobiledl_repeat, state.selection, state.devices[mobiledl_case.device],
                 request.node, request.config.stash[KEPT])


@pytest.fixture
def mobiledl_ops(request: pytest.FixtureRequest, mobiledl_case: matrix.Case, mobiledl_repeat: int) -> object:
    """Profiles this item's case in a separate run (--mobiledl-ops): ``profile = mobiledl_ops.run()``."""
    from pytest_mobiledl.ops.host import Profiler

    state = request.config.stash[STATE]
    return Profiler(mobiledl_case, state.selection, dict(state.devices[mobiledl_case.device].info()), request.node)


def _prepare_variants(selection: options.Selection) -> options.Selection:
    """Pip variants get their cached environment (made now if new, with a progress line)."""
    if not any(v.kind == "pip" for v in selection.variants):
        return selection

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    try:
        return replace(selection, variants=variants.prepare(selection.variants, selection.env_cache, say))
    except MobiledlError as exc:
        raise pytest.UsageError(f"pytest-mobiledl: --variant {exc}") from None


def _inspect_user_models(selection: options.Selection) -> None:
    """A malformed file or an unpinned dynamic input is a usage error, before anything runs."""
    used: set[str] = set()
    for model in selection.user_models.values():
        try:
            used.update(spec.name for spec in usermodels.inspect(model).inputs)
        except MobiledlError as exc:
            raise pytest.UsageError(f"pytest-mobiledl: --models: {exc}") from None
    unused = [name for name, _ in selection.input_shape if name not in used]
    if unused:
        raise pytest.UsageError(f"pytest-mobiledl: --input-shape names {', '.join(unused)}, but no model file "
                                f"has such an input (they have: {', '.join(sorted(used)) or 'no files given'})")


def _devices_chosen(config: pytest.Config) -> bool:
    return bool(config.getoption("devices") or config.getini("mobiledl_devices"))


def _devices(selection: options.Selection,
             facts: Mapping[str, Mapping[str, Any]] | None = None) -> tuple[dict[str, Device], str]:
    """The selected devices by serial, and a note for the header on where phones were looked for;
    ``facts``: what the xdist controller read of them."""
    known: dict[str, Device] = {"host": HostDevice(fork=selection.fork)}
    wanted = selection.devices
    if wanted == ("host",):
        return known, ""
    servers = selection.adb_server or [adb.parse_servers(adb.default_server())[0]]
    where = ", ".join(f"{h}:{p}" for h, p in servers)
    note = f" (adb servers: {where})"
    if not selection.adb_server and wanted == (options.ALL,) and not adb.listening(*servers[0]):
        return known, f" (no adb server at {where}: host only)"  # no phones here: that is fine for `all`
    try:
        known.update(adb.discover(servers, facts))
    except MobiledlError as exc:
        serials = "" if wanted == (options.ALL,) else f" no device {', '.join(s for s in wanted if s != 'host')}:"
        raise pytest.UsageError(f"pytest-mobiledl: --devices:{serials} {exc}") from None
    if wanted == (options.ALL,):
        return known, note
    unknown = [s for s in wanted if s not in known]
    if unknown:
        raise pytest.UsageError(f"pytest-mobiledl: --devices: no device {', '.join(unknown)} on {where}; "
                                f"available: all, {', '.join(known)}")
    return {s: known[s] for s in wanted}, note
