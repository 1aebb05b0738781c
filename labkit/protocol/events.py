"""What a :class:`~labkit.protocol.connection.Connection` reports to its user.

The connection turns frames into these events: whole messages (fragments are
reassembled, §5.4), pings, pongs and the peer's close frame.  They are plain
frozen dataclasses so that tests and lessons can compare them with ``==``.
"""

from __future__ import annotations

__all__ = [
    "BinaryMessage",
    "CloseReceived",
    "Event",
    "Ping",
    "Pong",
    "TextMessage",
]

from dataclasses import dataclass
from typing import TypeAlias


@dataclass(frozen=True)
class TextMessage:
    """A complete text message, already validated as UTF-8 (§5.6, §8.1)."""

    data: str


@dataclass(frozen=True)
class BinaryMessage:
    """A complete binary message (§5.6)."""

    data: bytes


@dataclass(frozen=True)
class Ping:
    """The peer sent a Ping (§5.5.2); the matching Pong is already queued."""

    payload: bytes = b""


@dataclass(frozen=True)
class Pong:
    """The peer sent a Pong (§5.5.3), solicited or not."""

    payload: bytes = b""


@dataclass(frozen=True)
class CloseReceived:
    """The peer sent a Close frame (§5.5.1).

    ``code`` is 1005 (NO_STATUS_RECEIVED) when the frame had no payload
    (§7.1.5).  When the peer started the closing handshake the connection has
    already queued its reply; either way the connection is now CLOSED.
    """

    code: int
    reason: str = ""


Event: TypeAlias = TextMessage | BinaryMessage | Ping | Pong | CloseReceived
