"""shell: and exec: (raw bytes, stderr merged into stdout, as adbd runs a command without a PTY)
and shell,v2: (packets [u8 id][u32 len][data] carrying stdin, stdout, stderr and the exit code).

A command whose stream the server closes (its client timed out or went away) is killed with its
whole process group, as a phone kills a shell whose adb connection dropped.
"""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import struct
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from pytest_mobiledl.emulator.errors import StreamClosed
from pytest_mobiledl.emulator.services.context import Context, Service
from pytest_mobiledl.emulator.streams import Stream

STDIN, STDOUT, STDERR, EXIT, CLOSE_STDIN, WINDOW = range(6)
_HEAD = struct.Struct("<BI")
HEAD_SIZE = _HEAD.size
_READ = 64 * 1024


def encode_packet(kind: int, data: bytes) -> bytes:
    return _HEAD.pack(kind, len(data)) + data


async def read_packet(stream: Stream) -> tuple[int, bytes]:
    kind, length = _HEAD.unpack(await stream.read_exactly(HEAD_SIZE))
    return kind, await stream.read_exactly(length) if length else b""


def exit_code(returncode: int) -> int:
    """One byte, as sh reports it: a command killed by signal N exits 128 + N."""
    return 128 - returncode if returncode < 0 else returncode & 0xFF


def service(cmd: str, v2: bool) -> Service:
    return functools.partial(_run_v2 if v2 else _run_raw, cmd=cmd)


async def _run_raw(stream: Stream, ctx: Context, cmd: str) -> None:
    async with _running(ctx, cmd, stderr=asyncio.subprocess.STDOUT) as proc:
        assert proc.stdout is not None
        await _together(_pump(proc.stdout, stream.max_payload, stream.write), _feed_raw(stream, proc))
        await proc.wait()


async def _run_v2(stream: Stream, ctx: Context, cmd: str) -> None:
    async with _running(ctx, cmd, stderr=asyncio.subprocess.PIPE) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        size = stream.max_payload - HEAD_SIZE  # one packet per WRTE

        async def send_out(data: bytes) -> None:
            await stream.write(encode_packet(STDOUT, data))

        async def send_err(data: bytes) -> None:
            await stream.write(encode_packet(STDERR, data))

        await _together(_pump(proc.stdout, size, send_out), _pump(proc.stderr, size, send_err), _feed_v2(stream, proc))
        code = exit_code(await proc.wait())
    await stream.write(encode_packet(EXIT, bytes([code])))


@asynccontextmanager
async def _running(ctx: Context, cmd: str, stderr: int) -> AsyncIterator[asyncio.subprocess.Process]:
    for watch in ctx.watchers:
        watch(cmd)
    spawn = ctx.sandbox.command(cmd)
    proc = await asyncio.create_subprocess_exec(
        *spawn.argv,
        env=dict(spawn.env),
        cwd=spawn.cwd,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=stderr,
        start_new_session=True,  # its own process group, killed as one
    )
    ctx.commands.add(proc.pid)
    try:
        yield proc
    except BaseException:
        _kill_group(proc.pid)
        raise
    finally:
        ctx.commands.discard(proc.pid)


async def _together(*jobs: Coroutine[Any, Any, None], last: int = 1) -> None:
    """Run jobs until all but the `last` ones (stdin feeders, which wait on the client) finish;
    the first failure cancels the rest."""
    tasks = [asyncio.ensure_future(job) for job in jobs]
    needed = tasks[: len(tasks) - last]
    try:
        await asyncio.gather(*needed)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _pump(source: asyncio.StreamReader, size: int, send: Callable[[bytes], Awaitable[None]]) -> None:
    while chunk := await source.read(size):
        await send(chunk)


async def _feed_raw(stream: Stream, proc: asyncio.subprocess.Process) -> None:
    assert proc.stdin is not None
    try:
        while data := await stream.read(_READ):
            proc.stdin.write(data)
            await proc.stdin.drain()
    except (BrokenPipeError, ConnectionResetError):
        pass  # the command stopped reading: a phone drops the input too


async def _feed_v2(stream: Stream, proc: asyncio.subprocess.Process) -> None:
    assert proc.stdin is not None
    try:
        while True:
            kind, data = await read_packet(stream)
            if kind == STDIN:
                proc.stdin.write(data)
                await proc.stdin.drain()
            elif kind == CLOSE_STDIN:
                proc.stdin.close()
            # WINDOW (terminal size) means nothing without a PTY.
    except (BrokenPipeError, ConnectionResetError, StreamClosed):
        pass


def _kill_group(group: int) -> None:
    try:
        os.killpg(group, signal.SIGKILL)
    except ProcessLookupError:
        pass
