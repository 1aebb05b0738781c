"""The WebSocket frame format (RFC 6455 §5): encoding, masking, parsing.

Wire layout (§5.2)::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-------+-+-------------+-------------------------------+
    |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
    |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
    |N|V|V|V|       |S|             |   (if payload len==126/127)   |
    | |1|2|3|       |K|             |                               |
    +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
    |     Extended payload length continued, if payload len == 127  |
    + - - - - - - - - - - - - - - - +-------------------------------+
    |                               |Masking-key, if MASK set to 1  |
    +-------------------------------+-------------------------------+
    | Masking-key (continued)       |          Payload Data         |
    +-------------------------------- - - - - - - - - - - - - - - - +

This module knows frames only; message reassembly, UTF-8 validation and the
closing handshake live in :mod:`labkit.protocol.connection`.
"""

from __future__ import annotations

__all__ = [
    "MAX_CONTROL_PAYLOAD",
    "Close",
    "DecodedFrame",
    "Frame",
    "FrameHeader",
    "FrameParser",
    "Opcode",
    "apply_mask",
    "build_close_payload",
    "decode",
    "encode",
    "header_length",
    "parse_close_payload",
]

import struct
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

from .errors import CloseCode, ProtocolError, is_valid_close_code_on_wire

#: §5.5: "All control frames MUST have a payload length of 125 bytes or less".
MAX_CONTROL_PAYLOAD = 125

_FIN = 0x80
_RSV1, _RSV2, _RSV3 = 0x40, 0x20, 0x10
_OPCODE = 0x0F
_MASK = 0x80
_LEN7 = 0x7F


class Opcode(IntEnum):
    """Frame opcodes (§5.2); 0x3-0x7 and 0xB-0xF are reserved."""

    CONT = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA

    @property
    def is_control(self) -> bool:
        """Control opcodes have the high bit of the nibble set (§5.5)."""
        return self >= 0x8


_OPCODES: dict[int, Opcode] = {int(op): op for op in Opcode}


@dataclass(frozen=True)
class Frame:
    """One WebSocket frame, payload unmasked.

    The MASK bit, the payload length and the masking key are wire details:
    :func:`encode` produces them and :class:`FrameParser` consumes them.
    """

    fin: bool
    opcode: Opcode
    payload: bytes = b""
    rsv1: bool = False
    rsv2: bool = False
    rsv3: bool = False

    def __post_init__(self) -> None:
        # Accept ints and bytes-likes for convenience, store canonical types
        # so that equality and hashing behave.
        if not isinstance(self.opcode, Opcode):
            object.__setattr__(self, "opcode", Opcode(self.opcode))
        if type(self.payload) is not bytes:
            object.__setattr__(self, "payload", bytes(self.payload))


@dataclass(frozen=True)
class DecodedFrame(Frame):
    """A frame as read from the wire, remembering its masking key.

    ``mask_key`` is the 4-byte key for a masked frame, ``None`` otherwise; a
    tap can show the masked bytes with ``apply_mask(frame.payload, key)``.
    """

    mask_key: bytes | None = None

    @property
    def frame(self) -> Frame:
        """The same frame without wire details, comparable to a :class:`Frame`."""
        return Frame(self.fin, self.opcode, self.payload, self.rsv1, self.rsv2, self.rsv3)


@dataclass(frozen=True)
class FrameHeader:
    """A parsed frame header, reported before its payload has arrived.

    Letting the receiver see the header first is what allows a size limit or a
    fragmentation error to fail the connection without buffering the payload.
    """

    fin: bool
    opcode: Opcode
    rsv1: bool
    rsv2: bool
    rsv3: bool
    payload_length: int
    mask_key: bytes | None
    #: Number of header bytes on the wire (2 to 14).
    size: int


