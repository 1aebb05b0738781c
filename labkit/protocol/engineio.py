"""Engine.IO v4 and Socket.IO v5 packets: the wire format Socket.IO adds on top, decoded.

Socket.IO is its own protocol, not plain WebSocket: every WebSocket text message (or
long-polling body) is an Engine.IO packet whose first character is its type; an Engine.IO
``message`` (``4``) carries a Socket.IO packet whose first character is its type, e.g.
``42["chat","hola"]`` is an event and ``431["hola"]`` the acknowledgement with id 1.
(socket.io/docs/v4: engine.io-protocol v4 and socket.io-protocol v5.)

A Socket.IO packet, after its type character (socket.io-protocol v5, "Packet encoding")::

    [<attachments>-][<namespace>,][<ack id>][<JSON data>]

``<attachments>-`` only in binary events and acks, the namespace only when it is not
``/``, the id only when an acknowledgement is asked for or given.

This module returns fields, not wording: :mod:`labkit.wiretap` says what a packet means, and
lesson 04's check uses the same decoder for its expected answers.  Decoding never raises:
what does not parse is a packet of type ``"invalid"``.
"""

from __future__ import annotations

__all__ = [
    "ENGINEIO_TYPES",
    "POLLING_SEPARATOR",
    "SOCKETIO_TYPES",
    "Attachments",
    "Packet",
    "decode_engineio",
    "decode_polling_payload",
    "decode_socketio",
]

import base64
import binascii
import json
import re
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

#: Engine.IO v4 packet types, by the character that starts a packet.
ENGINEIO_TYPES = {"0": "open", "1": "close", "2": "ping", "3": "pong", "4": "message", "5": "upgrade", "6": "noop"}

#: Socket.IO v5 packet types, by the character that follows an Engine.IO message (``4``).
SOCKETIO_TYPES = {
    "0": "connect",
    "1": "disconnect",
    "2": "event",
    "3": "ack",
    "4": "connect_error",
    "5": "binary_event",
    "6": "binary_ack",
}

#: Engine.IO v4 long polling: packets in one HTTP body are separated by the record separator.
POLLING_SEPARATOR = "\x1e"

# Attachment counts and ack ids: digits, at most 18 so that int() stays cheap.
_DIGITS = re.compile(r"[0-9]{1,18}")


@dataclass(frozen=True)
class Packet:
    """One Engine.IO packet and, inside a message, the Socket.IO packet it carries.

    ``engineio`` is a name of :data:`ENGINEIO_TYPES`, or ``"invalid"``; ``payload`` is what
    followed the type character (bytes for a binary message).  ``socketio`` is a name of
    :data:`SOCKETIO_TYPES`, ``"attachment"`` for the binary data of a binary event or ack
    (see :class:`Attachments`), ``"invalid"``, or ``None`` when the packet is not a
    message or carries no Socket.IO.  ``data`` is the JSON the packet carries, decoded: a
    Socket.IO packet's data (``["chat", "hola"]`` for an event) or an Engine.IO open
    packet's handshake object; ``None`` when there is none.
    """

    raw: str | bytes
    engineio: str
    payload: str | bytes = ""
    transport: str = "websocket"  # or "polling"
    socketio: str | None = None
    namespace: str | None = None
    ack_id: int | None = None
    data: Any = field(default=None, hash=False)
    attachments: int = 0

    @property
    def event(self) -> str | None:
        """The event name of an event (the first item of its data), else ``None``."""
        if self.socketio in ("event", "binary_event") and isinstance(self.data, list):
            name = self.data[0]
            return name if isinstance(name, str) else None
        return None

    @property
    def args(self) -> tuple[Any, ...]:
        """The arguments: of an event, after its name; of an ack, all of them; else its data, if any."""
        if self.socketio is None or self.socketio in ("invalid", "attachment"):
            return ()
        if self.socketio in ("event", "binary_event") and isinstance(self.data, list):
            return tuple(self.data[1:])
        if self.socketio in ("ack", "binary_ack") and isinstance(self.data, list):
            return tuple(self.data)
        return () if self.data is None else (self.data,)


