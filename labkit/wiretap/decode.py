"""Recorded bytes → HTTP messages, WebSocket frames and Engine.IO/Socket.IO packets. Pure.

Each TCP connection is two byte streams. Both start as HTTP/1.1 (RFC 9112): requests one
way, responses the other, several per connection with keep-alive, bodies delimited by
``Content-Length`` or chunked coding (§6). After a ``101 Switching Protocols`` to
``websocket`` both streams carry WebSocket frames (RFC 6455 §5.2), parsed by
:class:`labkit.protocol.frames.FrameParser`. When the upgraded or polled path is
``/socket.io/`` the text inside is Engine.IO v4 packets (one per WebSocket message, or
separated by ``\\x1e`` in a polling body) carrying Socket.IO v5 packets.

The units are data, not sentences: what a problem was is a code (:data:`Reason`,
:data:`NoteCode`) with its numbers, and :mod:`.display` words it in the lesson's language
when a cell shows it. Decoding never raises: bytes that do not parse become an
:class:`Undecodable` unit that says why, and the rest of that stream is shown raw.

Compressed messages (permessage-deflate, RFC 7692) are inflated within one budget per
decode (:data:`INFLATE_BUDGET` bytes of output in all), so a small recording of highly
compressible messages cannot fill the kernel's memory; past it, messages are left
compressed and say so.
"""

from __future__ import annotations

__all__ = [
    "INFLATE_BUDGET",
    "Decoded",
    "HttpMessage",
    "Note",
    "NoteCode",
    "Packet",
    "Reason",
    "Undecodable",
    "Unit",
    "WebSocketFrame",
    "decode",
]

import zlib
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields
from typing import TYPE_CHECKING, Any, Literal, NamedTuple
from urllib.parse import parse_qs, urlsplit

from ..protocol import engineio
from ..protocol.engineio import Attachments, decode_engineio, decode_polling_payload
from ..protocol.errors import ProtocolError
from ..protocol.frames import FrameHeader, FrameParser, Opcode, parse_close_payload
from ..protocol.http11 import Request, RequestParser, Response, ResponseParser
from ..record import CLIENT_TO_SERVER, SERVER_TO_CLIENT

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .recording import Chunk

#: Bytes of inflated output one decode of a recording may produce, all messages together.
INFLATE_BUDGET = 16 * 2**20
_HEAD_WINDOW = 65536

#: Why bytes could not be decoded; ``detail``, ``have`` and ``need`` of :class:`Undecodable` complete it.
Reason = Literal[
    "not_http",  # detail: the HTTP parser's error
    "incomplete_http_head",
    "invalid_content_length",  # detail: the Content-Length values
    "incomplete_body",  # have of need bytes
    "incomplete_chunked_body",
    "invalid_chunk_size",
    "chunk_without_crlf",
    "switched_protocol",  # detail: the protocol of the 101 (empty when unnamed)
    "no_request_for_101",
    "invalid_frame",  # detail: the frame parser's error
    "incomplete_frame",  # have of need bytes
    "incomplete_frame_header",
    "left_over",
    "decoder_failed",  # detail: the exception (a bug in this module)
]

#: Something to say about one frame; ``detail`` and ``size`` of :class:`Note` complete it.
NoteCode = Literal[
    "compressed",  # permessage-deflate: the message was inflated
    "not_inflated",  # compressed, left so: the decode's inflation budget (size) is spent
    "cannot_inflate",  # detail: zlib's error
    "window_lost",  # an earlier message of this direction could not be inflated, so neither can this one
    "not_utf8",  # a text message that is not UTF-8 (§8.1)
    "unfinished_previous",  # a new message began before the previous one's last frame
    "orphan_continuation",  # a continuation frame with no message to continue
    "invalid_close",  # detail: why the close payload does not parse (§5.5.1)
]


# Engine.IO and Socket.IO: decoded by labkit.protocol.engineio --------------------------


