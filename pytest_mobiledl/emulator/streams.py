"""One ADB stream on the device side: a byte pipe with ADB's one-WRTE-in-flight flow control.

The server re-chunks what its client sends, so a stream is read as bytes (`read_exactly`), never
as messages.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from pytest_mobiledl.emulator.errors import StreamClosed
from pytest_mobiledl.emulator.wire import CLSE, OKAY, WRTE, Packet

Send = Callable[[Packet], Awaitable[None]]

# Unread bytes above which the device holds back its OKAY, so a slow reader slows the sender.
ACK_BELOW = 256 * 1024


class Stream:
    def __init__(self, local_id: int, remote_id: int, send: Send, max_payload: int) -> None:
        self.local_id = local_id
        self.remote_id = remote_id
        self.max_payload = max_payload
        self._send = send
        self._buffer = bytearray()
        self._pos = 0
        self._ack_owed = False
        self._arrived = asyncio.Event()
        self._acked = asyncio.Event()
        self._acked.set()
        self._write_lock = asyncio.Lock()
        self.peer_closed = False
        self._closed = False

    # -- from the server ----------------------------------------------------------------------
    async def feed(self, data: bytes) -> None:
        """A WRTE payload arrived; acknowledge it now unless the reader is behind."""
        self._buffer += data
        self._arrived.set()
        if self._unread() < ACK_BELOW:
            await self._okay()
        else:
            self._ack_owed = True

    def acked(self) -> None:
        """The server's OKAY for our last WRTE."""
        self._acked.set()

    def feed_close(self) -> None:
        """The server's CLSE: nothing more will arrive and nothing more may be sent."""
        self.peer_closed = True
        self._arrived.set()
        self._acked.set()

    # -- for services -------------------------------------------------------------------------
    async def read(self, limit: int) -> bytes:
        """Up to `limit` bytes, waiting for at least one; b"" once the server closed the stream."""
        while not self._unread():
            if self.peer_closed:
                return b""
            self._arrived.clear()
            await self._arrived.wait()
        return await self._take(min(limit, self._unread()))

    async def read_exactly(self, size: int) -> bytes:
        while self._unread() < size:
            if self.peer_closed:
                raise StreamClosed(f"stream closed {self._unread()} bytes into a {size}-byte read")
            self._arrived.clear()
            await self._arrived.wait()
        return await self._take(size)

    async def write(self, data: bytes) -> None:
        """Send `data` in WRTEs of at most the peer's maxdata, each after the previous OKAY.

        Data of one call is never interleaved with another call's, so a caller that keeps a record
        within `max_payload` gets it in one WRTE.
        """
        async with self._write_lock:
            view = memoryview(data)
            for start in range(0, len(view), self.max_payload):
                await self._acked.wait()
                if self.peer_closed:
                    raise StreamClosed("stream closed by the server")
                self._acked.clear()
                chunk = bytes(view[start : start + self.max_payload])
                await self._send(Packet(WRTE, self.local_id, self.remote_id, chunk))

    async def close(self) -> None:
        """Our CLSE, once; none is owed when the server closed first."""
        if self._closed or self.peer_closed:
            return
        self._closed = True
        await self._send(Packet(CLSE, self.local_id, self.remote_id))

    # -- internals ----------------------------------------------------------------------------
    def _unread(self) -> int:
        return len(self._buffer) - self._pos

    async def _take(self, size: int) -> bytes:
        data = bytes(self._buffer[self._pos : self._pos + size])
        self._pos += size
        # Compact rarely: deleting the front of a big buffer on every read would be quadratic.
        if self._pos > 65536 and self._pos * 2 > len(self._buffer):
            del self._buffer[: self._pos]
            self._pos = 0
        if self._ack_owed and self._unread() < ACK_BELOW:
            self._ack_owed = False
            await self._okay()
        return data

    async def _okay(self) -> None:
        if not self.peer_closed:
            await self._send(Packet(OKAY, self.local_id, self.remote_id))
