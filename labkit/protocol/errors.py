"""Errors and close codes shared by every module of :mod:`labkit.protocol`.

Two families of exceptions exist, and the split matters to a front end:

* :class:`ProtocolError` (and its subclasses) means *the peer* broke a rule.
  It carries the close code to send (RFC 6455 §7.4.1) and the section it
  violated, so logs and lessons can cite the RFC.  :class:`HandshakeError`
  adds the HTTP status and headers a server should answer with, and
  :class:`HTTPParseError` is a handshake error raised while parsing HTTP/1.1.
* :class:`ConnectionStateError` means *the local code* asked for something the
  connection's state forbids (e.g. sending a message after the close frame).
  It is a :class:`RuntimeError`, never a :class:`ProtocolError`: nothing went
  wrong on the wire, so there is nothing to send to the peer.
"""

from __future__ import annotations

__all__ = [
    "CloseCode",
    "ConnectionStateError",
    "HTTPParseError",
    "HandshakeError",
    "ProtocolError",
    "is_valid_close_code_on_wire",
]

from enum import IntEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .events import Event


class CloseCode(IntEnum):
    """Status codes of a Close frame (RFC 6455 §7.4.1, IANA registry)."""

    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    # 1004 is reserved (§7.4.1) and never sent.
    NO_STATUS_RECEIVED = 1005  # local only: the close frame had no payload
    ABNORMAL_CLOSURE = 1006  # local only: TCP closed without a close frame
    INVALID_PAYLOAD = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012  # registered with IANA after RFC 6455
    TRY_AGAIN_LATER = 1013  # registered with IANA after RFC 6455
    BAD_GATEWAY = 1014  # registered with IANA after RFC 6455
    TLS_HANDSHAKE = 1015  # local only: TLS handshake failed


def is_valid_close_code_on_wire(code: int) -> bool:
    """Tell whether *code* may appear in a Close frame (RFC 6455 §7.4).

    1005, 1006 and 1015 describe local conditions and "MUST NOT be set as a
    status code in a Close control frame" (§7.4.1); 1004 is reserved; 0-999
    are unused (§7.4.2); 1016-2999 are reserved for future RFCs and unknown to
    us, so a receiver must treat them as a protocol error; 3000-3999 are
    IANA-registered for libraries and 4000-4999 are private use.
    """
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


class ProtocolError(Exception):
    """The peer violated RFC 6455 (or HTTP/1.1 during the handshake).

    Attributes:
        reason: one line saying what was wrong, without the citation.
        close_code: the code to put in the close frame that fails the
            connection (§7.1.7); 1002 unless a more specific code applies.
        section: the violated section, e.g. ``"5.2"``.
        rfc: the RFC the section belongs to, e.g. ``"RFC 6455"``.
        events: events that were decoded by the same
            :meth:`~labkit.protocol.connection.Connection.receive_data` call
            *before* the failure (empty unless raised by a connection), so
            that valid data received ahead of the bad frame is not lost.
    """

    def __init__(
        self,
        reason: str,
        *,
        section: str,
        close_code: int = CloseCode.PROTOCOL_ERROR,
        rfc: str = "RFC 6455",
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.close_code = int(close_code)
        self.section = section
        self.rfc = rfc
        self.events: tuple[Event, ...] = ()

    def __str__(self) -> str:
        return f"{self.reason} ({self.rfc} §{self.section})"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.reason!r}, section={self.section!r}, close_code={self.close_code})"


class HandshakeError(ProtocolError):
    """The opening handshake failed (RFC 6455 §4).

    Attributes:
        status: for server-side validation, the HTTP status to answer with
            (400, 405, 426, ...); for client-side validation of a response,
            the status code the server sent.
        headers: header fields the rejection response must carry, e.g.
            ``Sec-WebSocket-Version: 13`` with a 426 (§4.4).

    ``close_code`` is meaningless here (no WebSocket exists yet) and stays 1002.
    """

    def __init__(
        self,
        reason: str,
        *,
        status: int,
        section: str,
        headers: tuple[tuple[str, str], ...] = (),
        rfc: str = "RFC 6455",
    ) -> None:
        super().__init__(reason, section=section, rfc=rfc)
        self.status = status
        self.headers = headers

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.reason!r}, section={self.section!r}, status={self.status})"


class HTTPParseError(HandshakeError):
    """Malformed or oversized HTTP/1.1 message (RFC 9112).

    ``status`` is 400 (malformed), 414 (request line too long), 431 (header
    line too long or too many header fields) or 505 (not HTTP/1.x).  It is a
    :class:`HandshakeError`, so a server can answer every handshake failure
    with :func:`labkit.protocol.handshake.build_reject_response`.
    """

    def __init__(self, reason: str, *, status: int = 400, section: str) -> None:
        super().__init__(reason, status=status, section=section, rfc="RFC 9112")


class ConnectionStateError(RuntimeError):
    """The local application asked for an action its state forbids.

    Examples: sending data after a close frame was sent or received, starting
    a new message while a fragmented one is unfinished.  This is a bug in the
    caller, not a misbehaving peer, so it is not a :class:`ProtocolError`.
    """