@dataclass(frozen=True, kw_only=True)
class Packet(engineio.Packet):
    """An Engine.IO packet as the tap saw it: on which connection, and which way.

    The fields are those of :class:`labkit.protocol.engineio.Packet`; :mod:`.display` words them.
    """

    conn: int = 0
    direction: str = ""

    @classmethod
    def of(cls, packet: engineio.Packet, conn: int = 0, direction: str = "") -> Packet:
        """The decoded ``packet``, seen on connection ``conn`` going ``direction``."""
        values = {f.name: getattr(packet, f.name) for f in dataclass_fields(engineio.Packet)}
        return cls(**values, conn=conn, direction=direction)


# Units: what crossed the wire, one after another ------------------------------------------


@dataclass(frozen=True)
class _Unit:
    """Bytes of one stream: ``data`` started at ``offset`` bytes into ``direction`` of ``conn``."""

    conn: int
    direction: str
    offset: int
    data: bytes = field(repr=False)

    @property
    def end(self) -> int:
        return self.offset + len(self.data)

    @property
    def packets(self) -> tuple[Packet, ...]:
        return ()


@dataclass(frozen=True)
class HttpMessage(_Unit):
    """An HTTP/1.1 request or response: its head (parsed by labkit.protocol.http11) and body.

    ``engineio`` holds the packets of an Engine.IO long-polling body.
    """

    head: Request | Response
    body: bytes = field(repr=False)
    engineio: tuple[Packet, ...] = ()

    @property
    def packets(self) -> tuple[Packet, ...]:
        return self.engineio

    @property
    def kind(self) -> str:
        """``"HTTP request"`` or ``"HTTP response"``: a code for cells to test, not words to show."""
        return "HTTP request" if isinstance(self.head, Request) else "HTTP response"

    @property
    def start_line(self) -> str:
        """The request line or status line, as on the wire."""
        head = self.head
        if isinstance(head, Request):
            return f"{head.method} {head.target} {head.version}"
        return f"{head.version} {head.status} {head.reason}".rstrip()


class Note(NamedTuple):
    """What else a frame says: a :data:`NoteCode` and, for some, the detail or a size."""

    code: NoteCode
    detail: str = ""
    size: int = 0


@dataclass(frozen=True)
class WebSocketFrame(_Unit):
    """A WebSocket frame (RFC 6455 §5.2): header fields, payload unmasked, and what it carries.

    ``message`` is set on the last frame of a text or binary message: the whole message,
    reassembled from its fragments (and inflated if compressed); it stays ``None`` when a
    compressed message could not be inflated (see ``notes``). ``fragment`` counts the
    frames of a fragmented message (0 for a message in one frame and for control frames).
    """

    fin: bool
    opcode: Opcode
    mask_key: bytes | None
    payload: bytes = field(repr=False)
    header_size: int = 2
    rsv1: bool = False
    rsv2: bool = False
    rsv3: bool = False
    message: str | bytes | None = field(default=None, repr=False)
    fragment: int = 0
    close_code: int | None = None
    close_reason: str | None = None
    notes: tuple[Note, ...] = ()
    engineio: tuple[Packet, ...] = ()

    @property
    def packets(self) -> tuple[Packet, ...]:
        return self.engineio

    @property
    def kind(self) -> str:
        """``"frame"``: a code for cells to test, not words to show."""
        return "frame"

    @property
    def masked(self) -> bool:
        return self.mask_key is not None

    @property
    def length(self) -> int:
        return len(self.payload)


@dataclass(frozen=True)
class Undecodable(_Unit):
    """Bytes that are not what the stream should carry, or a message cut short.

    ``reason`` is a :data:`Reason`; ``have`` of ``need`` bytes arrived when it was cut short.
    """

    reason: Reason
    detail: str = ""
    have: int = 0
    need: int = 0

    @property
    def kind(self) -> str:
        """``"undecodable"``: a code for cells to test, not words to show."""
        return "undecodable"


Unit = HttpMessage | WebSocketFrame | Undecodable


@dataclass(frozen=True)
class Decoded:
    """Units of every connection (by connection, then arrival), and when each arrived."""

    units: tuple[Unit, ...] = ()
    times: tuple[float, ...] = ()


class _Stop(NamedTuple):
    """Why a stream stops decoding here: the fields of the :class:`Undecodable` that follows."""

    reason: Reason
    detail: str = ""
    have: int = 0
    need: int = 0


