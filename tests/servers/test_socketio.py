"""The socketio stack: events, acknowledgements, rooms, both transports, and its own protocol."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import socket
import urllib.request

import pytest
import socketio

import labkit
from labkit.servers.socketio import SocketIOBackend
from tests.conftest import wait_for


@pytest.mark.parametrize("transports", [None, ["polling"]])
def test_echo_event_is_acknowledged_with_the_same_data(transports: list[str] | None) -> None:
    with labkit.serve("echo", over="socketio") as server:
        client = labkit.sio_connect(server.url, transports=transports)
        try:
            assert client.call("echo", {"a": [1, "dos"]}, timeout=5) == {"a": [1, "dos"]}
            client.emit("echo", "no ack asked")
            assert client.call("echo", "last", timeout=5) == "last"
        finally:
            server.stop()  # its close packet ends a polling client's pending GET: disconnect is prompt
            client.disconnect()
    assert server.record.count("close") == 1
    first_request = server.record.entries("request")[0]
    # without the t= cache buster, with the header count
    assert first_request.detail.startswith("GET /socket.io/?transport=polling&EIO=4 (")
    assert "&t=" in first_request.data.start_line
    acks = [e.detail for e in server.record.entries("send")]
    assert acks == ["ack: {'a': [1, 'dos']}", "ack: 'last'"]
    assert (transports is None) == ("over websocket" in server.record.entries("open")[0].detail)


def test_clock_pushes_events_without_being_asked() -> None:
    with labkit.serve("clock", over="socketio", interval=0.05) as server:
        client = labkit.sio_connect(server.url)
        try:
            events = [client.receive(timeout=3) for _ in range(3)]
        finally:
            client.disconnect()
    assert [name for name, _ in events] == ["clock"] * 3
    assert [t for _, t in events] == sorted(t for _, t in events)


def test_chat_reaches_others_and_rooms_limit_it() -> None:
    with labkit.serve("chat", over="socketio") as server:
        a, b = labkit.sio_connect(server.url), labkit.sio_connect(server.url, transports=["polling"])
        c = labkit.sio_connect(server.url)
        try:
            assert a.call("join", "sala", timeout=5) == ["sala"]
            assert b.call("join", "sala", timeout=5) == ["sala"]
            a.emit("chat", "hola")
            assert b.receive(timeout=3) == ["chat", {"from": 1, "text": "hola"}]
            assert c.receive(timeout=3) == ["chat", {"from": 1, "text": "hola"}]
            a.emit("chat", {"room": "sala", "text": "solo sala"})
            assert b.receive(timeout=3) == ["chat", {"from": 1, "text": "solo sala", "room": "sala"}]
            with pytest.raises(socketio.exceptions.TimeoutError):
                c.receive(timeout=0.3)
            assert b.call("leave", "sala", timeout=5) == []
        finally:
            server.stop()  # ends b's pending long poll, so its disconnect is prompt
            for client in (a, b, c):
                client.disconnect()


def test_plain_websocket_client_sees_engineio_and_socketio_packets() -> None:
    with labkit.serve("echo", over="socketio") as server:
        url = server.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        with labkit.ws_connect(url) as ws:
            opening = ws.recv(timeout=3)
            assert isinstance(opening, str) and opening.startswith('0{"sid":') and '"pingInterval":25000' in opening
            ws.send("40")
            connected = ws.recv(timeout=3)
            assert isinstance(connected, str) and connected.startswith('40{"sid":')
            ws.send('421["echo","hola"]')
            assert ws.recv(timeout=3) == '431["hola"]'


def burst_server() -> socketio.AsyncServer:
    """Emits ``n`` events to whoever asks, all queued before the client's next GET."""
    sio = socketio.AsyncServer(async_mode="aiohttp")

    async def burst(sid: str, n: int) -> None:
        for i in range(n):
            await sio.emit("n", i, to=sid)

    sio.on("burst", burst)
    return sio


def test_a_long_poll_carries_at_most_what_a_python_client_decodes() -> None:
    """python-engineio's client drops a payload of over 16 packets ("Too many packets in payload")."""
    with labkit.serve(burst_server(), over="socketio") as server:
        base = server.url + "/socket.io/?EIO=4&transport=polling"
        with urllib.request.urlopen(base, timeout=5) as response:
            sid = json.loads(response.read().decode()[1:])["sid"]
        session = f"{base}&sid={sid}"
        urllib.request.urlopen(urllib.request.Request(session, data=b"40", method="POST"), timeout=5).read()
        assert urllib.request.urlopen(session, timeout=5).read().startswith(b"40{")
        burst = b'42["burst",40]'
        urllib.request.urlopen(urllib.request.Request(session, data=burst, method="POST"), timeout=5).read()
        assert isinstance(server._backend, SocketIOBackend)
        queue = server._backend.sio.eio.sockets[sid].queue
        assert wait_for(lambda: queue.qsize() == 40)  # all queued while no GET was waiting
        answers: list[list[bytes]] = []
        while sum(map(len, answers)) < 40:
            answers.append(urllib.request.urlopen(session, timeout=5).read().split(b"\x1e"))
    assert [len(answer) for answer in answers] == [16, 16, 8]
    assert [packet for answer in answers for packet in answer] == [b'42["n",%d]' % i for i in range(40)]


