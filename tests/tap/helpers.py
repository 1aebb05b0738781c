"""Recordings built by hand: the decoder and the views need no sockets."""

from __future__ import annotations

from labkit.record import CLIENT_TO_SERVER, SERVER_TO_CLIENT
from labkit.tap import Recording

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
