"""The wiretap: a recording TCP proxy between a client and any labkit server (``labkit.tap(url)``).

    server = labkit.serve("echo", over="websocket")
    tap = labkit.tap(server.url)             # a client connects to tap.url instead
    with labkit.ws_connect(tap.url) as ws: ...
    tap.sequence()                           # Mermaid diagram: Client ↔ Server
    tap.frames()                             # one row per HTTP message or frame
    tap.packets()                            # Engine.IO / Socket.IO packets, a list shown as a table
    tap.hexdump()                            # the bytes, annotated

The proxy (:mod:`.proxy`) only copies and records bytes (:mod:`.recording`); making sense
of them is pure code (:mod:`.decode`, on :mod:`labkit.protocol`), which returns data, and
showing them is :mod:`.display`, which words that data in the lesson's language.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_MAX_BYTES",
    "INFLATE_BUDGET",
    "Chunk",
    "ConnectionInfo",
    "Decoded",
    "HttpMessage",
    "Note",
    "Packet",
    "PacketTable",
    "Recording",
    "Tap",
    "Undecodable",
    "Unit",
    "WebSocketFrame",
    "tap",
]

from .decode import INFLATE_BUDGET, Decoded, HttpMessage, Note, Packet, Undecodable, Unit, WebSocketFrame
from .display import PacketTable
from .proxy import Tap, tap
from .recording import DEFAULT_MAX_BYTES, Chunk, ConnectionInfo, Recording
