"""A loopback Android device for tests and CI: the device side of ADB, served to a real, private
adb server, running commands on this machine in a folder that stands in for /data/local/tmp.

Start one with `with Farm() as farm:` (Python) or `python -m pytest_mobiledl.emulator` (a shell), or use the
pytest fixtures in `pytest_mobiledl.emulator.fixtures`.
"""

from pytest_mobiledl.emulator.device import Device
from pytest_mobiledl.emulator.errors import EmulatorError
from pytest_mobiledl.emulator.farms import Farm
from pytest_mobiledl.emulator.faults import Faults
from pytest_mobiledl.emulator.props import DeviceProps

__all__ = ["Device", "DeviceProps", "EmulatorError", "Farm", "Faults"]
