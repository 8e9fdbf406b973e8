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


class DiskFullError(MobiledlError, OSError):
    """No space left where the plugin writes (cache, journal, storage, report): the machine's
    problem, never a library's, so it fails loudly rather than skipping. An OSError too, so code
    that handles a failed write handles it; ``strerror`` is the whole line."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.strerror = message


def one_line(exc: BaseException, limit: int = 300) -> str:
    """Another library's exception as one line for the user: its type and message, newlines
    flattened, cut at ``limit`` characters (a converter's message may be a page of graph dump)."""
    return f"{type(exc).__name__}: {exc}".replace("\n", " ")[:limit]


def disk_full(exc: OSError) -> bool:
    import errno

    return exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def no_space(path: object, needed: int | None = None) -> DiskFullError:
    """The one line: where, how much was being written, and how much is free there."""
    import shutil
    from pathlib import Path

    where = Path(str(path))
    folder = next((p for p in (where, *where.parents) if p.is_dir()), where)
    try:
        free = f"{shutil.disk_usage(folder).free / 1e6:.1f} MB free"
    except OSError:
        free = "free space unknown"
    size = f" {needed / 1e6:.3f} MB to write," if needed else ""
    return DiskFullError(f"no space left on the disk of {where}:{size} {free} there; free some space "
                         "(nothing half-written was kept)")
