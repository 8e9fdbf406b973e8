"""A loopback Android device: the device side of ADB on 127.0.0.1, for the real adb server.

The server connects (`adb connect 127.0.0.1:PORT`) and sends CNXN; the device answers CNXN
straight away (no AUTH) and then serves the streams the server OPENs. Each accepted connection is
one transport; the server makes a new one after a drop.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from pytest_mobiledl.emulator import wire
from pytest_mobiledl.emulator.errors import EmulatorError, StreamClosed, WireError
from pytest_mobiledl.emulator.faults import Faults
from pytest_mobiledl.emulator.props import DeviceProps
from pytest_mobiledl.emulator.sandbox import Sandbox
from pytest_mobiledl.emulator.services import route
from pytest_mobiledl.emulator.services.context import Context, Service
from pytest_mobiledl.emulator.streams import Stream
from pytest_mobiledl.emulator.sysfs import Sysfs
from pytest_mobiledl.emulator.wire import CLSE, CNXN, OKAY, OPEN, WRTE, Packet

log = logging.getLogger(__name__)

# Only what is implemented: no delayed_ack, sendrecv_v2 or ls_v2. `cmd` changes only how `adb
# install` talks to the package manager, which this device has in neither form.
FEATURES = ("shell_v2", "cmd", "stat_v2", "fixed_push_mkdir")
# The adb server takes odd ports 5555-5585 for emulators; port 0 lands far from them.
_EMULATOR_PORTS = range(5554, 5586)


class Device:
    def __init__(self, props: DeviceProps, sandbox: Sandbox) -> None:
        self.props = props
        self.sandbox = sandbox
        self.faults = Faults()
        #: The thermal zones, clocks and battery its /sys shows; programmable (sysfs.py).
        self.sysfs = Sysfs(sandbox.layout, props)
        self.port = 0
        self.context = Context(sandbox, self.faults, watchers=[self.sysfs.saw_command])
        self._connections: set[Connection] = set()
        self._server: asyncio.AbstractServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def serial(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        for _ in range(10):
            server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
            port = server.sockets[0].getsockname()[1]
            if port not in _EMULATOR_PORTS:
                break
            server.close()
        else:
            raise EmulatorError("no free port outside the emulator range 5554-5585")
        self._server, self.port, self._loop = server, port, asyncio.get_running_loop()
        self.sysfs.start()

    async def stop(self) -> None:
        self.sysfs.stop()
        if self._server:
            self._server.close()
            await self._server.wait_closed()
        for connection in list(self._connections):
            await connection.close()
        self.context.kill_commands()
        # Waits for the holder and deletes a tree: off the loop, which other devices share.
        await asyncio.get_running_loop().run_in_executor(None, self.sandbox.close)

    # -- one-shot faults; callable from any thread ---------------------------------------------
    def drop(self) -> None:
        """Close the transport now, as a pulled cable: running commands die, the server sees the
        device go offline and reconnects unless `faults.offline` is set."""
        loop = self._loop
        if loop is None:
            raise EmulatorError(f"device {self.serial} is not running")
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            raise EmulatorError("Device.drop() blocks: from the device's own loop, await drop_now()")
        asyncio.run_coroutine_threadsafe(self.drop_now(), loop).result(timeout=10)

    async def drop_now(self) -> None:
        for connection in list(self._connections):
            await connection.close()

    def kill_commands(self, sig: int = signal.SIGKILL) -> int:
        """Signal every running command's process group; a shell,v2 client sees exit 128+sig."""
        return self.context.kill_commands(sig)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.faults.offline:
            writer.close()
            return
        connection = Connection(self, reader, writer)
        self._connections.add(connection)
        try:
            await connection.run()
        finally:
            self._connections.discard(connection)


class Connection:
    """One transport: the packet loop and the streams opened on it."""

    def __init__(self, device: Device, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.device = device
        self.reader = reader
        self.writer = writer
        self.max_payload = 4096  # until the server's CNXN says more
        self._streams: dict[int, Stream] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._next_id = 1

    async def run(self) -> None:
        try:
            while True:
                await self._dispatch(await wire.read_packet(self.reader))
        except (asyncio.IncompleteReadError, ConnectionError, WireError) as error:
            log.debug("%s: transport ended: %s", self.device.serial, error)
        finally:
            await self.close()

    async def close(self) -> None:
        for task in list(self._tasks.values()):
            task.cancel()
        self.writer.close()

    async def send(self, packet: Packet) -> None:
        if self.writer.is_closing():
            raise StreamClosed("transport closed")
        self.writer.write(packet.encode())
        await self.writer.drain()

    async def _dispatch(self, packet: Packet) -> None:
        if packet.command == CNXN:
            self.max_payload = min(packet.arg1, wire.MAX_PAYLOAD)
            banner = wire.connect_banner(dict(self.device.props.properties), FEATURES)
            await self.send(Packet(CNXN, wire.VERSION, wire.MAX_PAYLOAD, banner))
        elif packet.command == OPEN:
            self._open(packet.arg0, packet.data.rstrip(b"\0").decode(errors="replace"))
        elif packet.command == OKAY and packet.arg1 in self._streams:
            self._streams[packet.arg1].acked()
        elif packet.command == WRTE and packet.arg1 in self._streams:
            await self._streams[packet.arg1].feed(packet.data)
        elif packet.command == CLSE and packet.arg1 in self._streams:
            self._streams.pop(packet.arg1).feed_close()
            task = self._tasks.pop(packet.arg1, None)
            if task:
                task.cancel()  # the client is gone: stop its command (per-item kill)
        # Anything else (AUTH, STLS, packets for streams already closed) needs no answer.

    def _open(self, remote_id: int, name: str) -> None:
        faults = self.device.faults
        if faults.drop_on_open and name.startswith(faults.drop_on_open):
            log.info("%s: fault: dropping transport on OPEN %s", self.device.serial, name)
            self.writer.close()
            return
        local_id, self._next_id = self._next_id, self._next_id + 1
        stream = Stream(local_id, remote_id, self.send, self.max_payload)
        self._streams[local_id] = stream
        self._tasks[local_id] = asyncio.ensure_future(self._serve(stream, name, route(name)))

    async def _serve(self, stream: Stream, name: str, service: Service | None) -> None:
        try:
            if self.device.faults.open_delay_s > 0:
                await asyncio.sleep(self.device.faults.open_delay_s)
            if service is None:
                log.info("%s: refusing service %r", self.device.serial, name)
                stream.peer_closed = True  # refused: the server expects CLSE(0, id), not ours
                await self.send(Packet(CLSE, 0, stream.remote_id))
                return
            await self.send(Packet(OKAY, stream.local_id, stream.remote_id))
            await service(stream, self.device.context)
        except StreamClosed:
            pass
        except Exception:
            log.exception("%s: service %r failed", self.device.serial, name)
        finally:
            self._streams.pop(stream.local_id, None)
            self._tasks.pop(stream.local_id, None)
            if not self.writer.is_closing():
                try:
                    await stream.close()
                except (StreamClosed, ConnectionError):
                    pass
