"""The socketio stack: events, acknowledgements, rooms, both transports, and its own protocol."""

from __future__ import annotations

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
            client.disconnect()
        assert wait_for(lambda: server.record.count("close") == 1)
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


def test_disconnecting_a_polling_client_is_prompt() -> None:
    import time

    with labkit.serve("echo", over="socketio") as server:
        client = labkit.sio_connect(server.url, transports=["polling"])
        start = time.monotonic()
        client.disconnect()
        assert time.monotonic() - start < 3


def test_fractional_ping_settings_are_refused_clearly() -> None:
    with pytest.raises(labkit.LabkitError, match="ping_interval must be a whole number of seconds"):
        labkit.serve("echo", over="socketio", ping_interval=0.5)
    with labkit.serve("echo", over="socketio", ping_interval=1) as server:
        url = server.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        with labkit.ws_connect(url) as ws:
            assert '"pingInterval":1000' in ws.recv(timeout=3)
