"""The websocket stack: the apps' meanings, the record, and bad input that never stops it."""

from __future__ import annotations

import json
import socket

import pytest
from websockets.exceptions import ConnectionClosedOK

import labkit
from tests.conftest import wait_for

HANDSHAKE = (
    "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def status_of(server: labkit.Server, data: bytes | str) -> bytes:
    with labkit.RawSocket(server.url) as raw:
        raw.send(data)
        return raw.recv_until(b"\r\n").rstrip()


def test_echo_returns_text_as_text_and_binary_as_binary() -> None:
    with labkit.serve("echo", over="websocket") as server, labkit.ws_connect(server.url) as ws:
        ws.send("¡hola!")
        assert ws.recv() == "¡hola!"
        ws.send(b"\x00\xff")
        assert ws.recv() == b"\x00\xff"
    kinds = [(e.kind, e.direction, e.data) for e in server.record if e.kind in ("recv", "send")]
    assert kinds == [
        ("recv", "C→S", "¡hola!"),
        ("send", "S→C", "¡hola!"),
        ("recv", "C→S", b"\x00\xff"),
        ("send", "S→C", b"\x00\xff"),
    ]


def test_record_shows_handshake_and_close_codes() -> None:
    with labkit.serve("echo", over="websocket") as server:
        with labkit.ws_connect(server.url) as ws:
            ws.close(code=1001, reason="bye")
        assert wait_for(lambda: server.record.entries("close"))
        closes = server.record.entries("close")
    kinds = [e.kind for e in server.record]
    assert kinds[:3] == ["open", "request", "response"]
    assert server.record.entries("response")[0].detail == "101 Switching Protocols"
    assert closes and "1001" in closes[0].detail and "bye" in closes[0].detail


def test_clock_speaks_first_and_repeats() -> None:
    with labkit.serve("clock", over="websocket", interval=0.05) as server, labkit.ws_connect(server.url) as ws:
        ticks = [ws.recv(timeout=2) for _ in range(3)]
    assert all(isinstance(t, str) and t.endswith("+00:00") for t in ticks)
    assert ticks == sorted(ticks) and len(set(ticks)) == 3


def test_chat_reaches_every_other_client_unchanged() -> None:
    with labkit.serve("chat", over="websocket") as server:
        with labkit.ws_connect(server.url) as a, labkit.ws_connect(server.url) as b, labkit.ws_connect(server.url) as c:
            a.send("hola ñandú")
            got_b, got_c = json.loads(b.recv(timeout=2)), json.loads(c.recv(timeout=2))
            assert got_b == got_c == {"from": 1, "text": "hola ñandú"}
            with pytest.raises(TimeoutError):
                a.recv(timeout=0.2)


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        ("GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"HTTP/1.1 426 Upgrade Required"),
        (HANDSHAKE.replace("Connection: Upgrade\r\n", ""), b"HTTP/1.1 426 Upgrade Required"),
        (HANDSHAKE.replace("dGhlIHNhbXBsZSBub25jZQ==", "abc"), b"HTTP/1.1 400 Bad Request"),
        (HANDSHAKE.replace("Version: 13", "Version: 8"), b"HTTP/1.1 400 Bad Request"),
        (b"\x16\x03\x01\x02\x00garbage\r\n\r\n", b"HTTP/1.1 400 Bad Request"),
        ("hello?\r\n\r\n", b"HTTP/1.1 400 Bad Request"),
    ],
)
def test_malformed_handshakes_get_an_http_error(request_bytes: str | bytes, status: bytes) -> None:
    with labkit.serve("echo", over="websocket") as server:
        assert status_of(server, request_bytes) == status
        assert wait_for(lambda: server.record.entries("error"))


def test_invalid_frame_closes_only_that_connection_with_1002() -> None:
    with labkit.serve("echo", over="websocket") as server, labkit.ws_connect(server.url) as good:
        with labkit.RawSocket(server.url) as raw:
            raw.send(HANDSHAKE)
            assert raw.recv_until().startswith(b"HTTP/1.1 101")
            raw.send(b"\x81\x05Hello")  # unmasked client frame: RFC 6455 §5.1 says fail
            close = raw.recv_exactly(4)
            assert close[0] == 0x88 and close[2:4] == b"\x03\xea"  # a close frame with code 1002
        good.send("ok")
        assert good.recv(timeout=2) == "ok"


def test_client_close_is_recorded_even_when_abrupt() -> None:
    with labkit.serve("echo", over="websocket") as server, labkit.ws_connect(server.url) as ws:
        ws.socket.shutdown(socket.SHUT_RDWR)  # the TCP connection drops with no closing handshake
        assert wait_for(lambda: server.record.entries("close"))
        assert "no close frame" in server.record.entries("close")[0].detail
    with pytest.raises(ConnectionClosedOK):
        with labkit.serve("echo", over="websocket", name="x") as again, labkit.ws_connect(again.url) as ws2:
            again.stop()
            ws2.recv(timeout=2)


def test_record_keeps_the_handshake_heads() -> None:
    from labkit.protocol.handshake import accept_value

    with labkit.serve("echo", over="websocket") as server:
        with labkit.RawSocket(server.url) as raw:
            raw.send(HANDSHAKE)
            assert raw.recv_until().startswith(b"HTTP/1.1 101")
        assert wait_for(lambda: server.record.count("response") == 1)
    request, response = (e.data for e in server.record.headers(1).entries)
    assert (
        request.start_line == "GET / HTTP/1.1" and ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==") in request.headers
    )
    assert response.start_line == "HTTP/1.1 101 Switching Protocols"
    assert ("Sec-WebSocket-Accept", accept_value("dGhlIHNhbXBsZSBub25jZQ==")) in response.headers