def test_a_python_client_on_long_polling_keeps_its_session_through_a_burst() -> None:
    with labkit.serve(burst_server(), over="socketio") as server:
        client = socketio.SimpleClient()
        client.connect(server.url, transports=["polling"])
        try:
            session = client.client.eio.sid
            client.emit("burst", 100)
            assert [client.receive(timeout=5)[1] for _ in range(100)] == list(range(100))
            assert client.client.eio.sid == session  # never dropped and reconnected
        finally:
            client.disconnect()
        assert server.record.count("open") == 1


@pytest.mark.parametrize("goodbye", ["41", "1"])
def test_a_polling_clients_goodbye_answers_its_pending_get_at_once(goodbye: str) -> None:
    """Engine.IO alone would leave the long poll hanging until the next ping (25 s)."""
    with labkit.serve("echo", over="socketio") as server:
        base = server.url + "/socket.io/?EIO=4&transport=polling"
        with urllib.request.urlopen(base, timeout=5) as response:
            sid = json.loads(response.read().decode()[1:])["sid"]
        session = f"{base}&sid={sid}"
        urllib.request.urlopen(urllib.request.Request(session, data=b"40", method="POST"), timeout=5).read()
        assert urllib.request.urlopen(session, timeout=5).read().startswith(b"40{")
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pending = pool.submit(lambda: urllib.request.urlopen(session, timeout=30).read())
            assert wait_for(lambda: _polls_waiting(server) == 1)  # the long poll now waits on the server
            urllib.request.urlopen(urllib.request.Request(session, data=goodbye.encode(), method="POST"), timeout=5)
            # Without labkit's fix the GET waits for the next ping, 25 s away.
            answer = pending.result(timeout=10)
        assert set(answer.split(b"\x1e")) <= {b"1", b"6"}  # Engine.IO close and/or no-op: the poll ends
        assert wait_for(lambda: server.record.count("close") == 1)


def _polls_waiting(server: labkit.Server) -> int:
    """Long-polling GETs the server holds open (python-engineio's sockets waiting on their queue)."""
    assert isinstance(server._backend, SocketIOBackend)
    eio = server._backend.sio.eio
    return sum(1 for socket in eio.sockets.values() if socket.queue._getters)


def test_fractional_ping_settings_are_refused_clearly() -> None:
    with pytest.raises(labkit.LabkitError, match="ping_interval must be a whole number of seconds"):
        labkit.serve("echo", over="socketio", ping_interval=0.5)
    with labkit.serve("echo", over="socketio", ping_interval=1) as server:
        url = server.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        with labkit.ws_connect(url) as ws:
            assert '"pingInterval":1000' in ws.recv(timeout=3)


def test_garbage_gets_400_and_the_server_keeps_serving() -> None:
    with labkit.serve("echo", over="socketio") as server:
        junks = (
            b"garbage\r\n\r\n",
            b"\x16\x03\x01\x00\x05hello",  # a TLS hello sent to a plain HTTP port
            b"GET /socket.io/?EIO=9&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n",  # no such Engine.IO version
        )
        for junk in junks:
            status_line = labkit.raw_exchange(server.url, junk).split(b"\r\n")[0]
            assert status_line in (b"HTTP/1.0 400 Bad Request", b"HTTP/1.1 400 Bad Request"), status_line
        client = labkit.sio_connect(server.url)
        try:
            assert client.call("echo", "still here", timeout=5) == "still here"
        finally:
            client.disconnect()


def stalled_socketio_reader(server: labkit.Server) -> socket.socket:
    """A Socket.IO client over WebSocket that joins and then never reads again."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((server.host, server.port))
    sock.sendall(
        f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {server.host}:{server.port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    received = b""
    while b'"maxPayload"' not in received:
        received += sock.recv(4096)
    key = b"\x01\x02\x03\x04"
    sock.sendall(bytes([0x81, 0x82]) + key + bytes(b ^ key[i % 4] for i, b in enumerate(b"40")))  # join "/"
    return sock


def test_a_flood_to_readers_that_never_read_disconnects_them_and_spares_the_others() -> None:
    """python-engineio queues without limit; labkit disconnects a session past ``max_queue`` packets."""
    messages, limit = 400, 100  # few enough that the bounded record keeps every entry
    with labkit.serve("chat", over="socketio", max_queue=limit) as server:
        stalled = [stalled_socketio_reader(server) for _ in range(3)]
        assert wait_for(lambda: server.record.count("open") == 3)

        async def run() -> list[list[int]]:
            got: list[list[int]] = [[], []]
            done = asyncio.Event()
            readers = []
            for i in range(2):
                client = socketio.AsyncClient()

                def on_chat(data: dict[str, str], seen: list[int] = got[i]) -> None:
                    seen.append(int(data["text"].split(":")[0]))
                    if all(len(g) == messages for g in got):
                        done.set()

                client.on("chat", on_chat)
                await client.connect(server.url, transports=["websocket"])
                readers.append(client)
            sender = socketio.AsyncClient()
            await sender.connect(server.url, transports=["websocket"])
            for n in range(messages):
                await sender.emit("chat", f"{n}:" + "x" * 40_000)
            await asyncio.wait_for(done.wait(), 60)
            for client in [*readers, sender]:
                await client.disconnect()
            return got

        got = asyncio.run(run())
        assert got == [list(range(messages))] * 2
        slow = [e for e in server.record.entries("error") if "too slow" in e.detail]
        assert len(slow) == 3
        assert isinstance(server._backend, SocketIOBackend)
        eio = server._backend.sio.eio
        assert all(s.queue.qsize() <= limit for s in eio.sockets.values())
        for sock in stalled:
            sock.close()
