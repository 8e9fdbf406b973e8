"""pytest hooks of pytest-mobiledl, and nothing else.

Imports pytest and the standard library only (plus this package's light modules): libraries,
converters, adbutils and pandas load where they are used, so ``pytest --collect-only`` stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from pytest_mobiledl import matrix, options
from pytest_mobiledl.bench import Bench
from pytest_mobiledl.devices import Device
from pytest_mobiledl.devices.host import HostDevice
from pytest_mobiledl.results import Results


@dataclass(frozen=True)
class State:
    selection: options.Selection
    devices: dict[str, Device]
    #: --devices or mobiledl_devices was given: then ``-n auto`` means one worker per device.
    devices_chosen: bool


STATE = pytest.StashKey[State]()


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add(parser)


def pytest_configure(config: pytest.Config) -> None:
    selection = options.resolve(config)
    config.stash[STATE] = State(selection, _devices(selection.devices), _devices_chosen(config))
    if not hasattr(config, "workerinput"):  # results are gathered on the controller only
        config.pluginmanager.register(Results(config), "mobiledl-results")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "mobiledl_case" not in metafunc.fixturenames:
        return
    state = metafunc.config.stash[STATE]
    params = [pytest.param(case, id=case.id, marks=pytest.mark.skip(reason=reason) if reason else ())
              for case, reason in matrix.expand(state.selection, state.devices)]
    metafunc.parametrize("mobiledl_case", params)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    # Called before pytest_configure: resolve the devices here too.
    if not _devices_chosen(config):
        return None
    return len(_devices(options.resolve(config).devices))


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    from pytest_mobiledl.scheduling import DeviceScheduling

    return DeviceScheduling(config, log, config.stash[STATE].devices)


@pytest.fixture
def mobiledl(request: pytest.FixtureRequest, mobiledl_case: matrix.Case) -> Bench:
    """Runs this item's case on its device: ``record = mobiledl.run()``."""
    state = request.config.stash[STATE]
    return Bench(mobiledl_case, state.selection, state.devices[mobiledl_case.device], request.node)  # type: ignore[arg-type]


def _devices_chosen(config: pytest.Config) -> bool:
    return bool(config.getoption("devices") or config.getini("mobiledl_devices"))


def _devices(serials: tuple[str, ...]) -> dict[str, Device]:
    known: dict[str, Device] = {"host": HostDevice()}
    if serials == (options.ALL,):
        return known
    unknown = [s for s in serials if s not in known]
    if unknown:
        raise pytest.UsageError(
            f"pytest-mobiledl: --devices: no device {', '.join(unknown)}; available: all, {', '.join(known)}"
        )
    return {s: known[s] for s in serials}
