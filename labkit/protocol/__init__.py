"""labkit's hand-built WebSocket protocol (RFC 6455), sans-I/O.

Bytes in, events out: this package never imports socket, asyncio, threading
or selectors.  A front end reads the socket, feeds the bytes to a parser or a
:class:`Connection`, and writes back the bytes it is handed.

* :mod:`.http11` -- the HTTP/1.1 request and response heads of the handshake;
* :mod:`.handshake` -- the opening handshake (§4);
* :mod:`.frames` -- the frame format, masking, close payloads (§5);
* :mod:`.connection` and :mod:`.events` -- an open connection (§5-§7), with
  the TCP close policy (§7.1.1) in it;
* :mod:`.errors` -- :class:`ProtocolError` and close codes (§7.4);
* :mod:`.engineio` -- Engine.IO and Socket.IO packets, what Socket.IO sends
  inside WebSocket messages and long-polling bodies.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_MAX_FRAGMENTS",
    "GUID",
    "SEND_EOF",
    "TRANSITIONS",
    "BinaryMessage",
    "Close",
    "CloseCode",
    "CloseReceived",
    "Connection",
    "ConnectionStateError",
    "DecodedFrame",
    "Event",
    "Frame",
    "FrameHeader",
    "FrameParser",
    "HTTPParseError",
    "HandshakeError",
    "Headers",
    "Opcode",
    "Ping",
    "Pong",
    "ProtocolError",
    "Request",
    "RequestParser",
    "Response",
    "ResponseParser",
    "Role",
    "State",
    "TextMessage",
    "accept_response_headers",
    "accept_value",
    "apply_mask",
    "build_accept_response",
    "build_client_request",
    "build_close_payload",
    "build_reject_response",
    "build_request",
    "build_response",
    "check_origin",
    "decode",
    "encode",
    "header_length",
    "is_valid_close_code_on_wire",
    "make_key",
    "parse_close_payload",
    "validate_request",
    "validate_response",
]

from .connection import DEFAULT_MAX_FRAGMENTS, SEND_EOF, TRANSITIONS, Connection, Role, State
from .errors import (
    CloseCode,
    ConnectionStateError,
    HandshakeError,
    HTTPParseError,
    ProtocolError,
    is_valid_close_code_on_wire,
)
from .events import BinaryMessage, CloseReceived, Event, Ping, Pong, TextMessage
from .frames import (
    Close,
    DecodedFrame,
    Frame,
    FrameHeader,
    FrameParser,
    Opcode,
    apply_mask,
    build_close_payload,
    decode,
    encode,
    header_length,
    parse_close_payload,
)
from .handshake import (
    GUID,
    accept_response_headers,
    accept_value,
    build_accept_response,
    build_client_request,
    build_reject_response,
    check_origin,
    make_key,
    validate_request,
    validate_response,
)
from .http11 import (
    Headers,
    Request,
    RequestParser,
    Response,
    ResponseParser,
    build_request,
    build_response,
)
