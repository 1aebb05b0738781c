"""The scratch stack: labkit's own protocol code serving real clients, byte for byte."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

import aiohttp
import pytest
import websocket  # websocket-client: an independent client implementation
from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK

import labkit
from labkit.protocol import DecodedFrame, Frame, Opcode, apply_mask, decode, encode
from labkit.record import Closed, CloseStatus
from labkit.servers import scratch
from tests.conftest import wait_for

KEY = bytes.fromhex("37fa213d")
HANDSHAKE = (
    "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)
#: RFC 6455 §1.3: the accept value for the sample key above.
ACCEPT = b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"


def masked(frame: Frame) -> bytes:
    return encode(frame, KEY)


def opened(server: labkit.Server, handshake: str = HANDSHAKE) -> labkit.RawSocket:
    """A raw TCP connection after a hand-made opening handshake."""
    raw = labkit.RawSocket(server.url)
    raw.send(handshake)
    # bytes, not WireBytes: mypy takes "in" on a subclass of bytes for a search for one int.
    response: bytes = raw.recv_until()
    assert response.startswith(b"HTTP/1.1 101 Switching Protocols\r\n") and ACCEPT in response
    return raw


def read_frame(raw: labkit.RawSocket) -> DecodedFrame:
    head = raw.recv_exactly(2)
    assert len(head) == 2, "the server closed before sending a frame"
    length = head[1] & 0x7F
    extended = raw.recv_exactly({126: 2, 127: 8}.get(length, 0))
    if extended:
        length = int.from_bytes(extended, "big")
    return decode(head + extended + raw.recv_exactly(length), expect_masked=False)


def close_code(frame: DecodedFrame) -> int:
    assert frame.opcode is Opcode.CLOSE
    return int.from_bytes(frame.payload[:2], "big")


# ---------------------------------------------------------------------------
# The apps, with websockets' client


def test_echo_returns_text_as_text_and_binary_as_binary() -> None:
    with labkit.serve("echo", over="scratch") as server, labkit.ws_connect(server.url) as ws:
        ws.send("¡hola!")
        assert ws.recv() == "¡hola!"
        ws.send(b"\x00\xff")
        assert ws.recv() == b"\x00\xff"
        ws.send("")
        assert ws.recv() == ""


def test_large_messages_in_both_directions() -> None:
    text, data = "ñ" * 35_000, os.urandom(70_000)  # 70 000 bytes each: 64-bit lengths
    with labkit.serve("echo", over="scratch") as server, labkit.ws_connect(server.url) as ws:
        ws.send(text)
        assert ws.recv() == text
        ws.send(data)
        assert ws.recv() == data


def test_large_message_header_on_the_wire() -> None:
    with labkit.serve("echo", over="scratch") as server, opened(server) as raw:
        raw.send(masked(Frame(True, Opcode.BINARY, bytes(70_000))))
        assert raw.recv_exactly(10) == bytes.fromhex("82 7f 00 00 00 00 00 01 11 70")  # §5.2
        assert raw.recv_exactly(70_000) == bytes(70_000)
        raw.send(masked(Frame(True, Opcode.TEXT, b"x" * 256)))
        assert raw.recv_exactly(4) == bytes.fromhex("81 7e 01 00")


def test_fragmented_messages_are_reassembled() -> None:
    with labkit.serve("echo", over="scratch") as server, labkit.ws_connect(server.url) as ws:
        ws.send(["Hel", "lo", " ", "wörld"])
        assert ws.recv() == "Hello wörld"
        ws.send([b"\x01", b"", b"\x02\x03"])
        assert ws.recv() == b"\x01\x02\x03"


def test_fragments_with_a_ping_in_between_and_utf8_split_across_them() -> None:
    with labkit.serve("echo", over="scratch") as server, opened(server) as raw:
        raw.send(
            masked(Frame(False, Opcode.TEXT, b"\xc3"))
            + masked(Frame(True, Opcode.PING, b"in between"))
            + masked(Frame(True, Opcode.CONT, b"\xb1!"))
        )
        assert read_frame(raw).frame == Frame(True, Opcode.PONG, b"in between")  # §5.4: control frames interleave
        assert read_frame(raw).frame == Frame(True, Opcode.TEXT, "ñ!".encode())


def test_ping_is_answered_with_a_pong() -> None:
    with labkit.serve("echo", over="scratch") as server, labkit.ws_connect(server.url) as ws:
        assert ws.ping(b"are you there?").wait(2)
        latency = ws.ping()
        assert latency.wait(2)


def test_many_messages_in_one_read_are_all_echoed_in_order() -> None:
    with labkit.serve("echo", over="scratch") as server, opened(server) as raw:
        raw.send(b"".join(masked(Frame(True, Opcode.TEXT, str(i).encode())) for i in range(500)))
        assert [read_frame(raw).payload for _ in range(500)] == [str(i).encode() for i in range(500)]


def test_a_message_is_answered_before_the_frame_that_fails_the_connection() -> None:
    # Autobahn 4.1.3: a message and a reserved opcode in one segment; the echo comes first.
    with labkit.serve("echo", over="scratch") as server, opened(server) as raw:
        raw.send(masked(Frame(True, Opcode.TEXT, b"Hello")) + bytes([0x85, 0x80]) + KEY)
        assert read_frame(raw).frame == Frame(True, Opcode.TEXT, b"Hello")
        assert close_code(read_frame(raw)) == 1002


def test_clock_speaks_first_and_repeats() -> None:
    with labkit.serve("clock", over="scratch", interval=0.05) as server, labkit.ws_connect(server.url) as ws:
        ticks = [ws.recv(timeout=2) for _ in range(3)]
        ws.send("noted, not answered")
        assert wait_for(lambda: server.record.entries("recv"))
    assert all(isinstance(t, str) and t.endswith("+00:00") for t in ticks)
    assert ticks == sorted(ticks) and len(set(ticks)) == 3
    assert server.record.entries("recv")[0].data == "noted, not answered"


def test_chat_reaches_every_other_client_unchanged() -> None:
    with labkit.serve("chat", over="scratch") as server:
        with labkit.ws_connect(server.url) as a, labkit.ws_connect(server.url) as b, labkit.ws_connect(server.url) as c:
            a.send("hola ñandú")
            assert json.loads(b.recv(timeout=2)) == json.loads(c.recv(timeout=2)) == {"from": 1, "text": "hola ñandú"}
            c.send("y yo")
            assert json.loads(a.recv(timeout=2)) == json.loads(b.recv(timeout=2)) == {"from": 3, "text": "y yo"}
            with pytest.raises(TimeoutError):
                a.recv(timeout=0.1)
    # each recipient's connection records what it was sent
    sends = [(e.conn, e.detail) for e in server.record.entries("send")]
    assert sends[:2] == [(2, '{"from": 1, "text": "hola ñandú"}'), (3, '{"from": 1, "text": "hola ñandú"}')]


# ---------------------------------------------------------------------------
# The record


def test_record_of_one_echo_session_entry_by_entry() -> None:
    with labkit.serve("echo", over="scratch") as server:
        with labkit.ws_connect(server.url) as ws:
            ws.send("hola")
            assert ws.recv() == "hola"
            port, headers = ws.local_address[1], len(ws.request.headers) if ws.request else 0
        assert wait_for(lambda: server.record.entries("close"))
    assert [(e.conn, e.kind, e.direction, e.detail) for e in server.record] == [
        (1, "open", "", f"from 127.0.0.1:{port}"),
        (1, "request", "", f"GET / HTTP/1.1 ({headers} headers)"),
        (1, "response", "", "101 Switching Protocols"),
        (1, "recv", "C→S", "hola"),
        (1, "send", "S→C", "hola"),
        (1, "close", "", "received 1000 (normal closure); sent 1000 (normal closure)"),
    ]
    request, response, close = (server.record.entries(kind)[0].data for kind in ("request", "response", "close"))
    assert request.start_line == "GET / HTTP/1.1" and ("Upgrade", "websocket") in request.headers
    assert response.start_line == "HTTP/1.1 101 Switching Protocols"
    assert "Sec-WebSocket-Accept" in dict(response.headers)
    assert close == ((1000, ""), (1000, ""))


def test_client_close_code_and_reason_are_recorded() -> None:
    with labkit.serve("echo", over="scratch") as server:
        with labkit.ws_connect(server.url) as ws:
            ws.close(code=1001, reason="bye")
        assert wait_for(lambda: server.record.entries("close"))
        assert (
            server.record.entries("close")[0].detail == "received 1001 (going away) 'bye'; sent 1001 (going away) 'bye'"
        )


def test_close_without_status_is_answered_without_status() -> None:
    with labkit.serve("echo", over="scratch") as server:
        with opened(server) as raw:
            raw.send(masked(Frame(True, Opcode.CLOSE)))
            assert read_frame(raw).frame == Frame(True, Opcode.CLOSE)  # §5.5.1: 1005 never goes on the wire
            assert raw.peer_closed()  # §7.1.1: the server closes TCP first
        assert wait_for(lambda: server.record.entries("close"))
        assert server.record.entries("close")[0].detail.startswith("received 1005 (no status received")


def test_stop_closes_open_connections_with_1001() -> None:
    with labkit.serve("echo", over="scratch") as server, labkit.ws_connect(server.url) as ws:
        server.stop()
        with pytest.raises(ConnectionClosedOK):
            ws.recv(timeout=2)
        assert ws.close_code == 1001
    assert server.record.entries("close")[0].detail == "received 1001 (going away); sent 1001 (going away)"


def test_stop_does_not_wait_for_clients_that_never_answer() -> None:
    with labkit.serve("echo", over="scratch") as server, opened(server) as raw:
        silent = socket.create_connection((server.host, server.port))  # never sends a handshake
        assert wait_for(lambda: len(server.record.entries("open")) == 2)
        started = time.monotonic()
        server.stop()  # raw never answers the close: it is cut once the stop's time is up
        assert time.monotonic() - started < 3.0
        assert close_code(read_frame(raw)) == 1001
        silent.close()
    assert server.record.entries("close")[0].detail == "received no close frame; sent 1001 (going away)"


def test_a_client_that_never_answers_our_close_is_cut_after_the_close_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scratch, "CLOSE_TIMEOUT", 0.2)

    async def close_and_leave(ws: scratch.ScratchConnection) -> None:
        await ws.close(4000, "bye")

    with labkit.serve("echo", over="scratch") as server, opened(server) as raw:
        assert isinstance(server._backend, scratch.ScratchBackend)
        server._backend.handler = close_and_leave
        with opened(server) as deaf:
            frame = read_frame(deaf)
            assert close_code(frame) == 4000 and frame.payload[2:] == b"bye"
            assert deaf.peer_closed(wait=5)  # §7.1.1: cut once CLOSE_TIMEOUT passes without its reply
        raw.close()
    assert "received no close frame; sent 4000 (private use) 'bye'" in [
        e.detail for e in server.record.entries("close")
    ]


def test_the_server_closes_tcp_even_if_the_client_never_does(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scratch, "CLOSE_TIMEOUT", 0.2)
    with labkit.serve("echo", over="scratch") as server, opened(server) as raw:
        raw.send(masked(Frame(True, Opcode.CLOSE, b"\x03\xe8")))
        assert close_code(read_frame(raw)) == 1000
        assert raw.peer_closed()  # the server half-closed first (§7.1.1)
        assert wait_for(lambda: server.record.entries("close"), timeout=3)  # while raw stays open


def test_resets_and_truncated_input_are_never_internal_errors() -> None:
    rng = random.Random(1)
    inputs = [
        lambda: rng.randbytes(rng.randrange(1, 3000)),  # a 400, then often a reset while lingering
        lambda: rng.randbytes(rng.randrange(1, 3000)),
        lambda: HANDSHAKE.encode() + rng.randbytes(rng.randrange(1, 3000)),
        lambda: HANDSHAKE.encode()[: rng.randrange(1, 100)],
        lambda: HANDSHAKE.encode() + masked(Frame(True, Opcode.TEXT, b"hi")) + bytes([0x85, 0x80]) + KEY,
    ]
    reset_on_close = (socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with labkit.serve("echo", over="scratch") as server, labkit.ws_connect(server.url) as good:
        for i in range(100):
            sock = socket.create_connection((server.host, server.port))
            sock.sendall(inputs[i % len(inputs)]())
            sock.setsockopt(*reset_on_close)
            sock.close()
        good.send("still here")
        assert good.recv(timeout=2) == "still here"
        assert wait_for(lambda: server.record.count("close") >= 40 and server.record.count("error") >= 100)
    assert [e.detail for e in server.record.entries("error") if e.detail.startswith("internal")] == []


def test_client_close_is_recorded_even_when_abrupt() -> None:
    with labkit.serve("echo", over="scratch") as server:
        raw = opened(server)
        raw.close()
        assert wait_for(lambda: server.record.entries("close"))
        assert server.record.entries("close")[0].detail == "received no close frame; sent no close frame"


# ---------------------------------------------------------------------------
# Bad input: one connection fails, the server and the others go on


def test_message_over_max_size_fails_with_1009() -> None:
    with labkit.serve("echo", over="scratch", max_size=1000) as server, labkit.ws_connect(server.url) as ws:
        ws.send("x" * 1000)
        assert ws.recv() == "x" * 1000
        ws.send("x" * 1001)
        with pytest.raises(ConnectionClosedError):
            ws.recv(timeout=2)
        assert ws.close_code == 1009
        assert wait_for(lambda: server.record.entries("error"))
        error = server.record.entries("error")[0].detail
        assert error.startswith("protocol error, closing with 1009: message of at least 1001 bytes")
        assert error.endswith("(RFC 6455 §10.4)")


@pytest.mark.parametrize(
    ("wire", "code", "section"),
    [
        pytest.param(masked(Frame(True, Opcode.TEXT, b"\xce\xba\xff")), 1007, "§8.1", id="invalid-utf8"),
        pytest.param(encode(Frame(True, Opcode.TEXT, b"Hello")), 1002, "§5.1", id="unmasked"),
        pytest.param(masked(Frame(True, Opcode.TEXT, b"x", rsv1=True)), 1002, "§5.2", id="reserved-bits"),
        pytest.param(bytes([0x83, 0x80]) + KEY, 1002, "§5.2", id="reserved-opcode"),
        pytest.param(bytes([0x09, 0x80]) + KEY, 1002, "§5.5", id="fragmented-ping"),
        pytest.param(bytes([0x89, 0xFE, 0, 126]) + KEY + apply_mask(bytes(126), KEY), 1002, "§5.5", id="ping-126"),
        pytest.param(masked(Frame(True, Opcode.CONT, b"x")), 1002, "§5.4", id="continuation-alone"),
        pytest.param(masked(Frame(True, Opcode.CLOSE, b"\x03\xed")), 1002, "§7.4", id="close-code-1005"),
    ],
)
def test_protocol_errors_fail_only_that_connection(wire: bytes, code: int, section: str) -> None:
    with labkit.serve("echo", over="scratch") as server, labkit.ws_connect(server.url) as good:
        with opened(server) as raw:
            raw.send(wire)
            assert close_code(read_frame(raw)) == code
            assert raw.peer_closed()
        good.send("still here")
        assert good.recv(timeout=2) == "still here"
        assert wait_for(lambda: server.record.entries("close", conn=2))
    error = server.record.entries("error")[0]
    assert error.conn == 2 and f"closing with {code}" in error.detail and f"RFC 6455 {section}" in error.detail
    assert f"sent {code} (" in server.record.entries("close", conn=2)[0].detail


@pytest.mark.parametrize(
    ("request_bytes", "status", "header"),
    [
        (HANDSHAKE.replace("Upgrade: websocket\r\n", ""), b"426 Upgrade Required", b"Upgrade: websocket"),
        (HANDSHAKE.replace("Connection: Upgrade", "Connection: keep-alive"), b"426 Upgrade Required", b""),
        (HANDSHAKE.replace("Version: 13", "Version: 8"), b"426 Upgrade Required", b"Sec-WebSocket-Version: 13"),
        (HANDSHAKE.replace("dGhlIHNhbXBsZSBub25jZQ==", "abc"), b"400 Bad Request", b""),
        (HANDSHAKE.replace("GET", "POST"), b"405 Method Not Allowed", b"Allow: GET"),
        (HANDSHAKE.replace("HTTP/1.1", "HTTP/1.0"), b"400 Bad Request", b""),
        (b"\x16\x03\x01\x02\x00garbage\r\n\r\n", b"400 Bad Request", b""),
        ("hello?\r\n\r\n", b"400 Bad Request", b""),
    ],
)
def test_malformed_handshakes_get_an_http_error(request_bytes: str | bytes, status: bytes, header: bytes) -> None:
    with labkit.serve("echo", over="scratch") as server, labkit.ws_connect(server.url) as good:
        with labkit.RawSocket(server.url) as raw:
            raw.send(request_bytes)
            response: bytes = raw.recv_http()
            assert raw.peer_closed()
        assert response.startswith(b"HTTP/1.1 " + status + b"\r\n")
        assert header + b"\r\n" in response and b"close\r\n" in response  # Connection: [Upgrade, ]close
        good.send("served")
        assert good.recv(timeout=2) == "served"
        assert wait_for(lambda: server.record.entries("error"))
    kinds = [e.kind for e in server.record.entries(conn=2)]
    assert kinds[0] == "open" and kinds[-2:] == ["response", "error"]
    assert server.record.entries("response", conn=2)[0].detail == status.decode()
    assert server.record.entries("error")[0].detail.startswith("handshake failed: invalid")


def test_browser_style_handshake_declines_extensions() -> None:
    # Chromium offers permessage-deflate and sends many headers: not negotiating is the answer (§4.2.2).
    chromium = HANDSHAKE.replace(
        "\r\n\r\n",
        "\r\nOrigin: http://localhost:8888\r\nUser-Agent: Mozilla/5.0\r\nCache-Control: no-cache\r\n"
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n",
    )
    with labkit.serve("echo", over="scratch") as server, labkit.RawSocket(server.url) as raw:
        raw.send(chromium)
        response: bytes = raw.recv_until()
        assert response.startswith(b"HTTP/1.1 101") and b"Extensions" not in response
        raw.send(masked(Frame(True, Opcode.TEXT, b"hi")))
        assert read_frame(raw).frame == Frame(True, Opcode.TEXT, b"hi")


def test_unknown_options_are_refused() -> None:
    with pytest.raises(labkit.LabkitError, match="unknown option"):
        labkit.serve("echo", over="scratch", compression="deflate")
    with pytest.raises(labkit.LabkitError, match="interval"):
        labkit.serve("clock", over="scratch", interval=0)
    with pytest.raises(labkit.LabkitError, match="max_size"):
        labkit.serve("echo", over="scratch", max_size="1 MB")


# ---------------------------------------------------------------------------
# Independent clients


def test_websocket_client_library() -> None:
    with labkit.serve("echo", over="scratch") as server:
        ws = websocket.create_connection(server.url, timeout=2)
        try:
            ws.send("hola")
            assert ws.recv() == "hola"
            ws.send_binary(b"\x00\x01")
            assert ws.recv() == b"\x00\x01"
            ws.ping(b"p")
            assert ws.recv_data_frame(True)[1].data == b"p"
        finally:
            ws.close(status=1000)
        assert wait_for(lambda: server.record.entries("close"))
        assert server.record.entries("close")[0].detail == (
            "received 1000 (normal closure); sent 1000 (normal closure)"
        )


def test_aiohttp_client() -> None:
    async def talk(url: str) -> tuple[object, ...]:
        async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
            await ws.send_str("hola")
            text = await ws.receive_str(timeout=2)
            await ws.send_bytes(b"\xff")
            data = await ws.receive_bytes(timeout=2)
            await ws.close(code=4000, message=b"done")
            return text, data, ws.close_code

    with labkit.serve("echo", over="scratch") as server:
        assert asyncio.run(talk(server.url)) == ("hola", b"\xff", 4000)
        assert wait_for(lambda: server.record.entries("close"))
        assert server.record.entries("close")[0].data == Closed(CloseStatus(4000, "done"), CloseStatus(4000, "done"))


# ---------------------------------------------------------------------------
# Starting, stopping, the command line


def test_start_stop_cycles_leak_no_thread_and_no_socket() -> None:
    threads, fds = threading.active_count(), len(os.listdir("/proc/self/fd"))
    for _ in range(100):
        with labkit.serve("echo", over="scratch") as server:
            pass
    with labkit.serve("chat", over="scratch") as server, labkit.ws_connect(server.url) as ws:
        ws.send("x")
    assert not labkit.leftovers(wait=1).threads
    assert threading.active_count() <= threads
    assert len(os.listdir("/proc/self/fd")) <= fds


def test_command_line_serves_until_interrupted() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "labkit", "serve", "echo", "--over", "scratch"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("ws://127.0.0.1:")
        with labkit.ws_connect(url) as ws:
            ws.send("hola")
            assert ws.recv(timeout=2) == "hola"
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    finally:
        process.kill()
    assert process.returncode == 0 and err == ""
    assert "#1 recv C→S hola" in out
