"""Live taps in front of real servers: exact bytes, decoded traffic, and nothing left behind."""

from __future__ import annotations

import http.client
import os
import socket
import threading

import pytest
from websockets.exceptions import ConnectionClosed

import labkit
from labkit.i18n import using
from labkit.protocol import Opcode, apply_mask, encode
from labkit.protocol.frames import Frame
from labkit.wiretap import HttpMessage, Tap, WebSocketFrame
from tests.conftest import wait_for
from tests.third_party import pretty
from tests.wiretap.helpers import MASKED_HELLO, UPGRADE_REQUEST, C, S


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def frames(tap: Tap, direction: str) -> list[WebSocketFrame]:
    return [u for u in tap.messages() if isinstance(u, WebSocketFrame) and u.direction == direction]


def test_websocket_echo_through_the_tap() -> None:
    with labkit.serve("echo", over="websocket") as server, labkit.tap(server.url) as tap:
        assert tap.url == f"ws://127.0.0.1:{tap.port}" and tap.port != server.port
        with labkit.ws_connect(tap.url) as ws:
            ws.send("Hello")
            assert ws.recv(timeout=2) == "Hello"
        assert tap.wait(closed=True)
        sent, echoed = frames(tap, C), frames(tap, S)
        shown = pretty(tap)
    assert shown.startswith("tap (running): 1 connection, ") and str(tap.port) not in shown
    assert "1 HTTP request, 1 HTTP response, 4 WebSocket frames" in shown and tap.recording.errors == []
    hello = sent[0]
    assert len(hello.data) == 11 and hello.masked and hello.payload == b"Hello"
    assert hello.mask_key is not None and hello.data[6:] == apply_mask(b"Hello", hello.mask_key)
    assert (echoed[0].opcode, echoed[0].message, echoed[0].masked, echoed[0].data) == (
        Opcode.TEXT,
        "Hello",
        False,
        b"\x81\x05Hello",
    )
    assert [f.opcode for f in sent[1:]] == [Opcode.CLOSE] and echoed[-1].close_code == 1000
    assert [c.conn for c in tap.connections()] == [1]
    assert repr(tap.sequence()).splitlines()[-4:] == [
        "    C->>S: text 'Hello' (masked)",
        "    S->>C: text 'Hello'",
        "    C->>S: close 1000 (normal closure) (masked)",
        "    S->>C: close 1000 (normal closure)",
    ]
    with using("es"):
        assert repr(tap.sequence()).splitlines()[-2:] == [
            "    C->>S: cierre 1000 (cierre normal) (enmascarada)",
            "    S->>C: cierre 1000 (cierre normal)",
        ]


def test_recorded_bytes_are_exactly_the_bytes_each_side_sent() -> None:
    with labkit.serve("echo", over="websocket") as server, labkit.tap(server.url) as tap:
        with labkit.RawSocket(tap.url) as raw:
            raw.send(UPGRADE_REQUEST)
            head = raw.recv_until(b"\r\n\r\n")
            raw.send(MASKED_HELLO)
            echo = raw.recv_exactly(7)
            close = encode(Frame(True, Opcode.CLOSE, b"\x03\xe8"), mask_key=b"abcd")
            raw.send(close)
            closing = raw.recv_exactly(4)
            assert raw.peer_closed()
        tap.wait(closed=True)
        recording = tap.recording
    assert recording.stream(1, C) == UPGRADE_REQUEST + MASKED_HELLO + close
    assert recording.stream(1, S) == head + echo + closing
    assert echo == b"\x81\x05Hello" and closing == b"\x88\x02\x03\xe8"
    assert recording.connections()[0].closed_by == "server"


def test_http_keep_alive_two_requests_on_one_connection() -> None:
    with labkit.serve("echo", over="http") as server, labkit.tap(server.url) as tap:
        assert tap.url.startswith("http://127.0.0.1:")
        client = http.client.HTTPConnection("127.0.0.1", tap.port, timeout=5)
        for body in (b"uno", b"dos"):
            client.request("POST", "/", body=body)
            assert client.getresponse().read() == body
        client.close()
        messages = tap.messages()
    assert len(tap.connections()) == 1 and tap.recording.errors == []
    assert [(m.kind, m.body) for m in messages if isinstance(m, HttpMessage)] == [
        ("HTTP request", b"uno"),
        ("HTTP response", b"uno"),
        ("HTTP request", b"dos"),
        ("HTTP response", b"dos"),
    ]


