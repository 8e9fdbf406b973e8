"""Loopback-device fixtures for these tests (a conftest below the top may not use pytest_plugins)."""

from pytest_mobiledl.emulator.fixtures import adb_client, adb_farm, make_adb_farm

__all__ = ["adb_client", "adb_farm", "make_adb_farm"]
