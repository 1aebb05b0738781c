"""What both WebSocket stacks (the websockets library and labkit's own) must do alike."""

from __future__ import annotations

import asyncio
import functools
import json
import socket
import time

import pytest
from websockets.asyncio.client import ClientConnection

import labkit
from labkit.servers.scratch import ScratchBackend
from labkit.servers.websocket import WebSocketBackend
from tests.conftest import wait_for

STACKS = ["websocket", "scratch"]

HANDSHAKE = (
    "GET / HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


@pytest.mark.parametrize("stack", STACKS)
def test_bad_clients_never_stop_a_good_one(stack: str) -> None:
    with labkit.serve("echo", over=stack) as server, labkit.ws_connect(server.url) as good:
        for i in range(20):
            junk = socket.create_connection((server.host, server.port))
            junk.sendall(b"\x00" * i + b"\r\n\r\n")
            good.send(f"still here {i}")
            assert good.recv(timeout=2) == f"still here {i}"
            junk.close()


def stalled_reader(server: labkit.Server) -> socket.socket:
    """A client that finishes the handshake and then never reads again (a tiny receive buffer)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((server.host, server.port))
    sock.sendall(HANDSHAKE.format(host=f"{server.host}:{server.port}").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101")
    return sock


@pytest.mark.parametrize("stack", STACKS)
def test_a_flood_to_readers_that_never_read_drops_them_and_spares_the_others(stack: str) -> None:
    """One sender as fast as it can, readers that stopped reading, readers that keep up.

    The stalled ones are dropped with 1008 once their unsent bytes pass ``max_buffer``
    (memory stays bounded); the good readers get every message, in order.
    """
    # Few enough messages that the bounded record keeps every entry; big enough to fill the
    # stalled readers' kernel buffers and then max_buffer. The sender waits for the good
    # readers every 4 messages, so that on a busy machine they never fall max_buffer behind.
    messages, size, limit = 120, 100_000, 2**20
    with labkit.serve("chat", over=stack, max_buffer=limit) as server:
        stalled = [stalled_reader(server) for _ in range(5)]

        async def run() -> list[list[int]]:
            good = [await labkit.ws_connect_async(server.url, max_queue=None) for _ in range(3)]
            sender = await labkit.ws_connect_async(server.url)
            assert await asyncio.to_thread(wait_for, lambda: server.record.count("open") == 9)
            seen: list[list[int]] = [[] for _ in good]

            async def read_all(ws: ClientConnection, into: list[int]) -> list[int]:
                while len(into) < messages:
                    message = json.loads(await ws.recv())
                    into.append(int(message["text"].split(":")[0]))
                return into

            readers = [asyncio.create_task(read_all(ws, into)) for ws, into in zip(good, seen, strict=True)]
            for i in range(messages):
                await sender.send(f"{i}:" + "x" * size)
                if i % 4 == 3:
                    while min(map(len, seen)) <= i:
                        await asyncio.sleep(0.001)
            got = await asyncio.gather(*readers)
            for ws in [*good, sender]:
                await ws.close()
            return got

        received = asyncio.run(asyncio.wait_for(run(), 60))
        assert all(seen == list(range(messages)) for seen in received)
        assert wait_for(lambda: len([e for e in server.record.entries("error") if "too slow" in e.detail]) == 5)
        backend = server._backend
        if stack == "websocket":
            assert isinstance(backend, WebSocketBackend)
            buffered = sum(conn.transport.get_write_buffer_size() for conn in backend.live)
        else:
            assert isinstance(backend, ScratchBackend)
            live = [ws for ws in backend.tasks.values() if ws is not None]
            buffered = sum(conn.writer.transport.get_write_buffer_size() for conn in live)
        assert buffered <= 4 * limit, f"{buffered} bytes still buffered"
        for sock in stalled:
            sock.close()
    closes = [e.detail for e in server.record.entries("close")]
    assert sum("sent 1008 (policy violation) 'reader too slow'" in c for c in closes) == 5, closes


@pytest.mark.parametrize("stack", STACKS)
def test_stop_takes_under_two_seconds_whatever_the_clients_do(stack: str) -> None:
    server = labkit.serve("echo", over=stack)
    mid_handshake = socket.create_connection((server.host, server.port))
    mid_handshake.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # and never the rest
    deaf = stalled_reader(server)  # will never answer the server's close
    time.sleep(0.1)
    started = time.monotonic()
    server.stop()
    took = time.monotonic() - started
    mid_handshake.close()
    deaf.close()
    assert took < 3.0, f"stop() took {took:.1f} s"


@pytest.mark.parametrize("stack", STACKS)
def test_a_failing_handler_is_recorded_and_only_its_connection_closes_with_1011(stack: str) -> None:
    with labkit.serve("echo", over=stack) as server:
        backend = server._backend
        assert isinstance(backend, WebSocketBackend | ScratchBackend)
        app_handler = backend.handler

        async def sometimes_fails(ws: object) -> None:
            if ws.request.path == "/broken":  # type: ignore[attr-defined]
                raise RuntimeError("my handler broke")
            await app_handler(ws)

        backend.handler = sometimes_fails
        with pytest.raises(Exception) as closed:
            with labkit.ws_connect(server.url + "/broken") as ws:
                ws.recv(timeout=3)
        assert "1011" in str(closed.value)
        with labkit.ws_connect(server.url) as ws:
            ws.send("¿sigues ahí?")
            assert ws.recv(timeout=3) == "¿sigues ahí?"
    errors = repr(server.record.errors())
    assert "the handler failed: RuntimeError('my handler broke')" in errors and "Traceback" in errors


@pytest.mark.parametrize(("code", "reason"), [(1000, ""), (1001, "bye"), (3000, "lib"), (4000, "done"), (4999, "")])
def test_both_stacks_record_a_close_in_the_same_words(code: int, reason: str) -> None:
    details = []
    for stack in STACKS:
        with labkit.serve("echo", over=stack) as server:
            with labkit.ws_connect(server.url) as ws:
                ws.close(code, reason)
            assert wait_for(functools.partial(server.record.entries, "close"))
            details.append(server.record.entries("close")[0].detail)
    assert details[0] == details[1]
    assert details[0].startswith(f"received {code} (")
