"""Content digests: one reading of a file's bytes, shared by the cache, the records and pushes."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Protocol


class Hash(Protocol):
    """A running digest (``hashlib.sha256()``)."""

    def update(self, data: bytes, /) -> None: ...


def feed(h: Hash, path: Path) -> None:
    """Add a file's bytes to a running digest, 1 MiB at a time (an artifact may be hundreds of MB)."""
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    feed(h, path)
    return h.hexdigest()


#: Digests this process made, by what the file was then: (path, size, mtime, inode) → sha256.
_KNOWN: dict[tuple[str, int, int, int], str] = {}


def known_sha256(path: Path) -> str:
    """``file_sha256``, hashed once per process while the file's size, mtime and inode stay the
    same (a deploy or a record per item would otherwise read a model of hundreds of MB each time)."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns, stat.st_ino)
    if key not in _KNOWN:
        _KNOWN[key] = file_sha256(path)
    return _KNOWN[key]
