"""The device against a hand-played server over a socket: handshake, refusal, re-chunked
uploads, WRTE sizes bounded by the server's maxdata. The real server is in test_emu_adb.py."""

from __future__ import annotations

import asyncio
import struct
from pathlib import Path

from pytest_mobiledl.emulator import wire
from pytest_mobiledl.emulator.device import Device
from pytest_mobiledl.emulator.farms import open_sandbox
from pytest_mobiledl.emulator.props import DeviceProps
from pytest_mobiledl.emulator.services import shell
from pytest_mobiledl.emulator.wire import CLSE, CNXN, OKAY, OPEN, WRTE, Packet

SERVER_MAXDATA = 4096


class PlayedServer:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def send(self, packet: Packet) -> None:
        self.writer.write(packet.encode())
        await self.writer.drain()

    async def recv(self) -> Packet:
        return await asyncio.wait_for(wire.read_packet(self.reader), 5)

    async def open(self, local_id: int, service: str) -> Packet:
        await self.send(Packet(OPEN, local_id, 0, service.encode() + b"\0"))
        return await self.recv()

    async def upload(self, device_id: int, local_id: int, data: bytes, piece: int) -> None:
        """Send `data` re-chunked into WRTEs of `piece` bytes, one in flight at a time."""
        for start in range(0, len(data), piece):
            await self.send(Packet(WRTE, local_id, device_id, data[start : start + piece]))
            assert (await self.recv()).command == OKAY

    async def reply(self, device_id: int, local_id: int, end: bytes) -> list[bytes]:
        """WRTE payloads up to one ending with `end`, acknowledging each."""
        payloads: list[bytes] = []
        while not payloads or not payloads[-1].endswith(end):
            packet = await self.recv()
            assert packet.command == WRTE
            payloads.append(packet.data)
            await self.send(Packet(OKAY, local_id, device_id))
        return payloads

    async def download(self, device_id: int, local_id: int) -> list[bytes]:
        """Every WRTE payload until the device closes, acknowledging each."""
        payloads = []
        while (packet := await self.recv()).command != CLSE:
            assert packet.command == WRTE
            payloads.append(packet.data)
            await self.send(Packet(OKAY, local_id, device_id))
        return payloads


async def _session(tmp_path: Path, replies: list[list[bytes]]) -> tuple[bytes, Packet, bytes, list[bytes]]:
    props = DeviceProps()
    device = Device(props, open_sandbox(tmp_path / "dev", props, mode="rewrite"))
    await device.start()
    try:
        server = PlayedServer(*await asyncio.open_connection("127.0.0.1", device.port))
        await server.send(Packet(CNXN, wire.VERSION, SERVER_MAXDATA, b"host::features=shell_v2"))
        banner = (await server.recv()).data
        refused = await server.open(5, "no-such-service:")

        opened = await server.open(6, "sync:")
        assert opened.command == OKAY and opened.arg1 == 6
        content = bytes(range(256)) * 40
        request = b"SEND" + struct.pack("<I", 26) + b"/data/local/tmp/up.bin,420"
        request += b"DATA" + struct.pack("<I", len(content)) + content + b"DONE" + struct.pack("<I", 1700000000)
        await server.upload(opened.arg0, 6, request, piece=7)  # boundaries fall mid-header
        status = (await server.recv()).data
        assert (tmp_path / "dev/root/data/local/tmp/up.bin").read_bytes() == content
        await server.send(Packet(OKAY, 6, opened.arg0))
        # Records fill WRTEs whole: one WRTE per record stalls on Nagle's algorithm, a split
        # record breaks adbutils' bare fixed-size recv.
        path = b"/data/local/tmp"
        await server.upload(opened.arg0, 6, b"LIST" + struct.pack("<I", len(path)) + path, 64)
        replies.append(await server.reply(opened.arg0, 6, b"DONE" + b"\0" * 16))
        path += b"/up.bin"
        await server.upload(opened.arg0, 6, b"RECV" + struct.pack("<I", len(path)) + path, 64)
        replies.append(await server.reply(opened.arg0, 6, b"DONE\0\0\0\0"))

        opened = await server.open(7, "shell,v2,raw:head -c 10000 /dev/zero; exit 5")
        payloads = await server.download(opened.arg0, 7)
        return banner, refused, status, payloads
    finally:
        await device.stop()


def test_device_side_of_the_protocol(tmp_path: Path) -> None:
    replies: list[list[bytes]] = []
    banner, refused, status, payloads = asyncio.run(_session(tmp_path, replies))
    assert banner.startswith(b"device::ro.product.name=loopback;ro.product.model=Loopback 8;")
    assert banner.endswith(b"features=shell_v2,cmd,stat_v2,fixed_push_mkdir")
    assert (refused.command, refused.arg0, refused.arg1) == (CLSE, 0, 5)
    assert status == b"OKAY\0\0\0\0"
    listing, download = replies
    assert len(listing) == 1 and listing[0].count(b"DENT") == 3  # ., .., up.bin
    assert [len(payload) for payload in download] == [4096, 4096, 2080]  # 2 x DATA 4088, DATA 2064 + DONE
    assert all(payload.startswith(b"DATA") for payload in download)
    assert b"".join(download)[-8:] == b"DONE\0\0\0\0"
    assert max(len(payload) for payload in payloads) <= SERVER_MAXDATA
    stream = b"".join(payloads)
    stdout, position, code = b"", 0, None
    while position < len(stream):
        kind, length = struct.unpack("<BI", stream[position : position + 5])
        data = stream[position + 5 : position + 5 + length]
        position += 5 + length
        if kind == shell.STDOUT:
            stdout += data
        elif kind == shell.EXIT:
            code = data[0]
    assert stdout == b"\0" * 10000
    assert code == 5
