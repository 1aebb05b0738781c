"""The socketio stack: events, acknowledgements, rooms, both transports, and its own protocol."""

from __future__ import annotations

import concurrent.futures
import json
import time
import urllib.request

import pytest
import socketio

import labkit
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
    assert first_request.detail == "GET /socket.io/?transport=polling&EIO=4"  # without the t= cache buster
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
            assert opening.startswith('0{"sid":') and '"pingInterval":25000' in opening
            ws.send("40")
            assert ws.recv(timeout=3).startswith('40{"sid":')
            ws.send('421["echo","hola"]')
            assert ws.recv(timeout=3) == '431["hola"]'


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
            pending = pool.submit(lambda: urllib.request.urlopen(session, timeout=20).read())
            time.sleep(0.2)  # the long poll is now waiting on the server
            start = time.monotonic()
            urllib.request.urlopen(urllib.request.Request(session, data=goodbye.encode(), method="POST"), timeout=5)
            answer = pending.result(timeout=20)
        assert time.monotonic() - start < 2, "the pending GET waited for the next ping"
        assert set(answer.split(b"\x1e")) <= {b"1", b"6"}  # Engine.IO close and/or no-op: the poll ends
        assert wait_for(lambda: server.record.count("close") == 1)


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