class _Budget:
    """Inflated bytes one decode may still produce, shared by every compressed stream."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.left = size


# The decoder --------------------------------------------------------------------------


def decode(chunks: Iterable[Chunk], inflate_budget: int = INFLATE_BUDGET) -> Decoded:
    """Decode a recording: connections in number order, each in order of arrival.

    Compressed messages are inflated until ``inflate_budget`` bytes of output are spent,
    counted over the whole recording, not per message.
    """
    by_conn: dict[int, list[tuple[int, Chunk]]] = {}
    for index, chunk in enumerate(chunks):
        by_conn.setdefault(chunk.conn, []).append((index, chunk))
    budget = _Budget(inflate_budget)
    units: list[Unit] = []
    times: list[float] = []
    for conn in sorted(by_conn):
        for arrival, unit in _decode_connection(conn, by_conn[conn], budget):
            units.append(unit)
            times.append(arrival)
    return Decoded(tuple(units), tuple(times))


def _decode_connection(conn: int, chunks: Sequence[tuple[int, Chunk]], budget: _Budget) -> list[tuple[float, Unit]]:
    streams = {CLIENT_TO_SERVER: b"", SERVER_TO_CLIENT: b""}
    # Per direction: where each chunk ends in the stream, its index in the recording and time.
    ends: dict[str, list[int]] = {CLIENT_TO_SERVER: [], SERVER_TO_CLIENT: []}
    arrivals: dict[str, list[tuple[int, float]]] = {CLIENT_TO_SERVER: [], SERVER_TO_CLIENT: []}
    parts: dict[str, list[bytes]] = {CLIENT_TO_SERVER: [], SERVER_TO_CLIENT: []}
    for index, chunk in chunks:
        direction = chunk.direction if chunk.direction in streams else CLIENT_TO_SERVER
        parts[direction].append(chunk.data)
        ends[direction].append((ends[direction][-1] if ends[direction] else 0) + len(chunk.data))
        arrivals[direction].append((index, chunk.time))
    for direction in streams:
        streams[direction] = b"".join(parts[direction])
    try:
        units = _ConnectionDecoder(conn, streams[CLIENT_TO_SERVER], streams[SERVER_TO_CLIENT], budget).run()
    except Exception as exc:  # a decoder bug must not hide the bytes: show them raw
        units = [
            Undecodable(conn, d, 0, data, "decoder_failed", detail=repr(exc)) for d, data in streams.items() if data
        ]

    def arrival(unit: Unit) -> tuple[int, int, float]:
        position = bisect_left(ends[unit.direction], unit.end)
        position = min(position, len(ends[unit.direction]) - 1)
        index, at = arrivals[unit.direction][position]
        return index, unit.offset, at

    keyed = sorted(((arrival(u), u) for u in units if u.data), key=lambda pair: pair[0][:2])
    return [(key[2], unit) for key, unit in keyed]


class _ConnectionDecoder:
    """Both streams of one connection: HTTP until a 101 to websocket, then frames."""

    def __init__(self, conn: int, client: bytes, server: bytes, budget: _Budget) -> None:
        self.conn = conn
        self.client = client
        self.server = server
        self.budget = budget
        self.units: list[Unit] = []

    def run(self) -> list[Unit]:
        self._http()
        return self.units

    def _rest(self, direction: str, data: bytes, pos: int, stop: _Stop | None) -> None:
        if pos < len(data):
            why = stop if stop is not None else _Stop("left_over")
            self.units.append(Undecodable(self.conn, direction, pos, data[pos:], *why))

    def _http(self) -> None:
        client, server = self.client, self.server
        cpos = spos = 0
        client_stop: _Stop | None = None
        server_stop: _Stop | None = None
        while True:
            progressed = False
            request: HttpMessage | None = None
            if client_stop is None:
                result = _parse_http(self.conn, CLIENT_TO_SERVER, client, cpos, None)
                if isinstance(result, HttpMessage):
                    request, cpos, progressed = result, result.end, True
                    request = self._with_polling_packets(request, None)
                    self.units.append(request)
                else:
                    client_stop = result
            method = request.head.method if request is not None and isinstance(request.head, Request) else "GET"
            while server_stop is None:
                result = _parse_http(self.conn, SERVER_TO_CLIENT, server, spos, method)
                if not isinstance(result, HttpMessage):
                    server_stop = result
                    break
                response = self._with_polling_packets(result, request)
                self.units.append(response)
                spos, progressed = result.end, True
                assert isinstance(response.head, Response)
                status = response.head.status
                if status == 101:
                    self._switch(request, response, cpos if request is not None else None, spos)
                    if request is None:
                        self._rest(CLIENT_TO_SERVER, client, cpos, client_stop or _Stop("no_request_for_101"))
                    return
                if status >= 200:
                    break
            if not progressed:
                break
        self._rest(CLIENT_TO_SERVER, client, cpos, client_stop)
        self._rest(SERVER_TO_CLIENT, server, spos, server_stop)

    def _with_polling_packets(self, message: HttpMessage, request: HttpMessage | None) -> HttpMessage:
        """Engine.IO long polling: a POST body carries packets up, a GET's response down."""
        head = message.head
        target_message = message if isinstance(head, Request) else request
        if target_message is None or not isinstance(target_message.head, Request):
            return message
        req = target_message.head
        mode = _engineio_mode(req.target)
        if mode is None or "websocket" in (req.headers.get("Upgrade") or "").lower():
            return message
        if isinstance(head, Request):
            if head.method != "POST" or not message.body:
                return message
        elif head.status != 200 or req.method != "GET" or not message.body:
            return message
        attachments = Attachments()
        packets = tuple(
            Packet.of(attachments.mark(packet), self.conn, message.direction)
            for packet in decode_polling_payload(message.body, socketio=mode == "socket.io")
        )
        return HttpMessage(message.conn, message.direction, message.offset, message.data, head, message.body, packets)

    def _switch(self, request: HttpMessage | None, response: HttpMessage, cpos: int | None, spos: int) -> None:
        head = response.head
        upgrade = (head.headers.get("Upgrade") or "").lower()
        if upgrade != "websocket":
            stop = _Stop("switched_protocol", upgrade)
            if cpos is not None:
                self._rest(CLIENT_TO_SERVER, self.client, cpos, stop)
            self._rest(SERVER_TO_CLIENT, self.server, spos, stop)
            return
        mode = None
        if request is not None and isinstance(request.head, Request):
            mode = _engineio_mode(request.head.target)
        deflate = _deflate_params(head.headers.get_all("Sec-WebSocket-Extensions"))
        if cpos is not None:
            decoder = _FrameDecoder(self.conn, CLIENT_TO_SERVER, mode, deflate, self.budget)
            self.units += decoder.run(self.client, cpos)
        self.units += _FrameDecoder(self.conn, SERVER_TO_CLIENT, mode, deflate, self.budget).run(self.server, spos)


