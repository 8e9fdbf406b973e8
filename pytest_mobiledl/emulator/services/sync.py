"""sync: file transfer (AOSP SYNC.TXT): STAT, STA2/LST2, LIST, SEND, RECV, QUIT.

A reply record is never split across WRTEs: adbutils reads some with a bare fixed-size recv,
which a split record would cut short.
"""

from __future__ import annotations

import itertools
import os
import posixpath
import stat
import struct
from collections.abc import Awaitable, Callable, Iterable, Iterator

from pytest_mobiledl.emulator import rootfs
from pytest_mobiledl.emulator.sandbox import writable
from pytest_mobiledl.emulator.services.context import Context
from pytest_mobiledl.emulator.streams import Stream

DATA_MAX = 64 * 1024  # the most a DATA record carries, both ways
PATH_MAX = 4096
_REQUEST = struct.Struct("<4sI")
_STAT_V1 = struct.Struct("<4sIII")
_STAT_V2 = struct.Struct("<4sIQQIIIIQqqq")
_DENT = struct.Struct("<4sIIII")

Handler = Callable[[Stream, Context, str], Awaitable[bool]]  # False: close the stream after it


async def serve(stream: Stream, ctx: Context) -> None:
    while True:
        name, length = _REQUEST.unpack(await stream.read_exactly(_REQUEST.size))
        if name == b"QUIT":
            return
        if length > PATH_MAX:
            await _fail(stream, f"path too long: {length} bytes")
            return
        path = (await stream.read_exactly(length)).decode(errors="surrogateescape")
        handler = _HANDLERS.get(name)
        if handler is None:
            await _fail(stream, f"unknown sync command {name!r}")
            return
        if not await handler(stream, ctx, path):
            return


async def _stat_v1(stream: Stream, ctx: Context, path: str) -> bool:
    """Like adbd: lstat, and all zeros for a missing path (adbutils' exists() relies on it)."""
    try:
        info = os.lstat(ctx.sandbox.resolve(path, follow=False)[1])
        record = _STAT_V1.pack(b"STAT", info.st_mode, info.st_size & 0xFFFFFFFF, int(info.st_mtime))
    except OSError:
        record = _STAT_V1.pack(b"STAT", 0, 0, 0)
    await stream.write(record)
    return True


