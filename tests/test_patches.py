"""Each library internal labkit.patches relies on is still there; if a library moves one, this fails first."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import aiohttp.web
import engineio
import engineio.async_socket
import engineio.packet
import socketio
import socketio.packet
from websockets.protocol import CONNECTING, OPEN
from websockets.server import ServerProtocol

import labkit
import labkit.patches
from labkit.servers.socketio import SocketIOBackend
from tests.conftest import wait_for


def parameters(function: Callable[..., object]) -> list[str]:
    return list(inspect.signature(function).parameters)


def test_websockets_server_protocol_still_has_what_the_400_answer_uses() -> None:
    protocol = ServerProtocol()
    assert callable(protocol.send_eof) and protocol.state is CONNECTING
    assert hasattr(protocol, "handshake_exc") and callable(protocol.reject) and callable(protocol.send_response)
    garbage = labkit.patches.answer_garbage_with_400(protocol)
    protocol.receive_data(b"hola, servidor\r\n\r\n")
    assert garbage.rejection is not None and garbage.rejection.status_code == 400
    assert b"".join(protocol.data_to_send()).startswith(b"HTTP/1.1 400 Bad Request\r\n")


def test_python_socketio_internals_the_recorder_wraps() -> None:
    assert parameters(socketio.AsyncServer._trigger_event)[:3] == ["self", "event", "namespace"]
    assert (
        inspect.signature(socketio.AsyncServer._trigger_event).parameters["args"].kind
        is inspect.Parameter.VAR_POSITIONAL
    )
    assert parameters(socketio.AsyncServer._send_packet) == ["self", "eio_sid", "pkt"]
    assert parameters(socketio.AsyncServer.emit)[:6] == ["self", "event", "data", "to", "room", "skip_sid"]
    assert {socketio.packet.ACK, socketio.packet.BINARY_ACK} == {3, 6}
    sio = socketio.AsyncServer()
    assert hasattr(sio, "not_handled") and callable(sio.transport)
    assert callable(sio.manager.sid_from_eio_sid) and callable(sio.manager.eio_sid_from_sid)
    assert sio.reason.CLIENT_DISCONNECT == "client disconnect"


def test_python_engineio_internals_the_polling_fix_uses() -> None:
    sio = socketio.AsyncServer()
    assert "disconnect" in sio.eio.handlers and isinstance(sio.eio.sockets, dict)
    source = inspect.getsource(engineio.async_socket.AsyncSocket) + inspect.getsource(engineio.base_socket.BaseSocket)
    for field in ("self.upgraded", "self.closing", "self.closed", "self.queue"):
        assert field in source, field
    assert engineio.packet.NOOP == 6


def test_aiohttp_low_level_server_still_tells_of_each_connection() -> None:
    assert parameters(aiohttp.web.Server.connection_made) == ["self", "handler", "transport"]
    assert parameters(aiohttp.web.Server.connection_lost)[:3] == ["self", "handler", "exc"]


def test_a_failing_socketio_handler_is_recorded_with_its_traceback_and_others_are_served() -> None:
    with labkit.serve("echo", over="socketio") as server:
        assert isinstance(server._backend, SocketIOBackend)
        sio = server._backend.sio

        @sio.on("broken")  # type: ignore[untyped-decorator]
        async def broken(sid: str, data: object) -> None:
            raise ZeroDivisionError("no")

        first, second = labkit.sio_connect(server.url), labkit.sio_connect(server.url)
        try:
            first.emit("broken", 1)
            assert wait_for(lambda: server.record.count("error") == 1)
            assert first.call("echo", "sigo aquí", timeout=5) == "sigo aquí"
            assert second.call("echo", "y yo", timeout=5) == "y yo"
        finally:
            first.disconnect()
            second.disconnect()
    errors = repr(server.record.errors())
    assert "the 'broken' handler failed: ZeroDivisionError('no')" in errors
    assert "Traceback (most recent call last)" in errors and "raise ZeroDivisionError" in errors


def test_events_nobody_answers_are_recorded_and_never_acknowledged() -> None:
    with labkit.serve("echo", over="socketio") as server:
        client = labkit.sio_connect(server.url)
        try:
            try:
                client.call("nadie-escucha", "¿hola?", timeout=0.5)
                raise AssertionError("an ack came back")
            except socketio.exceptions.TimeoutError:
                pass
        finally:
            client.disconnect()
    received = [e.detail for e in server.record.entries("recv")]
    assert received == ["nadie-escucha: '¿hola?'"]
    assert server.record.entries("send") == []


def test_websockets_protocol_sends_text_and_binary_through_the_two_methods_the_record_wraps() -> None:
    assert parameters(ServerProtocol.send_text)[:3] == ["self", "data", "fin"]
    assert parameters(ServerProtocol.send_binary)[:3] == ["self", "data", "fin"]
    record = labkit.Record()
    protocol = ServerProtocol()
    protocol.state = OPEN
    labkit.patches.record_what_is_sent(protocol, record, 7)
    protocol.send_text("¡hola!".encode())
    protocol.send_binary(b"\x00\xff")
    assert [(e.conn, e.kind, e.data) for e in record] == [(7, "send", "¡hola!"), (7, "send", b"\x00\xff")]
    assert b"".join(protocol.data_to_send()) == bytes.fromhex("8107") + "¡hola!".encode() + bytes.fromhex("820200ff")


def test_a_connect_handler_that_refuses_sends_its_reason_to_the_client() -> None:
    """python-socketio sends ConnectionRefusedError's reason (connect_error); labkit records it, not as a failure."""
    sio = socketio.AsyncServer(async_mode="aiohttp")

    @sio.event  # type: ignore[untyped-decorator]
    async def connect(sid: str, environ: dict[str, object], auth: object) -> None:
        if auth != {"token": "bueno"}:
            raise socketio.exceptions.ConnectionRefusedError("token no válido")

    with labkit.serve(sio, over="socketio") as server:
        ws_url = server.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        with labkit.ws_connect(ws_url) as ws:
            ws.recv(timeout=3)  # Engine.IO's open packet
            ws.send('40{"token":"malo"}')  # Socket.IO CONNECT with its auth payload
            assert ws.recv(timeout=3) == '44{"message":"token no v\\u00e1lido"}'  # CONNECT_ERROR, the reason
        welcome = labkit.sio_connect(server.url, auth={"token": "bueno"})
        welcome.disconnect()
    closes = [entry.detail for entry in server.record.entries("close")]
    assert closes[0] == "disconnected: connection refused: token no válido", closes
    assert server.record.count("error") == 0
