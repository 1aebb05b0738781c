"""An established WebSocket connection, sans I/O (RFC 6455 §5-§7).

Bring your own I/O, in the manner of h11/wsproto:

* bytes from the socket go to :meth:`Connection.receive_data`, which returns
  the :mod:`~labkit.protocol.events` they complete (or, one event at a time,
  to :meth:`Connection.feed_data` then :meth:`Connection.next_event`);
* bytes for the socket come from :meth:`Connection.data_to_send`, which
  holds what ``receive_data`` queued by itself (pongs, close replies).
  Every ``send_*`` method *returns* everything pending -- those replies
  first, then its own frame -- so ``sock.sendall(conn.send_text("hi"))`` is
  correct on its own.  There is one outgoing queue and each byte is handed
  out exactly once, in wire order: write every value a ``send_*`` returns.

Failure (§7.1.7 "Fail the WebSocket Connection"): when the peer breaks a rule,
``receive_data`` queues a close frame with the right code (unless one was
already sent), moves to CLOSED and raises :class:`ProtocolError`.  The front
end should log it, write :meth:`Connection.data_to_send`, and close TCP.
Events decoded before the bad frame in the same call are on ``error.events``.
Only :class:`ProtocolError` ever escapes ``receive_data``.

Local misuse (sending after close, a ping over 125 bytes...) raises
:class:`ConnectionStateError` or :class:`ValueError` and changes nothing.
"""

from __future__ import annotations

__all__ = [
    "TRANSITIONS",
    "Connection",
    "Role",
    "State",
]

import codecs
import os
from collections.abc import Callable
from enum import Enum

from .errors import CloseCode, ConnectionStateError, ProtocolError
from .events import BinaryMessage, CloseReceived, Event, Ping, Pong, TextMessage
from .frames import (
    MAX_CONTROL_PAYLOAD,
    Frame,
    FrameHeader,
    FrameParser,
    Opcode,
    build_close_payload,
    encode,
    parse_close_payload,
)


class Role(Enum):
    """Which end we are: clients mask what they send, servers must not (§5.1)."""

    CLIENT = "client"
    SERVER = "server"


class State(Enum):
    """Where the closing handshake stands (§7)."""

    #: Messages flow both ways.
    OPEN = "open"
    #: We sent a Close frame and wait for the peer's (§7.1.2).
    CLOSING = "closing"
    #: Close frames went both ways, or the connection failed.  A server now
    #: closes TCP; a client waits for the server to do so (§7.1.1).
    CLOSED = "closed"


#: state -> event -> next state.  The connection consults this table for every
#: action; an event missing from a state's row is not allowed in that state.
#: Received data frames in CLOSING are parsed but discarded (§1.4); in CLOSED
#: all input is discarded without parsing.
TRANSITIONS: dict[State, dict[str, State]] = {
    State.OPEN: {
        "send_message": State.OPEN,
        "send_ping": State.OPEN,
        "send_pong": State.OPEN,
        "send_close": State.CLOSING,
        "receive_message": State.OPEN,
        "receive_ping": State.OPEN,
        "receive_pong": State.OPEN,
        "receive_close": State.CLOSED,  # after queuing our reply (§5.5.1)
        "protocol_error": State.CLOSED,  # after queuing a close frame (§7.1.7)
    },
    State.CLOSING: {
        # §5.5.2: a Pong still answers a Ping until the peer's Close arrives.
        "send_pong": State.CLOSING,
        "receive_message": State.CLOSING,
        "receive_ping": State.CLOSING,
        "receive_pong": State.CLOSING,
        "receive_close": State.CLOSED,
        "protocol_error": State.CLOSED,  # our close frame was already sent
    },
    State.CLOSED: {},
}

# Room for the code in a 125-byte close payload (§5.5).
_MAX_REASON_BYTES = MAX_CONTROL_PAYLOAD - 2