async def _stat_v2(stream: Stream, ctx: Context, path: str, follow: bool, name: bytes) -> bool:
    try:
        host = ctx.sandbox.resolve(path, follow=follow)[1]
        info = os.stat(host) if follow else os.lstat(host)
    except OSError as error:
        await stream.write(_STAT_V2.pack(name, error.errno or 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
        return True
    times = (int(info.st_atime), int(info.st_mtime), int(info.st_ctime))
    fields = (info.st_dev, info.st_ino, info.st_mode, info.st_nlink, info.st_uid, info.st_gid, info.st_size)
    await stream.write(_STAT_V2.pack(name, 0, *fields, *times))
    return True


async def _sta2(stream: Stream, ctx: Context, path: str) -> bool:
    return await _stat_v2(stream, ctx, path, True, b"STA2")


async def _lst2(stream: Stream, ctx: Context, path: str) -> bool:
    return await _stat_v2(stream, ctx, path, False, b"LST2")


async def _list(stream: Stream, ctx: Context, path: str) -> bool:
    """Entries with "." and ".." as adbd lists them; an unreadable dir is just an empty list."""
    try:
        host = ctx.sandbox.resolve(path)[1]
        names = [".", "..", *sorted(os.listdir(host))]
    except OSError:
        host, names = "", []
    await _write_records(stream, [*_dents(host, names), _DENT.pack(b"DONE", 0, 0, 0, 0)])
    return True


def _dents(host: str, names: list[str]) -> Iterator[bytes]:
    for entry in names:
        try:
            info = os.lstat(os.path.join(host, entry))
        except OSError:
            continue
        encoded = entry.encode(errors="surrogateescape")
        yield _DENT.pack(b"DENT", info.st_mode, info.st_size & 0xFFFFFFFF, int(info.st_mtime), len(encoded)) + encoded


async def _recv(stream: Stream, ctx: Context, path: str) -> bool:
    size = min(DATA_MAX, stream.max_payload - _REQUEST.size)
    try:
        records = (_REQUEST.pack(b"DATA", len(chunk)) + chunk for chunk in _chunks(ctx.sandbox.resolve(path)[1], size))
        await _write_records(stream, itertools.chain(records, [_REQUEST.pack(b"DONE", 0)]))
    except OSError as error:
        await _fail(stream, error.strerror or str(error))
        return False
    return True


def _chunks(host: str, size: int) -> Iterator[bytes]:
    with open(host, "rb") as source:
        while chunk := source.read(size):
            yield chunk


async def _send(stream: Stream, ctx: Context, spec: str) -> bool:
    """SEND "path,mode", then DATA records and DONE(mtime). On failure, like adbd: FAIL at once,
    swallow the rest of the upload up to DONE, and close the stream."""
    path, _, mode_text = spec.rpartition(",")
    mode = int(mode_text) if mode_text.isdigit() else stat.S_IFREG | 0o644
    error = ctx.faults.push_error
    target = None
    if not error:
        try:
            target = _Upload.open(ctx, path, mode)
        except OSError as failure:
            error = f"couldn't create file: {failure.strerror or failure}"
    if error:
        await _fail(stream, error)
    try:
        while True:
            name, length = _REQUEST.unpack(await stream.read_exactly(_REQUEST.size))
            if name == b"DONE":
                break
            if name != b"DATA" or length > DATA_MAX:
                raise OSError(f"bad sync record {name!r} of {length} bytes in a push")
            data = await stream.read_exactly(length)
            if target:
                target.write(data)
        if target:
            target.finish(mtime=length)
    except OSError as failure:
        if target:
            target.abort()
        if not error:
            await _fail(stream, failure.strerror or str(failure))
        return False
    except BaseException:
        if target:
            target.abort()  # the stream went away mid-push: leave no partial file
        raise
    if error:
        return False
    await stream.write(_REQUEST.pack(b"OKAY", 0))
    return True


class _Upload:
    """One pushed file: a fresh inode owned by the shell user, or a symlink."""

    def __init__(self, host: str, mode: int, owner: int | None) -> None:
        self.host = host
        self.mode = mode
        self.owner = owner
        self.link = bytearray() if stat.S_ISLNK(mode) else None
        self.fd = -1
        if self.link is None:
            self.fd = os.open(host, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            if owner is not None:
                os.fchown(self.fd, owner, owner)

    @classmethod
    def open(cls, ctx: Context, path: str, mode: int) -> _Upload:
        device, host = ctx.sandbox.resolve(path, follow=False)
        if not writable(device) or device == rootfs.TMP:
            raise PermissionError(13, "Permission denied")
        _make_parents(ctx, device)
        # A phone replaces a file or link rather than writing through it (adbd unlinks first).
        if os.path.islink(host) or os.path.isfile(host):
            os.unlink(host)
        return cls(host, mode, ctx.sandbox.owner)

    def write(self, data: bytes) -> None:
        if self.link is not None:
            self.link += data
            return
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]

    def finish(self, mtime: int) -> None:
        if self.link is not None:
            # adb sends the target NUL-terminated, as C strings go.
            os.symlink(bytes(self.link).rstrip(b"\0").decode(errors="surrogateescape"), self.host)
            if self.owner is not None:
                os.lchown(self.host, self.owner, self.owner)
            return
        os.fchmod(self.fd, stat.S_IMODE(self.mode))
        os.close(self.fd)
        self.fd = -1
        os.utime(self.host, (mtime, mtime), follow_symlinks=False)

    def abort(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if self.link is None and os.path.lexists(self.host):
            os.unlink(self.host)


def _make_parents(ctx: Context, device: str) -> None:
    """fixed_push_mkdir: missing parents are made 0775 and owned by the shell user, as adbd does."""
    missing: list[str] = []
    parent = posixpath.dirname(device)
    while parent != rootfs.TMP and writable(parent):
        host = ctx.sandbox.resolve(parent)[1]
        if os.path.isdir(host):
            break
        missing.append(host)
        parent = posixpath.dirname(parent)
    for host in reversed(missing):
        os.mkdir(host, 0o775)
        os.chmod(host, 0o775)
        if ctx.sandbox.owner is not None:
            os.chown(host, ctx.sandbox.owner, ctx.sandbox.owner)


async def _write_records(stream: Stream, records: Iterable[bytes]) -> None:
    """Whole records, as many per WRTE as fit. Never split (adbutils reads some with a bare
    recv), and not one per WRTE: the server forwards each WRTE as its own small write, and
    small writes in a row stall ~40 ms on Nagle's algorithm against a delayed ACK."""
    batch = bytearray()
    for record in records:
        if batch and len(batch) + len(record) > stream.max_payload:
            await stream.write(bytes(batch))
            batch.clear()
        batch += record
    if batch:
        await stream.write(bytes(batch))


async def _fail(stream: Stream, message: str) -> None:
    encoded = message.encode(errors="replace")
    await stream.write(_REQUEST.pack(b"FAIL", len(encoded)) + encoded)


_HANDLERS: dict[bytes, Handler] = {
    b"STAT": _stat_v1,
    b"STA2": _sta2,
    b"LST2": _lst2,
    b"LIST": _list,
    b"RECV": _recv,
    b"SEND": _send,
}
