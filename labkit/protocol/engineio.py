"""Engine.IO v4 and Socket.IO v5 packet types: the wire format Socket.IO adds on top.

Socket.IO is its own protocol, not plain WebSocket: every WebSocket text message (or
long-polling body) is an Engine.IO packet whose first character is its type; an Engine.IO
``message`` (``4``) carries a Socket.IO packet whose first character is its type, e.g.
``42["chat","hola"]`` is an event and ``431["hola"]`` the acknowledgement with id 1.
(socket.io/docs/v4: engine.io-protocol v4 and socket.io-protocol v5.)
"""

from __future__ import annotations

__all__ = ["ENGINEIO_TYPES", "SOCKETIO_TYPES", "POLLING_SEPARATOR"]

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