def _engineio_mode(target: str) -> str | None:
    """``"socket.io"`` or ``"engine.io"`` when the request targets that endpoint."""
    try:
        parts = urlsplit(target)
        query = parse_qs(parts.query)
    except ValueError:
        return None
    if query.get("EIO", ["4"])[0] != "4":
        return None
    if parts.path.rstrip("/").endswith("/socket.io"):
        return "socket.io"
    if parts.path.rstrip("/").endswith("/engine.io"):
        return "engine.io"
    return None


def _deflate_params(values: list[str]) -> dict[str, bool] | None:
    """permessage-deflate (RFC 7692) as the server accepted it, or ``None``.

    Per direction: whether each message starts a fresh window (``*_no_context_takeover``, §7.1.1).
    """
    for value in values:
        for extension in value.split(","):
            name, *params = (p.strip().lower() for p in extension.split(";"))
            if name == "permessage-deflate":
                names = {p.split("=")[0].strip() for p in params}
                return {
                    CLIENT_TO_SERVER: "client_no_context_takeover" in names,
                    SERVER_TO_CLIENT: "server_no_context_takeover" in names,
                }
    return None


def _parse_http(conn: int, direction: str, data: bytes, pos: int, method: str | None) -> HttpMessage | _Stop | None:
    """One request (``method`` is None) or response at ``pos``, why there is none, or None at the end."""
    if pos >= len(data):
        return None
    parser: RequestParser | ResponseParser = RequestParser() if method is None else ResponseParser()
    fed = pos
    try:
        head: Request | Response | None = None
        while head is None and fed < len(data):
            head = parser.feed(data[fed : fed + _HEAD_WINDOW])
            fed = min(len(data), fed + _HEAD_WINDOW)
    except ProtocolError as exc:
        return _Stop("not_http", str(exc))
    if head is None:
        return _Stop("incomplete_http_head")
    body_start = fed - len(parser.trailing)
    body = _body(head, data, body_start, method)
    if isinstance(body, _Stop):
        return body
    content, end = body
    return HttpMessage(conn, direction, pos, data[pos:end], head, content)


