"""The ADB packet format, stream buffering and flow control, shell v2 framing: no server needed."""

from __future__ import annotations

import asyncio
import struct

import pytest

from pytest_mobiledl.emulator import wire
from pytest_mobiledl.emulator.errors import StreamClosed, WireError
from pytest_mobiledl.emulator.services import shell
from pytest_mobiledl.emulator.streams import ACK_BELOW, Stream
from pytest_mobiledl.emulator.wire import CLSE, CNXN, OKAY, OPEN, WRTE, Packet


def test_packet_round_trips_with_magic_and_zero_check() -> None:
    packet = Packet(OPEN, 7, 0, b"shell:ls\0")
    encoded = packet.encode()
    command, arg0, arg1, length, check, magic = struct.unpack("<6I", encoded[:24])
    assert (command, arg0, arg1, length, check) == (OPEN, 7, 0, 9, 0)
    assert magic == OPEN ^ 0xFFFFFFFF
    assert wire.decode(encoded + b"next") == (packet, len(encoded))


def test_decode_waits_for_a_whole_packet() -> None:
    encoded = Packet(WRTE, 1, 2, b"x" * 100).encode()
    assert wire.decode(encoded[:23]) == (None, 0)
    assert wire.decode(encoded[:-1]) == (None, 0)


def test_bad_magic_and_oversized_payload_are_wire_errors() -> None:
    header = bytearray(Packet(OKAY, 1, 2).encode())
    header[20] ^= 1
    with pytest.raises(WireError, match="magic"):
        wire.parse_header(bytes(header))
    huge = struct.pack("<6I", WRTE, 1, 2, wire.MAX_PAYLOAD + 1, 0, WRTE ^ 0xFFFFFFFF)
    with pytest.raises(WireError, match="exceeds"):
        wire.parse_header(huge)


def test_incoming_data_check_is_ignored() -> None:
    encoded = bytearray(Packet(WRTE, 1, 2, b"abc").encode())
    encoded[16:20] = struct.pack("<I", 12345)
    packet, _ = wire.decode(bytes(encoded))
    assert packet == Packet(WRTE, 1, 2, b"abc")


def test_read_packet_from_a_byte_stream() -> None:
    async def scenario() -> list[Packet]:
        reader = asyncio.StreamReader()
        data = Packet(CNXN, wire.VERSION, 4096, b"host::").encode() + Packet(CLSE, 3, 4).encode()
        for index in range(0, len(data), 5):  # arrives in odd pieces
            reader.feed_data(data[index : index + 5])
        return [await wire.read_packet(reader), await wire.read_packet(reader)]

    assert asyncio.run(scenario()) == [Packet(CNXN, wire.VERSION, 4096, b"host::"), Packet(CLSE, 3, 4)]


def test_banner_carries_product_properties_and_features() -> None:
    banner = wire.connect_banner(
        {"ro.product.name": "n", "ro.product.model": "m", "ro.product.device": "d", "other": "x"},
        ("shell_v2", "stat_v2"),
    )
    assert banner == b"device::ro.product.name=n;ro.product.model=m;ro.product.device=d;features=shell_v2,stat_v2"


class Peer:
    """The server side of one stream: records what the device sends."""

    def __init__(self) -> None:
        self.sent: list[Packet] = []

    async def send(self, packet: Packet) -> None:
        self.sent.append(packet)

    def commands(self) -> list[int]:
        return [packet.command for packet in self.sent]


def test_reads_span_rechunked_writes() -> None:
    async def scenario() -> tuple[bytes, bytes, bytes, list[int]]:
        peer = Peer()
        stream = Stream(1, 9, peer.send, 4096)
        for piece in (b"DA", b"TA\x05\x00", b"\x00\x00hel", b"lo", b"QUIT"):
            await stream.feed(piece)
        return await stream.read_exactly(4), await stream.read_exactly(4), await stream.read_exactly(5), peer.commands()

    name, length, data, acks = asyncio.run(scenario())
    assert (name, length, data) == (b"DATA", b"\x05\x00\x00\x00", b"hello")
    assert acks == [OKAY] * 5  # one OKAY per WRTE


def test_okay_is_held_back_while_the_reader_is_behind() -> None:
    async def scenario() -> tuple[int, int]:
        peer = Peer()
        stream = Stream(1, 9, peer.send, wire.MAX_PAYLOAD)
        await stream.feed(b"x" * ACK_BELOW)
        held = len(peer.sent)
        await stream.read_exactly(ACK_BELOW)
        return held, len(peer.sent)

    assert asyncio.run(scenario()) == (0, 1)


def test_write_splits_at_max_payload_and_waits_for_each_okay() -> None:
    async def scenario() -> tuple[list[int], list[int]]:
        peer = Peer()
        stream = Stream(1, 9, peer.send, 1000)
        writing = asyncio.ensure_future(stream.write(b"y" * 2500))
        await asyncio.sleep(0)
        first = [len(packet.data) for packet in peer.sent]
        for _ in range(3):
            stream.acked()
            await asyncio.sleep(0)
        await writing
        return first, [len(packet.data) for packet in peer.sent]

    first, done = asyncio.run(scenario())
    assert first == [1000]  # the second waits for OKAY
    assert done == [1000, 1000, 500]


def test_server_close_ends_reads_and_writes() -> None:
    async def scenario() -> None:
        peer = Peer()
        stream = Stream(1, 9, peer.send, 1000)
        await stream.feed(b"ab")
        stream.feed_close()
        assert await stream.read(10) == b"ab"
        assert await stream.read(10) == b""
        with pytest.raises(StreamClosed):
            await stream.read_exactly(1)
        with pytest.raises(StreamClosed):
            await stream.write(b"z")
        await stream.close()
        assert CLSE not in peer.commands()  # the server closed first: no CLSE owed

    asyncio.run(scenario())


def test_shell_v2_packets_decode_across_chunks() -> None:
    async def scenario() -> list[tuple[int, bytes]]:
        stream = Stream(1, 9, Peer().send, 4096)
        data = (
            shell.encode_packet(shell.STDIN, b"input")
            + shell.encode_packet(shell.CLOSE_STDIN, b"")
            + shell.encode_packet(shell.EXIT, b"\x03")
        )
        for index in range(0, len(data), 3):
            await stream.feed(data[index : index + 3])
        return [await shell.read_packet(stream) for _ in range(3)]

    assert asyncio.run(scenario()) == [(shell.STDIN, b"input"), (shell.CLOSE_STDIN, b""), (shell.EXIT, b"\x03")]


def test_shell_v2_packet_layout() -> None:
    assert shell.encode_packet(shell.STDOUT, b"hi") == b"\x01\x02\x00\x00\x00hi"


@pytest.mark.parametrize(("returncode", "code"), [(0, 0), (3, 3), (256 + 7, 7), (-9, 137), (-15, 143)])
def test_exit_code_is_one_byte_with_signals_as_128_plus(returncode: int, code: int) -> None:
    assert shell.exit_code(returncode) == code
