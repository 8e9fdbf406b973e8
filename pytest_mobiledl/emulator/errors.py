"""Errors of the loopback device, under the package's one error root."""

from __future__ import annotations

from pytest_mobiledl.errors import MobiledlError


class EmulatorError(MobiledlError):
    """The loopback device or its private adb server could not do what was asked."""


class WireError(EmulatorError):
    """A packet that breaks the ADB wire format."""


class StreamClosed(EmulatorError):
    """The server closed a stream (or its transport) while the device was using it."""


class SandboxError(EmulatorError):
    """The folder standing in for the device could not be set up."""


class AdbUnavailable(EmulatorError):
    """No adb binary to run the private server with (adbutils, which ships it, is missing)."""