def test_socketio_open_connect_event_and_ack_are_decoded() -> None:
    with labkit.serve("echo", over="socketio") as server, labkit.tap(server.url) as tap:
        client = labkit.sio_connect(tap.url)
        try:
            assert client.call("echo", "x", timeout=3) == "x"
        finally:
            client.disconnect()
        packets = tap.packets()
    assert tap.recording.errors == []
    kinds = [(p.direction, p.engineio, p.socketio) for p in packets]
    assert (S, "open", None) == kinds[0] and packets[0].transport == "polling"
    assert (C, "message", "connect") in kinds and (S, "message", "connect") in kinds
    (event,) = [p for p in packets if p.socketio == "event"]
    (ack,) = [p for p in packets if p.socketio == "ack"]
    assert (event.direction, event.event, event.args) == (C, "echo", ("x",))
    assert (ack.direction, ack.ack_id, ack.args) == (S, event.ack_id, ("x",))
    assert event.raw == f'42{event.ack_id}["echo","x"]'
    with using("es"):
        assert repr(packets).splitlines()[0].split()[:4] == ["#", "conn", "dir", "transporte"]
        (row,) = [line.split() for line in repr(packets).splitlines() if "event" in line]
        assert row[2:] == [C, "websocket", "message", "event", str(event.ack_id), repr(event.raw)]


def test_stop_frees_threads_fds_and_port_and_is_idempotent() -> None:
    with labkit.serve("echo", over="websocket") as server:
        labkit.tap(server.url, name="warm-up").stop()
        threads, fds = threading.active_count(), open_fds()
        tap = labkit.tap(server.url)
        with labkit.ws_connect(tap.url) as ws:  # still open when the tap stops: stop must cut it
            ws.send("Hello")
            ws.recv(timeout=2)
            tap.stop()
            tap.stop()
            assert not tap.running and "(stopped)" in repr(tap)
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=2)
        assert wait_for(lambda: threading.active_count() <= threads and open_fds() <= fds)
    with socket.socket() as probe:  # free for a server to listen on (which sets SO_REUSEADDR)
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", tap.port))
        probe.listen()
    assert "text 'Hello'" in repr(tap.sequence())  # the recording outlives the tap
    assert not labkit.leftovers()


def test_rerun_by_name_replaces_and_stop_all_stops_taps() -> None:
    with labkit.serve("echo", over="http") as server:
        first = labkit.tap(server.url)
        again = labkit.tap(server.url)
        assert first.name == again.name == f"tap-{server.port}"
        assert not first.running and again.running
        named = labkit.tap(server.url, name="cell")
        port = named.port
        latest = labkit.tap(server.url, name="cell", port=port)  # same cell, fixed port
        assert not named.running and latest.port == port
        assert sorted(r.name for r in labkit.running()) == ["cell", "echo-http", f"tap-{server.port}"]
        labkit.stop_all()
        assert labkit.running() == [] and not again.running and not latest.running
    assert not labkit.leftovers()


def test_closing_either_side_closes_the_other() -> None:
    with labkit.serve("clock", over="http") as server, labkit.tap(server.url) as tap:
        with labkit.RawSocket(tap.url) as raw:  # the client closes: the server sees it
            raw.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            raw.recv_http()
        assert wait_for(lambda: server.record.count("close") == 1)
        raw = labkit.RawSocket(tap.url)  # the server closes: the client sees it
        raw.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        raw.recv_http()
        server.stop()
        assert raw.peer_closed()
        raw.close()
        assert tap.wait(closed=True)
        assert [c.closed_by for c in tap.connections()] == ["client", "server"]


def test_an_unreachable_server_is_recorded_not_printed(capfd: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]  # bound, not listening: connections are refused
        with labkit.tap(f"http://127.0.0.1:{port}/path?q=1") as tap:
            assert tap.url == f"http://127.0.0.1:{tap.port}/path?q=1"
            with labkit.RawSocket(tap.url) as raw:
                assert raw.peer_closed()
            assert tap.wait(closed=True)
            assert tap.connections()[0].closed_by == "tap"
            assert "error: connection 1: cannot reach the server at 127.0.0.1" in repr(tap.summary())
    assert capfd.readouterr() == ("", "")


def test_bad_arguments_are_clear_errors() -> None:
    with pytest.raises(labkit.LabkitError, match="need a URL like"):
        labkit.tap("127.0.0.1:80")
    with pytest.raises(labkit.LabkitError, match="port must be a whole number"):
        labkit.tap("ws://127.0.0.1:80", port=-1)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        with pytest.raises(labkit.LabkitError, match=f"port {taken} on 127.0.0.1 is already in use"):
            labkit.tap("ws://127.0.0.1:80", port=taken)
    assert labkit.running() == []


def test_the_tap_function_and_its_package_do_not_shadow_each_other() -> None:
    """``labkit.tap(url)`` is the function; its code lives in ``labkit.wiretap`` (once ``labkit.tap.decode`` failed)."""
    import labkit.wiretap.decode

    assert callable(labkit.tap) and labkit.tap is labkit.wiretap.tap
    assert callable(labkit.wiretap.decode.decode)


# Breaking the network on purpose ---------------------------------------------------------------


def masked_text(text: str) -> bytes:
    return encode(Frame(True, Opcode.TEXT, text.encode()), mask_key=b"abcd")


def upgraded_raw(url: str) -> labkit.RawSocket:
    raw = labkit.RawSocket(url)
    raw.send(UPGRADE_REQUEST)
    assert raw.recv_until(b"\r\n\r\n").startswith(b"HTTP/1.1 101 ")
    return raw