def _body(head: Request | Response, data: bytes, start: int, method: str | None) -> tuple[bytes, int] | _Stop:
    """The body (RFC 9112 §6.3) and where the message ends, or why it cannot be read."""
    headers = head.headers
    if isinstance(head, Response) and (method == "HEAD" or 100 <= head.status < 200 or head.status in (204, 304)):
        return b"", start
    coding = (headers.get("Transfer-Encoding") or "").lower()
    if "chunked" in coding:
        return _chunked(data, start)
    lengths = headers.get_all("Content-Length")
    if lengths:
        values = {v.strip() for value in lengths for v in value.split(",")}
        if len(values) != 1 or not next(iter(values)).isdigit() or len(next(iter(values))) > 18:
            return _Stop("invalid_content_length", ", ".join(lengths))
        end = start + int(next(iter(values)))
        if end > len(data):
            return _Stop("incomplete_body", have=len(data) - start, need=end - start)
        return data[start:end], end
    if isinstance(head, Request):
        return b"", start
    return data[start:], len(data)  # §6.3: read until the connection closes


def _chunked(data: bytes, pos: int) -> tuple[bytes, int] | _Stop:
    """Chunked transfer coding (RFC 9112 §7.1)."""
    body = bytearray()
    while True:
        line_end = data.find(b"\r\n", pos)
        if line_end < 0:
            return _Stop("incomplete_chunked_body")
        size_text = data[pos:line_end].split(b";")[0].strip()
        if not size_text or len(size_text) > 15 or any(c not in b"0123456789abcdefABCDEF" for c in size_text):
            return _Stop("invalid_chunk_size")
        size = int(size_text, 16)
        pos = line_end + 2
        if size == 0:
            while True:  # trailer fields, then the empty line
                line_end = data.find(b"\r\n", pos)
                if line_end < 0:
                    return _Stop("incomplete_chunked_body")
                empty = line_end == pos
                pos = line_end + 2
                if empty:
                    return bytes(body), pos
        if pos + size + 2 > len(data):
            return _Stop("incomplete_chunked_body")
        body += data[pos : pos + size]
        if data[pos + size : pos + size + 2] != b"\r\n":
            return _Stop("chunk_without_crlf")
        pos += size + 2


