"""ADB transport packets: the 24-byte header and its payload (AOSP protocol.txt)."""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass

from pytest_mobiledl.emulator.errors import WireError

CNXN = 0x4E584E43
AUTH = 0x48545541
OPEN = 0x4E45504F
OKAY = 0x59414B4F
CLSE = 0x45534C43
WRTE = 0x45545257
STLS = 0x534C5453

NAMES = {CNXN: "CNXN", AUTH: "AUTH", OPEN: "OPEN", OKAY: "OKAY", CLSE: "CLSE", WRTE: "WRTE", STLS: "STLS"}

# From this version on, data_check is sent as 0 and never checked.
VERSION = 0x01000001
# What the device accepts per WRTE; the server announces its own in its CNXN.
MAX_PAYLOAD = 1024 * 1024

_HEADER = struct.Struct("<6I")
HEADER_SIZE = _HEADER.size


@dataclass(frozen=True)
class Packet:
    command: int
    arg0: int
    arg1: int
    data: bytes = b""

    def __post_init__(self) -> None:
        if self.command not in NAMES:
            raise WireError(f"unknown ADB command 0x{self.command:08x}")

    def encode(self) -> bytes:
        header = _HEADER.pack(self.command, self.arg0, self.arg1, len(self.data), 0, self.command ^ 0xFFFFFFFF)
        return header + self.data

    def __repr__(self) -> str:
        return f"Packet({NAMES[self.command]}, {self.arg0}, {self.arg1}, {self.data[:32]!r}+{len(self.data)})"


def parse_header(header: bytes) -> tuple[int, int, int, int]:
    """(command, arg0, arg1, data_length) of a header; the byte-sum check is ignored on purpose."""
    command, arg0, arg1, length, _check, magic = _HEADER.unpack(header)
    if magic != command ^ 0xFFFFFFFF:
        raise WireError(f"bad packet magic 0x{magic:08x} for command 0x{command:08x}")
    if length > MAX_PAYLOAD:
        raise WireError(f"packet payload of {length} bytes exceeds {MAX_PAYLOAD}")
    return command, arg0, arg1, length


def decode(buffer: bytes) -> tuple[Packet | None, int]:
    """The first whole packet in `buffer` and the bytes it used, or (None, 0) if it is incomplete."""
    if len(buffer) < HEADER_SIZE:
        return None, 0
    command, arg0, arg1, length = parse_header(buffer[:HEADER_SIZE])
    end = HEADER_SIZE + length
    if len(buffer) < end:
        return None, 0
    return Packet(command, arg0, arg1, bytes(buffer[HEADER_SIZE:end])), end


async def read_packet(reader: asyncio.StreamReader) -> Packet:
    """Next packet from the server; raises IncompleteReadError when the connection ends."""
    command, arg0, arg1, length = parse_header(await reader.readexactly(HEADER_SIZE))
    data = await reader.readexactly(length) if length else b""
    return Packet(command, arg0, arg1, data)


def connect_banner(properties: dict[str, str], features: tuple[str, ...]) -> bytes:
    """The device's CNXN payload; `adb devices -l` shows these three properties."""
    shown = ("ro.product.name", "ro.product.model", "ro.product.device")
    props = "".join(f"{key}={properties.get(key, '')};" for key in shown)
    return f"device::{props}features={','.join(features)}".encode()
