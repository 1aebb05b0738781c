"""Recordings built by hand: the decoder and the views need no sockets."""

from __future__ import annotations

import zlib

from labkit.protocol import Opcode, apply_mask, encode
from labkit.protocol.frames import Frame
from labkit.record import CLIENT_TO_SERVER, SERVER_TO_CLIENT
from labkit.wiretap import Chunk, Recording

C, S = CLIENT_TO_SERVER, SERVER_TO_CLIENT

UPGRADE_REQUEST = (
    b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)
SWITCHING = (
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
)
#: RFC 6455 §5.7.
UNMASKED_HELLO = bytes.fromhex("81 05 48 65 6c 6c 6f")
MASKED_HELLO = bytes.fromhex("81 85 37 fa 21 3d 7f 9f 4d 51 58")
HEL, LO = bytes.fromhex("01 03 48 65 6c"), bytes.fromhex("80 02 6c 6f")


def recording(*exchange: tuple[str, bytes], conn: int = 1, into: Recording | None = None) -> Recording:
    """A recording of one connection: ``(direction, bytes)`` in the order they arrived."""
    rec = into if into is not None else Recording()
    while len(rec.connections()) < conn:
        rec.open_connection()
    for direction, data in exchange:
        rec.add(conn, direction, data)
    return rec


def upgraded(*frames: tuple[str, bytes], target: bytes = b"/chat") -> Recording:
    """A WebSocket handshake on connection 1, then ``frames``."""
    request = UPGRADE_REQUEST.replace(b"/chat", target, 1)
    return recording((C, request), (S, SWITCHING), *frames)


def compressed(message: bytes, opcode: Opcode = Opcode.BINARY) -> bytes:
    """A server frame carrying ``message`` compressed with permessage-deflate (RFC 7692 §7.2.1)."""
    deflater = zlib.compressobj(wbits=-15)
    body = deflater.compress(message) + deflater.flush(zlib.Z_SYNC_FLUSH)
    return encode(Frame(True, opcode, body[:-4], rsv1=True))  # without the 00 00 ff ff tail


def deflated(frames: list[bytes], conn: int = 1, takeover: bool = False) -> list[Chunk]:
    """Connection ``conn`` negotiating permessage-deflate, then the server sending ``frames``.

    Without ``takeover`` the server starts a fresh window per message
    (``server_no_context_takeover``), so the same compressed frame can be sent many times.
    """
    extension = b"permessage-deflate" + (b"" if takeover else b"; server_no_context_takeover")
    switching = SWITCHING.replace(b"\r\n\r\n", b"\r\nSec-WebSocket-Extensions: " + extension + b"\r\n\r\n")
    return [Chunk(conn, C, 0.0, UPGRADE_REQUEST), Chunk(conn, S, 0.0, switching + b"".join(frames))]


def _text(payload: bytes) -> bytes:
    return bytes([0x81, len(payload)]) + payload


def _masked(payload: bytes) -> bytes:
    key = b"\x01\x02\x03\x04"
    return bytes([0x81, 0x80 | len(payload)]) + key + apply_mask(payload, key)


def socketio_over_websocket() -> Recording:
    """Engine.IO open, Socket.IO connect, an event with its ack, ping/pong, a binary event: over WebSocket."""
    return upgraded(
        (S, _text(b'0{"sid":"a"}')),
        (C, _masked(b"40")),
        (S, _text(b'40{"sid":"b"}')),
        (C, _masked(b'421["echo","x"]')),
        (S, _text(b'431["x"]')),
        (S, _text(b"2")),
        (C, _masked(b"3")),
        (S, _text(b'451-["up",{"_placeholder":true,"num":0}]') + bytes.fromhex("82 02 ff ee")),
        target=b"/socket.io/?EIO=4&transport=websocket",
    )


def socketio_over_polling() -> Recording:
    """Engine.IO open, Socket.IO connect and an event over long polling."""
    return recording(
        (C, b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n"),
        (S, b'HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n0{"sid":"a"}'),
        (C, b"POST /socket.io/?EIO=4&transport=polling&sid=a HTTP/1.1\r\nContent-Length: 2\r\n\r\n40"),
        (S, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
        (C, b"GET /socket.io/?EIO=4&transport=polling&sid=a HTTP/1.1\r\n\r\n"),
        (S, b'HTTP/1.1 200 OK\r\nContent-Length: 22\r\n\r\n40{"sid":"b"}\x1e42["hi"]'),
    )
