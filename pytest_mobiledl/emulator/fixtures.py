"""pytest fixtures for loopback devices.

Load with `pytest_plugins = ["pytest_mobiledl.emulator.fixtures"]` in the top-level conftest, or
import the fixtures by name into a conftest below it.

- `adb_farm` (session): 2 devices with default props. While it lives, os.environ's HOME, TMPDIR,
  ANDROID_ADB_SERVER_PORT and ADBUTILS_ADB_PATH point at its private server, so nothing in the
  session (not even adbutils' automatic `adb start-server`) touches a user's server on 5037.
- `make_adb_farm` (function): `make_adb_farm(devices=1, props=..., sandbox=...)` for a test that
  needs its own props or faults; closed after the test.
- `adb_client` (session): an adbutils.AdbClient for `adb_farm`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from pytest_mobiledl.emulator.errors import AdbUnavailable
from pytest_mobiledl.emulator.farms import Farm

if TYPE_CHECKING:
    import adbutils


def _started(make: Callable[[], Farm], patch: pytest.MonkeyPatch) -> Farm:
    try:
        farm = make().start()
    except AdbUnavailable as error:
        pytest.skip(f"loopback adb devices need an adb binary: {error}")
    for key, value in farm.adb_env.items():
        patch.setenv(key, value)
    return farm


@pytest.fixture(scope="session")
def adb_farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    workdir = tmp_path_factory.mktemp("adb-farm")
    with pytest.MonkeyPatch.context() as patch:
        farm = _started(lambda: Farm(devices=2, workdir=workdir), patch)
        try:
            yield farm
        finally:
            farm.close()


@pytest.fixture
def make_adb_farm(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Farm]]:
    farms: list[Farm] = []

    def make(**options: Any) -> Farm:
        workdir = tmp_path_factory.mktemp("adb-farm")
        farm = _started(lambda: Farm(workdir=workdir, **options), monkeypatch)
        farms.append(farm)
        return farm

    yield make
    for farm in farms:
        farm.close()


@pytest.fixture(scope="session")
def adb_client(adb_farm: Farm) -> adbutils.AdbClient:
    import adbutils

    host, port = adb_farm.host_port
    return adbutils.AdbClient(host=host, port=port)


def require_chroot(farm: Farm) -> None:
    """Skip a test that needs the root sandbox (uid 2000, a real /data/local/tmp)."""
    modes = {device.sandbox.mode for device in farm.devices}
    if modes != {"chroot"}:
        pytest.skip("needs the chroot sandbox: root, util-linux and mount namespaces (devices fell back to rewrite)")