class Connection:
    """One end of an established WebSocket connection (after the handshake).

    Args:
        role: :attr:`Role.CLIENT` or :attr:`Role.SERVER`.
        max_message_size: largest message accepted, in bytes; checked on every
            frame header against the running total, so an oversized message
            fails with 1009 before it is buffered (§10.4).  ``None``: no limit.
        mask_key_source: ``n -> n random bytes`` for client mask keys (§5.3);
            inject a fixed one to get reproducible bytes in tests.
    """

    def __init__(
        self,
        role: Role,
        *,
        max_message_size: int | None = 2**20,
        mask_key_source: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self.role = role
        self.max_message_size = max_message_size
        self._mask_key_source = mask_key_source
        self._state = State.OPEN
        self._outgoing = bytearray()
        self._parser = FrameParser(
            expect_masked=role is Role.SERVER,
            on_header=self._on_header,
            on_payload=self._on_payload,
        )
        # Incoming message being reassembled (§5.4).
        self._in_opcode: Opcode | None = None
        self._in_size = 0
        self._in_parts: list[bytes] = []
        self._in_text: list[str] = []
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self._utf8_frame = False  # current frame's payload goes to _utf8
        # Outgoing fragmented message, if one is unfinished.
        self._out_opcode: Opcode | None = None

    @property
    def state(self) -> State:
        """The current :class:`State`."""
        return self._state

    def _transition(self, event: str) -> None:
        try:
            self._state = TRANSITIONS[self._state][event]
        except KeyError:
            raise ConnectionStateError(f"cannot {event.replace('_', ' ')} in state {self._state.name}") from None

    # ------------------------------------------------------------------
    # Outgoing

    def data_to_send(self) -> bytes:
        """Take every byte queued for the peer, in order."""
        data = bytes(self._outgoing)
        self._outgoing.clear()
        return data

    def _queue(self, frame: Frame) -> None:
        # §5.1/§5.3: a client masks every frame with a fresh key.
        key = self._mask_key_source(4) if self.role is Role.CLIENT else None
        self._outgoing += encode(frame, key)

    def send_text(self, data: str, *, fin: bool = True) -> bytes:
        """Send a text message, or a fragment of one with ``fin=False`` (§5.4).

        After ``fin=False``, further ``send_text`` calls continue the same
        message (opcode CONT) until one has ``fin=True``.
        """
        return self._send_data(Opcode.TEXT, data.encode("utf-8"), fin)

    def send_binary(self, data: bytes, *, fin: bool = True) -> bytes:
        """Send a binary message, or a fragment of one (see :meth:`send_text`)."""
        return self._send_data(Opcode.BINARY, bytes(data), fin)

    def _send_data(self, opcode: Opcode, payload: bytes, fin: bool) -> bytes:
        self._transition("send_message")
        if self._out_opcode is None:
            frame_opcode = opcode
        elif self._out_opcode is opcode:
            frame_opcode = Opcode.CONT
        else:
            raise ConnectionStateError(f"a fragmented {self._out_opcode.name} message is unfinished (§5.4)")
        self._queue(Frame(fin, frame_opcode, payload))
        self._out_opcode = None if fin else opcode
        return self.data_to_send()

    def send_ping(self, payload: bytes = b"") -> bytes:
        """Send a Ping (§5.5.2); the peer must answer with a Pong."""
        self._check_control_payload(payload)
        self._transition("send_ping")
        self._queue(Frame(True, Opcode.PING, bytes(payload)))
        return self.data_to_send()

    def send_pong(self, payload: bytes = b"") -> bytes:
        """Send an unsolicited Pong, a one-way heartbeat (§5.5.3).

        Pings are answered automatically; there is no need to call this.
        """
        self._check_control_payload(payload)
        self._transition("send_pong")
        self._queue(Frame(True, Opcode.PONG, bytes(payload)))
        return self.data_to_send()

    @staticmethod
    def _check_control_payload(payload: bytes) -> None:
        if len(payload) > MAX_CONTROL_PAYLOAD:
            raise ValueError(f"control frame payload is {len(payload)} bytes, at most 125 allowed (§5.5)")

    def send_close(self, code: int | None = CloseCode.NORMAL, reason: str = "") -> bytes:
        """Start the closing handshake (§7.1.2); state becomes CLOSING.

        ``code=None`` sends a Close frame without a status (peer sees 1005).
        Raises :class:`ValueError` for a code that cannot be sent (§7.4) or
        a reason over 123 UTF-8 bytes.
        """
        if code is None:
            if reason:
                raise ValueError("a close reason needs a status code (§5.5.1)")
            payload = b""
        else:
            payload = build_close_payload(code, reason)
        self._transition("send_close")
        self._queue(Frame(True, Opcode.CLOSE, payload))
        self._out_opcode = None
        return self.data_to_send()

    # ------------------------------------------------------------------
    # Incoming

    def receive_data(self, data: bytes) -> list[Event]:
        """Process bytes from the peer; return the events they complete.

        Raises :class:`ProtocolError` after failing the connection (see the
        module docstring).  In state CLOSED, input is ignored (§1.4).
        """
        self.feed_data(data)
        events: list[Event] = []
        try:
            while (event := self.next_event()) is not None:
                events.append(event)
        except ProtocolError as exc:
            exc.events = tuple(events)
            raise
        return events

    def feed_data(self, data: bytes) -> None:
        """Buffer bytes from the peer without parsing them; see :meth:`next_event`.

        In state CLOSED, input is discarded (§1.4).
        """
        if self._state is not State.CLOSED:
            self._parser.receive_data(data)

    def next_event(self) -> Event | None:
        """Parse buffered bytes up to the next event; ``None`` if more are needed.

        One event at a time lets a front end answer a message before the
        frames behind it are parsed: when a message and then a Close, or an
        invalid frame, arrive in one read, the reply to the message goes out
        before the Close reply or the failing close frame (§7.1.7), as a peer
        expects.  :meth:`receive_data` cannot do that: it has already queued
        the close frame when it returns the message.  Raises
        :class:`ProtocolError` like :meth:`receive_data`.
        """
        events: list[Event] = []
        try:
            # Stop at CLOSED: bytes after the peer's Close are discarded (§1.4).
            while not events and self._state is not State.CLOSED:
                frame = self._parser.next_frame()
                if frame is None:
                    return None
                self._handle_frame(frame, events)
        except ProtocolError as exc:
            self._fail(exc)
            raise
        return events[0] if events else None

    def _fail(self, exc: ProtocolError) -> None:
        """§7.1.7: send a close frame if we have not yet, then give up."""
        if self._state is State.OPEN:
            reason = exc.reason.encode("utf-8")[:_MAX_REASON_BYTES]
            payload = build_close_payload(exc.close_code, reason.decode("utf-8", "ignore"))
            self._queue(Frame(True, Opcode.CLOSE, payload))
        self._transition("protocol_error")
        self._reset_incoming()

    def _reset_incoming(self) -> None:
        self._in_opcode = None
        self._in_size = 0
        self._in_parts.clear()
        self._in_text.clear()
        self._utf8.reset()
        self._utf8_frame = False

    def _on_header(self, header: FrameHeader) -> None:
        """Checks that need only the header, run before the payload is read."""
        self._utf8_frame = False
        if header.opcode.is_control or self._state is not State.OPEN:
            return
        # §5.4: a message is one TEXT/BINARY frame then CONT frames until FIN.
        if header.opcode is Opcode.CONT:
            if self._in_opcode is None:
                raise ProtocolError("continuation frame without a message in progress", section="5.4")
        elif self._in_opcode is not None:
            raise ProtocolError(
                f"new {header.opcode.name} frame while a fragmented {self._in_opcode.name} message is unfinished",
                section="5.4",
            )
        else:
            self._in_opcode = header.opcode
        size = self._in_size + header.payload_length
        if self.max_message_size is not None and size > self.max_message_size:
            raise ProtocolError(
                f"message of at least {size} bytes exceeds the limit of {self.max_message_size} bytes",
                section="10.4",
                close_code=CloseCode.MESSAGE_TOO_BIG,
            )
        self._in_size = size
        self._utf8_frame = self._in_opcode is Opcode.TEXT

    def _on_payload(self, header: FrameHeader, chunk: bytes) -> None:
        """Validate text as it arrives, to fail fast on bad UTF-8 (§8.1)."""
        if self._utf8_frame:
            self._decode_text(chunk, final=False)

    def _decode_text(self, data: bytes, *, final: bool) -> None:
        try:
            self._in_text.append(self._utf8.decode(data, final))
        except UnicodeDecodeError as exc:
            raise ProtocolError(
                f"invalid UTF-8 in text message: {exc.reason}",
                section="8.1",
                close_code=CloseCode.INVALID_PAYLOAD,
            ) from None
        # CPython buffers ED A0..ED BF as an unfinished sequence although it
        # can only become a UTF-16 surrogate, which UTF-8 forbids (RFC 3629
        # §3); catch it now instead of when the next bytes arrive.
        pending = self._utf8.getstate()[0]
        if len(pending) >= 2 and pending[0] == 0xED and pending[1] >= 0xA0:
            raise ProtocolError(
                "invalid UTF-8 in text message: encoded surrogate",
                section="8.1",
                close_code=CloseCode.INVALID_PAYLOAD,
            )

    def _handle_frame(self, frame: Frame, events: list[Event]) -> None:
        opcode = frame.opcode
        if opcode is Opcode.PING:
            self._transition("receive_ping")
            # §5.5.2: answer with a Pong carrying the same payload (§5.5.3).
            self._queue(Frame(True, Opcode.PONG, frame.payload))
            events.append(Ping(frame.payload))
        elif opcode is Opcode.PONG:
            self._transition("receive_pong")
            events.append(Pong(frame.payload))
        elif opcode is Opcode.CLOSE:
            code, reason = parse_close_payload(frame.payload)
            if self._state is State.OPEN:
                # §5.5.1: reply with a Close that "typically echos the status
                # code"; the reason is echoed too, as websockets does, so the
                # peer sees its own words come back (a browser's CloseEvent
                # shows them).  A close without status is answered without
                # status (1005 is never sent).  The payload was validated above.
                self._queue(Frame(True, Opcode.CLOSE, frame.payload))
            self._transition("receive_close")
            # §1.4: after a close, a peer discards any further data received;
            # an unfinished fragmented message is abandoned.
            self._reset_incoming()
            events.append(CloseReceived(code, reason))
        else:
            self._transition("receive_message")
            if self._state is not State.OPEN:
                return  # CLOSING: we said goodbye; data is discarded (§1.4)
            if self._in_opcode is Opcode.TEXT:
                if frame.fin:
                    self._decode_text(b"", final=True)  # truncated sequence?
            else:
                self._in_parts.append(frame.payload)
            if frame.fin:
                events.append(self._finish_message())

    def _finish_message(self) -> TextMessage | BinaryMessage:
        message: TextMessage | BinaryMessage
        if self._in_opcode is Opcode.TEXT:
            message = TextMessage("".join(self._in_text))
        else:
            message = BinaryMessage(b"".join(self._in_parts))
        self._reset_incoming()
        return message
