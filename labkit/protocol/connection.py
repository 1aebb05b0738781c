"""An established WebSocket connection, sans I/O (RFC 6455 §5-§7).

Bring your own I/O, in the manner of websockets' ``Protocol`` and h11/wsproto:

* bytes from the socket go to :meth:`Connection.receive_data`, which returns
  the :mod:`~labkit.protocol.events` they complete (or, one event at a time,
  to :meth:`Connection.feed_data` then :meth:`Connection.next_event`); when
  the socket reports end of file, call :meth:`Connection.receive_eof`;
* every byte for the socket comes out of one channel,
  :meth:`Connection.data_to_send`: the frames of ``send_*`` calls and the
  replies the connection queues by itself (pongs, the Close reply), in wire
  order.  An empty item, :data:`SEND_EOF`, means "close our side of TCP now".

The TCP close policy lives here, not in each front end.  Once the closing
handshake is over, or the connection failed, a server queues :data:`SEND_EOF`
at once, since "the underlying TCP connection, in most normal cases, SHOULD be
closed first by the server" (§7.1.1); a client waits for the server to close.
:meth:`Connection.close_expected` tells the front end when TCP should close
soon, so that it can arm a timeout and abort TCP if the peer never closes it.

Failure (§7.1.7 "Fail the WebSocket Connection"): when the peer breaks a rule,
``receive_data`` queues a close frame with the right code (unless one was
already sent), moves to CLOSED and raises :class:`ProtocolError`.  The front
end should log it and write :meth:`Connection.data_to_send`.  Events decoded
before the bad frame in the same call are on ``error.events``.  Only
:class:`ProtocolError` ever escapes ``receive_data``.  For reasons of its own
(a reader too slow, a policy violation), the front end calls
:meth:`Connection.fail`.

Local misuse (sending after close, a ping over 125 bytes...) raises
:class:`ConnectionStateError` or :class:`ValueError` and changes nothing.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_MAX_FRAGMENTS",
    "SEND_EOF",
    "TRANSITIONS",
    "Connection",
    "Role",
    "State",
]

import codecs
import os
from collections.abc import Callable
from enum import Enum

from .errors import CloseCode, ConnectionStateError, ProtocolError, is_valid_close_code_on_wire
from .events import BinaryMessage, CloseReceived, Event, Ping, Pong, TextMessage
from .frames import (
    MAX_CONTROL_PAYLOAD,
    Close,
    Frame,
    FrameHeader,
    FrameParser,
    Opcode,
    build_close_payload,
    encode,
    parse_close_payload,
)

#: The item of :meth:`Connection.data_to_send` that means "half-close TCP now"
#: (send EOF, ``writer.write_eof()``), as in websockets.
SEND_EOF = b""

#: Frames one message may have (§5.4).  Empty fragments cost the sender a few
#: bytes each and never reach the size limit, so without this a peer could
#: keep one message unfinished forever.  Fixed, not derived from the size
#: limit, so that it also holds with ``max_message_size=None``.  Cases 9.3.1
#: and 9.4.1 of Autobahn|Testsuite send 4 MiB in fragments of 64 bytes: 65536
#: full ones, then an empty one with FIN, 65537 frames; 2**17 lets them through.
DEFAULT_MAX_FRAGMENTS = 2**17


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
#: all input is discarded without parsing.  ``receive_eof`` is the peer closing
#: TCP; ``fail`` is the front end failing the connection (§7.1.7).
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
        "fail": State.CLOSED,  # after queuing a close frame (§7.1.7)
        "receive_eof": State.CLOSED,  # no Close came: code 1006 (§7.1.5)
    },
    State.CLOSING: {
        # §5.5.2: a Pong still answers a Ping until the peer's Close arrives.
        "send_pong": State.CLOSING,
        "receive_message": State.CLOSING,
        "receive_ping": State.CLOSING,
        "receive_pong": State.CLOSING,
        "receive_close": State.CLOSED,
        "protocol_error": State.CLOSED,  # our close frame was already sent
        "fail": State.CLOSED,  # our close frame was already sent
        "receive_eof": State.CLOSED,  # no Close came back: code 1006 (§7.1.5)
    },
    State.CLOSED: {
        # Nothing to send any more; the peer closing TCP is what we wait for
        # (§7.1.1), and failing again changes nothing.
        "fail": State.CLOSED,
        "receive_eof": State.CLOSED,
    },
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
        max_fragments: most frames one message may have; one more fails with
            1009 (§10.4).  ``None``: no limit.  See :data:`DEFAULT_MAX_FRAGMENTS`.
        mask_key_source: ``n -> n random bytes`` for client mask keys (§5.3);
            inject a fixed one to get reproducible bytes in tests.
    """

    def __init__(
        self,
        role: Role,
        *,
        max_message_size: int | None = 2**20,
        max_fragments: int | None = DEFAULT_MAX_FRAGMENTS,
        mask_key_source: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self.role = role
        self.max_message_size = max_message_size
        self.max_fragments = max_fragments
        self._mask_key_source = mask_key_source
        self._state = State.OPEN
        self._writes: list[bytes] = []
        self._eof_sent = False
        self._eof_received = False
        self._close_sent: Close | None = None
        self._close_received: Close | None = None
        self._parser = FrameParser(
            expect_masked=role is Role.SERVER,
            on_header=self._on_header,
            on_payload=self._on_payload,
        )
        # Incoming message being reassembled (§5.4).  One growing buffer, so
        # that neither empty nor tiny fragments cost memory beyond their bytes.
        self._in_opcode: Opcode | None = None
        self._in_size = 0
        self._in_frames = 0
        self._in_data = bytearray()
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self._utf8_frame = False  # current frame's payload goes to _utf8
        # Outgoing fragmented message, if one is unfinished.
        self._out_opcode: Opcode | None = None

    @property
    def state(self) -> State:
        """The current :class:`State`."""
        return self._state

    @property
    def close_sent(self) -> Close | None:
        """The Close frame we sent (code 1005 if it had no status), or ``None``."""
        return self._close_sent

    @property
    def close_received(self) -> Close | None:
        """The peer's Close frame (code 1005 if it had no status), or ``None``."""
        return self._close_received

    @property
    def close_code(self) -> int | None:
        """The WebSocket Connection Close Code (§7.1.5), once CLOSED.

        The peer's code, 1005 if its Close had no status, or 1006 (abnormal
        closure) when no Close came: the peer closed TCP first, or the
        connection failed.  ``None`` while not CLOSED.
        """
        if self._state is not State.CLOSED:
            return None
        if self._close_received is None:
            return int(CloseCode.ABNORMAL_CLOSURE)
        return self._close_received.code

    @property
    def close_reason(self) -> str | None:
        """The WebSocket Connection Close Reason (§7.1.6), once CLOSED; ``""`` without one."""
        if self._state is not State.CLOSED:
            return None
        return "" if self._close_received is None else self._close_received.reason

    def close_expected(self) -> bool:
        """Tell whether the TCP connection should close soon.

        True from our Close frame (or the peer's, or a failure) until the peer
        closes TCP: a server has closed its side and waits for the client's,
        a client waits for the server to close first (§7.1.1).  Then the front
        end arms a timeout and aborts TCP if the peer never closes it.  Ask
        again after each ``receive_*``, ``send_close`` or :meth:`fail` call.
        """
        return self._state is not State.OPEN and not self._eof_received

    def _transition(self, event: str) -> None:
        try:
            self._state = TRANSITIONS[self._state][event]
        except KeyError:
            raise ConnectionStateError(f"cannot {event.replace('_', ' ')} in state {self._state.name}") from None

    # ------------------------------------------------------------------
    # Outgoing

    def data_to_send(self) -> list[bytes]:
        """Take everything queued for the peer, in wire order.

        Write each item; an empty item (:data:`SEND_EOF`) means half-close
        TCP (``write_eof()``), and nothing follows it.
        """
        writes, self._writes = self._writes, []
        return writes

    def _queue(self, frame: Frame) -> None:
        # §5.1/§5.3: a client masks every frame with a fresh key.
        key = self._mask_key_source(4) if self.role is Role.CLIENT else None
        self._writes.append(encode(frame, key))

    def _send_eof(self) -> None:
        if not self._eof_sent:
            self._eof_sent = True
            self._writes.append(SEND_EOF)

    def send_text(self, data: str, *, fin: bool = True) -> None:
        """Send a text message, or a fragment of one with ``fin=False`` (§5.4).

        After ``fin=False``, further ``send_text`` calls continue the same
        message (opcode CONT) until one has ``fin=True``.
        """
        self._send_data(Opcode.TEXT, data.encode("utf-8"), fin)

    def send_binary(self, data: bytes, *, fin: bool = True) -> None:
        """Send a binary message, or a fragment of one (see :meth:`send_text`)."""
        self._send_data(Opcode.BINARY, bytes(data), fin)

    def _send_data(self, opcode: Opcode, payload: bytes, fin: bool) -> None:
        self._transition("send_message")
        if self._out_opcode is None:
            frame_opcode = opcode
        elif self._out_opcode is opcode:
            frame_opcode = Opcode.CONT
        else:
            raise ConnectionStateError(f"a fragmented {self._out_opcode.name} message is unfinished (§5.4)")
        self._queue(Frame(fin, frame_opcode, payload))
        self._out_opcode = None if fin else opcode

    def send_ping(self, payload: bytes = b"") -> None:
        """Send a Ping (§5.5.2); the peer must answer with a Pong."""
        self._check_control_payload(payload)
        self._transition("send_ping")
        self._queue(Frame(True, Opcode.PING, bytes(payload)))

    def send_pong(self, payload: bytes = b"") -> None:
        """Send an unsolicited Pong, a one-way heartbeat (§5.5.3).

        Pings are answered automatically; there is no need to call this.
        """
        self._check_control_payload(payload)
        self._transition("send_pong")
        self._queue(Frame(True, Opcode.PONG, bytes(payload)))

    @staticmethod
    def _check_control_payload(payload: bytes) -> None:
        if len(payload) > MAX_CONTROL_PAYLOAD:
            raise ValueError(f"control frame payload is {len(payload)} bytes, at most 125 allowed (§5.5)")

    def send_close(self, code: int | None = CloseCode.NORMAL, reason: str = "") -> None:
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
        self._close_sent = Close(int(CloseCode.NO_STATUS_RECEIVED) if code is None else int(code), reason)
        self._out_opcode = None

    def fail(self, code: int, reason: str = "") -> None:
        """§7.1.7 Fail the WebSocket Connection, for the front end's own reasons.

        E.g. 1008 for a policy violation, 1011 for a server error, 1009 for
        a reader too slow to keep up.  Queues a Close frame with *code* unless
        one was sent already, moves to CLOSED and, on a server, queues
        :data:`SEND_EOF`.  Incoming data is discarded from then on.  A reason
        too long for a control frame is cut (§5.5).  Raises
        :class:`ValueError` for a code that cannot be sent (§7.4).
        """
        if not is_valid_close_code_on_wire(code):
            raise ValueError(f"close code {code} cannot be sent in a close frame (§7.4)")
        self._fail_connection("fail", int(code), reason)

    def _fail_connection(self, event: str, code: int, reason: str) -> None:
        if self._state is State.OPEN:
            reason = reason.encode("utf-8")[:_MAX_REASON_BYTES].decode("utf-8", "ignore")
            self._queue(Frame(True, Opcode.CLOSE, build_close_payload(code, reason)))
            self._close_sent = Close(code, reason)
        self._transition(event)
        self._closed()

    def _closed(self) -> None:
        """Now CLOSED: drop any unfinished message; a server closes TCP first (§7.1.1)."""
        self._reset_incoming()
        if self.role is Role.SERVER:
            self._send_eof()

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

    def receive_eof(self) -> None:
        """The peer closed its side of TCP: the socket read returned ``b""``.

        Whatever state we were in, the connection is now CLOSED.  If the
        closing handshake was not complete, :attr:`close_code` is 1006
        (abnormal closure, §7.1.5), which is never sent on the wire (§7.4.1).
        Our side of TCP closes too: :meth:`data_to_send` ends with
        :data:`SEND_EOF` unless it already did.  Calling it twice is harmless.
        """
        if self._eof_received:
            return
        self._eof_received = True
        self._transition("receive_eof")
        self._reset_incoming()
        self._send_eof()

    def feed_data(self, data: bytes) -> None:
        """Buffer bytes from the peer without parsing them; see :meth:`next_event`.

        In state CLOSED, input is discarded (§1.4).
        """
        if self._state is not State.CLOSED:
            self._parser.receive_data(data)

    def next_is_plain_data(self) -> bool:
        """Whether parsing on can only deliver data: no Close, no ping, no failure in sight.

        The next frame's header must pass :meth:`FrameParser.next_is_plain_data` and fit
        the message in progress (§5.4: a continuation only continues, a new message only
        starts between messages). A front end looks here to answer the messages it has
        before the connection closes or fails.
        """
        if self._state is State.CLOSED:
            return True
        if not self._parser.next_is_plain_data():
            return False
        opcode = self._parser.next_opcode()
        return opcode is None or (opcode == Opcode.CONT) == (self._in_opcode is not None)

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
            # §7.1.7: send a close frame if we have not yet, then give up.
            self._fail_connection("protocol_error", exc.close_code, exc.reason)
            raise
        return events[0] if events else None

    def _reset_incoming(self) -> None:
        self._in_opcode = None
        self._in_size = 0
        self._in_frames = 0
        self._in_data.clear()
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
        self._in_frames += 1
        if self.max_fragments is not None and self._in_frames > self.max_fragments:
            raise ProtocolError(
                f"message in more than {self.max_fragments} frames",
                section="10.4",
                close_code=CloseCode.MESSAGE_TOO_BIG,
            )
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
            self._check_text(chunk, final=False)

    def _check_text(self, data: bytes, *, final: bool) -> None:
        # The decoded text is not kept: the message is decoded once, whole,
        # when it is complete, so its buffer holds bytes only.
        try:
            self._utf8.decode(data, final)
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
            self._close_received = Close(code, reason)
            if self._state is State.OPEN:
                # §5.5.1: reply with a Close that "typically echos the status
                # code"; the reason is echoed too, as websockets does, so the
                # peer sees its own words come back (a browser's CloseEvent
                # shows them).  A close without status is answered without
                # status (1005 is never sent).  The payload was validated above.
                self._queue(Frame(True, Opcode.CLOSE, frame.payload))
                self._close_sent = self._close_received
            self._transition("receive_close")
            # §1.4: after a close, a peer discards any further data received;
            # an unfinished fragmented message is abandoned.
            self._closed()
            events.append(CloseReceived(code, reason))
        else:
            self._transition("receive_message")
            if self._state is not State.OPEN:
                return  # CLOSING: we said goodbye; data is discarded (§1.4)
            if frame.fin:
                events.append(self._finish_message(frame.payload))
            else:
                self._in_data += frame.payload

    def _finish_message(self, last: bytes) -> TextMessage | BinaryMessage:
        # A message in one frame (the usual case) is not copied into the buffer.
        if self._in_data:
            self._in_data += last
            last = bytes(self._in_data)
        data = last
        message: TextMessage | BinaryMessage
        if self._in_opcode is Opcode.TEXT:
            self._check_text(b"", final=True)  # a sequence cut short at the end?
            message = TextMessage(data.decode("utf-8"))
        else:
            message = BinaryMessage(data)
        self._reset_incoming()
        return message