def _json(text: str) -> tuple[bool, Any]:
    try:
        return True, json.loads(text)
    except (ValueError, RecursionError):
        return False, None


def decode_socketio(text: str) -> dict[str, Any]:
    """The Socket.IO fields of a :class:`Packet`, from what follows an Engine.IO ``4``.

    Returns ``{"socketio": "invalid"}`` for anything that is not a Socket.IO v5 packet.
    """
    invalid: dict[str, Any] = {"socketio": "invalid"}
    if not text or text[0] not in SOCKETIO_TYPES:
        return invalid
    kind = SOCKETIO_TYPES[text[0]]
    rest = text[1:]
    attachments = 0
    if kind in ("binary_event", "binary_ack"):
        match = _DIGITS.match(rest)
        if match is None or rest[match.end() : match.end() + 1] != "-":
            return invalid
        attachments = int(match.group())
        rest = rest[match.end() + 1 :]
    namespace = "/"
    if rest.startswith("/"):
        namespace, comma, after = rest.partition(",")
        rest = after if comma else ""
    ack_id = None
    match = _DIGITS.match(rest)
    if match is not None:
        ack_id = int(match.group())
        rest = rest[match.end() :]
    data: Any = None
    if rest:
        ok, data = _json(rest)
        if not ok:
            return invalid
    if kind in ("event", "binary_event"):
        if not isinstance(data, list) or not data or not isinstance(data[0], str):
            return invalid
    elif kind in ("ack", "binary_ack"):
        if not isinstance(data, list) or ack_id is None:
            return invalid
    return {"socketio": kind, "namespace": namespace, "ack_id": ack_id, "data": data, "attachments": attachments}


def decode_engineio(raw: str | bytes, transport: str = "websocket", socketio: bool = True) -> Packet:
    """One Engine.IO v4 packet: a WebSocket message, or one part of a polling payload.

    Binary data is a message packet: a binary WebSocket frame, or ``b`` + base64 in
    polling.  With ``socketio=False`` (an ``/engine.io/`` endpoint) a message's payload is
    left as it is.
    """
    if isinstance(raw, bytes):
        return Packet(raw, "message", raw, transport)
    if transport == "polling" and raw.startswith("b"):
        try:
            return Packet(raw, "message", base64.b64decode(raw[1:], validate=True), transport)
        except (binascii.Error, ValueError):
            return Packet(raw, "invalid", "", transport)
    if not raw or raw[0] not in ENGINEIO_TYPES:
        return Packet(raw, "invalid", "", transport)
    kind, payload = ENGINEIO_TYPES[raw[0]], raw[1:]
    if kind == "message" and socketio:
        return Packet(raw, kind, payload, transport, **decode_socketio(payload))
    if kind == "open" and payload:
        ok, handshake = _json(payload)
        if ok:
            return Packet(raw, kind, payload, transport, data=handshake)
    return Packet(raw, kind, payload, transport)


def decode_polling_payload(body: bytes, socketio: bool = True) -> tuple[Packet, ...]:
    """The packets of an Engine.IO v4 long-polling body, separated by ``\\x1e``."""
    if not body:
        return ()
    text = body.decode("utf-8", "replace")
    return tuple(decode_engineio(part, "polling", socketio) for part in text.split(POLLING_SEPARATOR))


_P = TypeVar("_P", bound=Packet)


class Attachments:
    """Binary messages that follow a Socket.IO binary event or ack are its attachments.

    Give :meth:`mark` every packet of one direction, in order.
    """

    def __init__(self) -> None:
        #: Attachments still expected by the last binary event or ack.
        self.pending = 0

    def mark(self, packet: _P) -> _P:
        """The packet, as ``socketio="attachment"`` if it is a binary message still expected."""
        if isinstance(packet.payload, bytes) and packet.engineio == "message" and self.pending:
            self.pending -= 1
            return replace(packet, socketio="attachment")
        if packet.socketio in ("binary_event", "binary_ack"):
            self.pending = packet.attachments
        return packet