def apply_mask(data: bytes | bytearray | memoryview, key: bytes | bytearray) -> bytes:
    """XOR *data* with the 4-byte *key* repeated (§5.3); its own inverse.

    No per-byte Python loop. A short payload is one big-integer XOR. A long one is XORed by
    numpy, as websockets hands it to its C extension: turning 64 KiB into an integer and
    back costs about 80 µs, numpy's XOR about 7 (``labkit bench decode`` and ``throughput``).
    """
    if len(key) != 4:
        raise ValueError(f"mask key must be 4 bytes, got {len(key)}")
    n = len(data)
    stream = (bytes(key) * (n // 4 + 1))[:n]
    if n <= _SHORT_PAYLOAD:
        return (int.from_bytes(data, "little") ^ int.from_bytes(stream, "little")).to_bytes(n, "little")
    import numpy  # here, not at the top: only long payloads pay its import (about 0.1 s, once)

    return (numpy.frombuffer(data, numpy.uint8) ^ numpy.frombuffer(stream, numpy.uint8)).tobytes()


#: Up to this many bytes the big-integer XOR is faster than numpy's (call overhead).
_SHORT_PAYLOAD = 512


def header_length(payload_length: int, masked: bool) -> int:
    """Bytes of frame header for a payload: 2, 4 or 10, plus 4 if masked (§5.2)."""
    if payload_length < 0:
        raise ValueError("payload length cannot be negative")
    if payload_length <= 125:
        size = 2
    elif payload_length <= 0xFFFF:
        size = 4
    else:
        size = 10
    return size + 4 if masked else size


def encode(frame: Frame, mask_key: bytes | None = None) -> bytes:
    """Serialize *frame*, masked with *mask_key* if given (§5.2, §5.3).

    Uses the minimal payload-length encoding, as senders must (§5.2).  Raises
    :class:`ValueError` for a frame no endpoint may send: a control frame that
    is fragmented or longer than 125 bytes (§5.5), or a payload over 2**63-1.
    RSV bits are written as given; they belong to extensions (§5.8).
    """
    payload = frame.payload
    length = len(payload)
    if frame.opcode.is_control:
        if not frame.fin:
            raise ValueError("control frames cannot be fragmented (§5.5)")
        if length > MAX_CONTROL_PAYLOAD:
            raise ValueError(f"control frame payload is {length} bytes, at most 125 allowed (§5.5)")
    if length > 0x7FFF_FFFF_FFFF_FFFF:
        raise ValueError("payload longer than 2**63-1 bytes (§5.2)")
    head1 = (
        (_FIN if frame.fin else 0)
        | (_RSV1 if frame.rsv1 else 0)
        | (_RSV2 if frame.rsv2 else 0)
        | (_RSV3 if frame.rsv3 else 0)
        | frame.opcode
    )
    mask_bit = _MASK if mask_key is not None else 0
    if length <= 125:
        header = struct.pack("!BB", head1, mask_bit | length)
    elif length <= 0xFFFF:
        header = struct.pack("!BBH", head1, mask_bit | 126, length)
    else:
        header = struct.pack("!BBQ", head1, mask_bit | 127, length)
    if mask_key is None:
        return header + payload
    return header + bytes(mask_key) + apply_mask(payload, mask_key)


@dataclass(frozen=True)
class Close:
    """The status code and reason a Close frame carried (§5.5.1).

    ``code`` is 1005 for a Close frame without a status (§7.1.5): 1005 names
    that absence and never travels itself (§7.4.1).
    """

    code: int
    reason: str = ""


def parse_close_payload(payload: bytes) -> tuple[int, str]:
    """Read the status code and reason of a Close frame (§5.5.1).

    An empty payload means "no status" and is reported as 1005 (§7.1.5).
    Raises :class:`ProtocolError`: 1002 for a 1-byte payload or a code that
    may not appear on the wire (§7.4), 1007 for a reason that is not UTF-8.
    """
    if len(payload) == 0:
        return int(CloseCode.NO_STATUS_RECEIVED), ""
    if len(payload) == 1:
        raise ProtocolError("close frame payload of 1 byte: a status code needs 2", section="5.5.1")
    (code,) = struct.unpack("!H", payload[:2])
    if not is_valid_close_code_on_wire(code):
        raise ProtocolError(f"close code {code} is not allowed on the wire", section="7.4")
    try:
        reason = payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError(
            "close reason is not valid UTF-8",
            section="5.5.1",
            close_code=CloseCode.INVALID_PAYLOAD,
        ) from None
    return code, reason


def build_close_payload(code: int, reason: str = "") -> bytes:
    """Payload of a Close frame: 2-byte code then UTF-8 reason (§5.5.1).

    Raises :class:`ValueError` for a code that cannot be sent (§7.4) or a
    reason that does not fit the 125-byte control payload.
    """
    if not is_valid_close_code_on_wire(code):
        raise ValueError(f"close code {code} cannot be sent in a close frame (§7.4)")
    data = struct.pack("!H", code) + reason.encode("utf-8")
    if len(data) > MAX_CONTROL_PAYLOAD:
        raise ValueError(f"close reason is {len(data) - 2} bytes of UTF-8, at most 123 fit (§5.5)")
    return data


class FrameParser:
    """Incremental frame decoder: feed bytes in any chunks, get whole frames.

    Args:
        expect_masked: ``True`` on a server (client frames MUST be masked),
            ``False`` on a client (server frames MUST NOT be), ``None`` to
            accept both, e.g. for a tap that only observes (§5.1).
        max_payload: largest data-frame payload accepted; a larger one fails
            with 1009 as soon as its header is read (§10.4).  ``None``: no limit.
        reserved_bits_allowed: RSV bits (``0x40``, ``0x20``, ``0x10``) that a
            negotiated extension gives a meaning to; others must be 0 (§5.2).
        on_header: called with each :class:`FrameHeader` before the payload is
            read; it may raise :class:`ProtocolError` to stop early.
        on_payload: called with each unmasked payload chunk as it arrives,
            which lets a receiver validate UTF-8 before the frame is complete.

    Any rule violation raises :class:`ProtocolError`; the parser is then dead
    and raises the same error again if used.  Non-minimal length encodings
    are accepted: the "minimal number of bytes" rule binds senders (§5.2),
    and ``websockets`` is equally lenient.
    """

    def __init__(
        self,
        *,
        expect_masked: bool | None,
        max_payload: int | None = None,
        reserved_bits_allowed: int = 0,
        on_header: Callable[[FrameHeader], None] | None = None,
        on_payload: Callable[[FrameHeader, bytes], None] | None = None,
    ) -> None:
        self.expect_masked = expect_masked
        self.max_payload = max_payload
        self.reserved_bits_allowed = reserved_bits_allowed & (_RSV1 | _RSV2 | _RSV3)
        self._on_header = on_header
        self._on_payload = on_payload
        self._buffer = bytearray()
        self._header: FrameHeader | None = None
        self._parts: list[bytes] = []
        self._received = 0  # payload bytes of the current frame read so far
        self._error: ProtocolError | None = None

    @property
    def buffered(self) -> int:
        """Bytes received but not yet parsed (payload bytes are taken at once)."""
        return len(self._buffer)

    def next_is_plain_data(self) -> bool:
        """Whether parsing on can only continue a data stream: no control frame, nothing to fail.

        True in the middle of a payload, when fewer than two bytes wait, or when the next
        header starts as a data frame that passes §5.2 (opcode 0, 1 or 2, no reserved bit,
        MASK as expected). A front end that must answer earlier messages before a Close or
        a failure (as a peer expects, §7.1.7) looks here before parsing on.
        """
        if self._header is not None or len(self._buffer) < 2:
            return True
        first, second = self._buffer[0], self._buffer[1]
        if first & (_RSV1 | _RSV2 | _RSV3) & ~self.reserved_bits_allowed or first & _OPCODE > Opcode.BINARY:
            return False
        return self.expect_masked is None or bool(second & _MASK) == self.expect_masked

    def next_opcode(self) -> int | None:
        """The opcode of the next frame if its first byte waits and no frame is half read."""
        if self._header is not None or not self._buffer:
            return None
        return self._buffer[0] & _OPCODE

    def receive_data(self, data: bytes) -> None:
        """Append bytes from the wire; call :meth:`next_frame` to parse them."""
        if self._error is not None:
            raise self._error
        self._buffer += data

    def feed(self, data: bytes) -> list[DecodedFrame]:
        """Append bytes and return every frame they complete, in order."""
        self.receive_data(data)
        frames = []
        while (frame := self.next_frame()) is not None:
            frames.append(frame)
        return frames

    def next_frame(self) -> DecodedFrame | None:
        """Return the next complete frame, or ``None`` if more bytes are needed."""
        if self._error is not None:
            raise self._error
        try:
            return self._next_frame()
        except ProtocolError as exc:
            self._error = exc
            self._buffer.clear()
            self._parts.clear()
            raise

    def _next_frame(self) -> DecodedFrame | None:
        header = self._header
        if header is None:
            header = self._parse_header()
            if header is None:
                return None
            self._header = header
            if self._on_header is not None:
                self._on_header(header)
        remaining = header.payload_length - self._received
        if remaining > 0:
            if not self._buffer:
                return None
            with memoryview(self._buffer) as view:  # one copy, not a bytearray slice and then bytes
                chunk = bytes(view[:remaining])
            del self._buffer[:remaining]
            if header.mask_key is not None:
                # §5.3: octet i uses key octet i MOD 4, counted from the frame
                # start, so rotate the key by what was already unmasked.
                shift = self._received % 4
                chunk = apply_mask(chunk, header.mask_key[shift:] + header.mask_key[:shift])
            self._received += len(chunk)
            self._parts.append(chunk)
            if self._on_payload is not None:
                self._on_payload(header, chunk)
            if self._received < header.payload_length:
                return None
        payload = b"".join(self._parts)
        self._parts.clear()
        self._received = 0
        self._header = None
        return DecodedFrame(
            header.fin,
            header.opcode,
            payload,
            header.rsv1,
            header.rsv2,
            header.rsv3,
            mask_key=header.mask_key,
        )

    def _parse_header(self) -> FrameHeader | None:
        buf = self._buffer
        if len(buf) < 2:
            return None
        head1, head2 = buf[0], buf[1]
        # Everything checkable from the first two bytes is checked before
        # waiting for the rest, so a bad frame fails as early as possible.
        opcode = _OPCODES.get(head1 & _OPCODE)
        if opcode is None:
            raise ProtocolError(f"reserved opcode 0x{head1 & _OPCODE:X}", section="5.2")
        rsv = head1 & (_RSV1 | _RSV2 | _RSV3)
        if rsv & ~self.reserved_bits_allowed:
            raise ProtocolError(
                f"reserved bits set (0x{rsv:02X}) without a negotiated extension",
                section="5.2",
            )
        fin = bool(head1 & _FIN)
        masked = bool(head2 & _MASK)
        len7 = head2 & _LEN7
        if opcode.is_control:
            if not fin:
                raise ProtocolError(f"fragmented control frame ({opcode.name})", section="5.5")
            if len7 > MAX_CONTROL_PAYLOAD:
                raise ProtocolError(
                    f"control frame ({opcode.name}) longer than 125 bytes",
                    section="5.5",
                )
        if self.expect_masked is True and not masked:
            raise ProtocolError("client frame is not masked", section="5.1")
        if self.expect_masked is False and masked:
            raise ProtocolError("server frame is masked", section="5.1")

        extra = 2 if len7 == 126 else 8 if len7 == 127 else 0
        size = 2 + extra + (4 if masked else 0)
        if len(buf) < size:
            return None
        if len7 == 126:
            (length,) = struct.unpack_from("!H", buf, 2)
        elif len7 == 127:
            (length,) = struct.unpack_from("!Q", buf, 2)
            if length >> 63:
                raise ProtocolError(
                    "64-bit payload length has its most significant bit set",
                    section="5.2",
                )
        else:
            length = len7
        if self.max_payload is not None and not opcode.is_control and length > self.max_payload:
            raise ProtocolError(
                f"frame payload of {length} bytes exceeds the limit of {self.max_payload} bytes",
                section="10.4",
                close_code=CloseCode.MESSAGE_TOO_BIG,
            )
        mask_key = bytes(buf[size - 4 : size]) if masked else None
        del buf[:size]
        return FrameHeader(
            fin=fin,
            opcode=opcode,
            rsv1=bool(head1 & _RSV1),
            rsv2=bool(head1 & _RSV2),
            rsv3=bool(head1 & _RSV3),
            payload_length=length,
            mask_key=mask_key,
            size=size,
        )


def decode(data: bytes, *, expect_masked: bool | None = None) -> DecodedFrame:
    """Decode exactly one complete frame, e.g. a hex dump in a lesson.

    Raises :class:`ProtocolError` for an invalid frame and :class:`ValueError`
    if *data* holds less or more than one frame.
    """
    parser = FrameParser(expect_masked=expect_masked)
    parser.receive_data(data)
    frame = parser.next_frame()
    if frame is None:
        raise ValueError(f"incomplete frame: {len(data)} bytes are not enough")
    if parser.buffered:
        raise ValueError(f"{parser.buffered} bytes follow the frame")
    return frame