def test_a_cut_cable_forwards_nothing_and_closes_nothing_then_delivers_everything_in_order() -> None:
    with labkit.serve("echo", over="websocket") as server, labkit.tap(server.url) as tap:
        with upgraded_raw(tap.url) as raw:
            tap.cut()
            for word in ("uno", "dos", "tres"):
                raw.send(masked_text(word))
            assert raw.recv(wait=0.5) == b"" and not raw.closed  # nothing came back, nothing closed
            assert server.record.count("recv") == 0 and server.record.count("close") == 0
            assert [c.closed for c in tap.connections()] == [None]
            assert tap.recording.stream(1, C) == UPGRADE_REQUEST  # the tap kept nothing it did not forward
            tap.restore()
            assert raw.recv_exactly(16) == b"\x81\x03uno\x81\x03dos\x81\x04tres"
        assert [e.data for e in server.record.entries("recv")] == ["uno", "dos", "tres"]
    lines = repr(tap.timeline()).splitlines()
    marks = [line.split(maxsplit=1)[1] for line in lines if "cable" in line]
    assert marks == ["cable cut", "cable restored"]  # no connection number: the network's own events
    (restored,) = [i for i, line in enumerate(lines) if line.endswith("cable restored")]
    assert "text 'uno'" in lines[restored + 1]  # recorded when forwarded: once restored
    with using("es"):
        assert [line.split(maxsplit=1)[1] for line in repr(tap.timeline()).splitlines() if "cable" in line] == [
            "cable cortado",
            "cable restablecido",
        ]


def test_cutting_one_direction_lets_the_other_through() -> None:
    with labkit.serve("echo", over="websocket") as server, labkit.tap(server.url) as tap:
        with upgraded_raw(tap.url) as raw:
            tap.cut("S→C")  # the server hears the client; its answers wait
            raw.send(masked_text("hola"))
            assert wait_for(lambda: server.record.count("send") == 1)
            assert raw.recv(wait=0.3) == b""
            tap.restore()
            assert raw.recv_exactly(6) == b"\x81\x04hola"
            tap.cut("C→S")  # now the client's words wait
            raw.send(masked_text("adiós"))
            assert raw.recv(wait=0.3) == b"" and server.record.count("recv") == 1
            tap.restore()
            assert raw.recv_exactly(8) == b"\x81\x06adi\xc3\xb3s"
    assert "cable cut in direction S→C" in repr(tap.timeline())


def test_a_connection_opened_while_cut_reaches_the_server_only_once_restored() -> None:
    with labkit.serve("echo", over="websocket") as server, labkit.tap(server.url) as tap:
        tap.cut()
        with labkit.RawSocket(tap.url) as raw:  # the tap accepts; the server hears nothing yet
            raw.send(UPGRADE_REQUEST)
            assert raw.recv(wait=0.3) == b"" and server.record.count("open") == 0
            tap.restore()
            assert raw.recv_until(b"\r\n\r\n").startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
        assert wait_for(lambda: server.record.count("open") == 1)


def test_reset_connections_closes_both_ends_at_once_with_a_reset() -> None:
    with labkit.serve("echo", over="websocket") as server, labkit.tap(server.url) as tap:
        raw = upgraded_raw(tap.url)
        try:
            tap.cut()  # even a cut cable: a reset is news both ends get at once
            assert tap.reset_connections() == 1
            with pytest.raises(ConnectionResetError):
                raw.sock.settimeout(2)
                raw.sock.recv(10)
        finally:
            raw.close()
        assert wait_for(lambda: server.record.count("close") == 1)  # the server saw it end too
        assert [c.closed_by for c in tap.connections()] == ["tap"]
        tap.restore()
        with upgraded_raw(tap.url) as again:  # the tap carries new connections as before
            again.send(masked_text("otra"))
            assert again.recv_exactly(6) == b"\x81\x04otra"
        assert tap.wait(closed=True) and tap.reset_connections() == 0
    assert "connections reset (RST): 1" in repr(tap.timeline())


def test_stopping_a_cut_tap_frees_everything() -> None:
    with labkit.serve("echo", over="websocket") as server:
        tap = labkit.tap(server.url)
        raw = upgraded_raw(tap.url)
        tap.cut()
        tap.stop()
        assert raw.peer_closed(wait=2)
        raw.close()
    assert tap.connections()[0].closed_by == "tap"
    assert not labkit.leftovers()


def test_cut_and_restore_take_clear_errors() -> None:
    with labkit.serve("echo", over="websocket") as server:
        tap = labkit.tap(server.url)
        with pytest.raises(labkit.LabkitError, match=r"direction must be 'C→S' \(client → server\), 'S→C'"):
            tap.cut("both")
        tap.stop()
        for call in (tap.cut, tap.restore, tap.reset_connections):
            with pytest.raises(labkit.LabkitError, match=f"the tap '{tap.name}' is stopped"):
                call()
        with using("es"), pytest.raises(labkit.LabkitError, match="está detenido"):
            tap.restore()
