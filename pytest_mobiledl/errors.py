"""One error root, so the plugin can turn any of its failures into one clear line."""

from __future__ import annotations


class MobiledlError(Exception):
    """A failure the user can act on; ``str()`` is the one line shown."""


class RecordError(MobiledlError):
    """A run record that is malformed or cannot be right."""


class RunnerError(MobiledlError):
    """A runner that failed, timed out or printed something other than one record.

    Keeps the evidence: ``tail`` is the end of the runner's raw output.
    """

    def __init__(self, message: str, tail: str = "") -> None:
        super().__init__(message)
        self.tail = tail


class ConversionError(MobiledlError):
    """A model that could not be converted to a library's format (a finding, not a bug)."""
