"""A tap: a recording TCP proxy between a client and any labkit server.

    server = labkit.serve("echo", over="websocket")
    tap = labkit.tap(server.url)             # a client connects to tap.url instead
    with labkit.ws_connect(tap.url) as ws: ...
    tap.sequence()                           # Mermaid diagram: Client ↔ Server
    tap.frames()                             # one row per HTTP message or frame
    tap.hexdump()                            # the bytes, annotated

The proxy (:mod:`.proxy`) only copies and records bytes (:mod:`.recording`); making sense
of them is pure code (:mod:`.decode`, on :mod:`labkit.protocol`), and so is showing them
(:mod:`.display`).
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_MAX_BYTES",
    "Chunk",
    "ConnectionInfo",
    "Decoded",
    "HttpMessage",
    "Packet",
    "Recording",
    "Tap",
    "Undecodable",
    "Unit",
    "WebSocketFrame",
    "decode",
    "tap",
]

from .decode import Decoded, HttpMessage, Packet, Undecodable, Unit, WebSocketFrame, decode
from .proxy import Tap, tap
from .recording import DEFAULT_MAX_BYTES, Chunk, ConnectionInfo, Recording