class _FrameDecoder:
    """One direction after the upgrade: frames, messages reassembled, packets inside."""

    def __init__(
        self, conn: int, direction: str, mode: str | None, deflate: dict[str, bool] | None, budget: _Budget
    ) -> None:
        self.conn = conn
        self.direction = direction
        self.mode = mode
        self.deflate = deflate
        self.budget = budget
        self.inflater = zlib.decompressobj(-15) if deflate is not None else None
        self.attachments = Attachments()
        self.opcode: Opcode | None = None  # of the message being fragmented
        self.compressed = False
        self.fragments: list[bytes] = []

    def run(self, data: bytes, start: int) -> list[Unit]:
        headers: list[FrameHeader] = []
        parser = FrameParser(expect_masked=None, reserved_bits_allowed=0x70, on_header=headers.append)
        parser.receive_data(data[start:])
        units: list[Unit] = []
        pos = start
        while True:
            try:
                frame = parser.next_frame()
            except ProtocolError as exc:
                units.append(Undecodable(self.conn, self.direction, pos, data[pos:], "invalid_frame", str(exc)))
                return units
            if frame is None:
                break
            header = headers[-1]
            end = pos + header.size + header.payload_length
            units.append(self._frame(data[pos:end], pos, header, frame.payload))
            pos = end
        if pos < len(data):
            if len(headers) > len(units):  # the header arrived, not all of the payload
                size = headers[-1].size + headers[-1].payload_length
                stop = _Stop("incomplete_frame", have=len(data) - pos, need=size)
            else:
                stop = _Stop("incomplete_frame_header")
            units.append(Undecodable(self.conn, self.direction, pos, data[pos:], *stop))
        return units

    def _frame(self, wire: bytes, pos: int, header: FrameHeader, payload: bytes) -> WebSocketFrame:
        fields: dict[str, Any] = {}
        opcode = header.opcode
        if opcode == Opcode.CLOSE:
            try:
                code, reason = parse_close_payload(payload)
                if payload:
                    fields.update(close_code=code, close_reason=reason)
            except ProtocolError as exc:
                fields["notes"] = (Note("invalid_close", str(exc)),)
        elif not opcode.is_control:
            fields.update(self._data_frame(header, payload))
        return WebSocketFrame(
            self.conn,
            self.direction,
            pos,
            wire,
            fin=header.fin,
            opcode=opcode,
            mask_key=header.mask_key,
            payload=payload,
            header_size=header.size,
            rsv1=header.rsv1,
            rsv2=header.rsv2,
            rsv3=header.rsv3,
            **fields,
        )

    def _data_frame(self, header: FrameHeader, payload: bytes) -> dict[str, Any]:
        """§5.4 Fragmentation: the first frame's opcode names the message, the last has FIN."""
        notes: list[Note] = []
        if header.opcode == Opcode.CONT:
            if self.opcode is None:
                return {"notes": (Note("orphan_continuation"),)}
        else:
            if self.opcode is not None:
                notes.append(Note("unfinished_previous"))
            self.opcode = header.opcode
            self.compressed = header.rsv1 and self.deflate is not None
            self.fragments = []
        self.fragments.append(payload)
        fragment = len(self.fragments) if len(self.fragments) > 1 or not header.fin else 0
        fields: dict[str, Any] = {"fragment": fragment}
        if header.fin:
            message, more = self._message(b"".join(self.fragments))
            notes += more
            fields["message"] = message
            if self.mode is not None and message is not None:
                packet = self.attachments.mark(decode_engineio(message, "websocket", self.mode == "socket.io"))
                fields["engineio"] = (Packet.of(packet, self.conn, self.direction),)
            self.opcode, self.fragments = None, []
        if notes:
            fields["notes"] = tuple(notes)
        return fields

    def _message(self, data: bytes) -> tuple[str | bytes | None, list[Note]]:
        """The message as text or bytes, inflated first if it was compressed; None if it cannot be."""
        notes: list[Note] = []
        if self.compressed and self.deflate is not None:
            inflated = self._inflate(data)
            if isinstance(inflated, Note):
                return None, [inflated]
            data = inflated
            notes.append(Note("compressed"))
        if self.opcode == Opcode.TEXT:
            try:
                return data.decode("utf-8"), notes
            except UnicodeDecodeError:
                notes.append(Note("not_utf8"))
        return data, notes

    def _inflate(self, data: bytes) -> bytes | Note:
        """RFC 7692 §7.2.2: append 00 00 ff ff, then inflate, within the decode's budget."""
        budget = self.budget
        if budget.left <= 0:
            return Note("not_inflated", size=budget.size)
        if self.inflater is None:
            return Note("window_lost")
        fresh = self.deflate is not None and self.deflate[self.direction]  # no context takeover (§7.1.1)
        try:
            # One byte over what is left tells a message that does not fit from one that just does.
            inflated = self.inflater.decompress(data + b"\x00\x00\xff\xff", budget.left + 1)
        except zlib.error as exc:
            self.inflater = zlib.decompressobj(-15) if fresh else None
            return Note("cannot_inflate", str(exc))
        if len(inflated) > budget.left:
            budget.left = 0
            return Note("not_inflated", size=budget.size)
        budget.left -= len(inflated)
        if fresh:
            self.inflater = zlib.decompressobj(-15)
        return inflated
