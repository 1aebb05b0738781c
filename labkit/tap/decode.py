"""Recorded bytes → HTTP messages, WebSocket frames and Engine.IO/Socket.IO packets. Pure.

Each TCP connection is two byte streams. Both start as HTTP/1.1 (RFC 9112): requests one
way, responses the other, several per connection with keep-alive, bodies delimited by
``Content-Length`` or chunked coding (§6). After a ``101 Switching Protocols`` to
``websocket`` both streams carry WebSocket frames (RFC 6455 §5.2), parsed by
:class:`labkit.protocol.frames.FrameParser`. When the upgraded or polled path is
``/socket.io/`` the text inside is Engine.IO v4 packets (one per WebSocket message, or
separated by ``\\x1e`` in a polling body) carrying Socket.IO v5 packets.

Decoding never raises: bytes that do not parse become an :class:`Undecodable` unit that
says why, and the rest of that stream is shown raw.
"""

from __future__ import annotations

__all__ = [
    "ENGINEIO_TYPES",
    "SOCKETIO_TYPES",
    "Decoded",
    "HttpMessage",
    "Packet",
    "Undecodable",
    "Unit",
    "WebSocketFrame",
    "decode",
    "decode_engineio",
    "decode_polling_payload",
    "decode_socketio",
]

import base64
import binascii
import json
import re
import zlib
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from ..protocol.engineio import ENGINEIO_TYPES, POLLING_SEPARATOR, SOCKETIO_TYPES
from ..protocol.errors import CloseCode, ProtocolError
from ..protocol.frames import FrameHeader, FrameParser, Opcode, parse_close_payload
from ..protocol.http11 import Request, RequestParser, Response, ResponseParser
from ..record import CLIENT_TO_SERVER, SERVER_TO_CLIENT

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .recording import Chunk

_MAX_INFLATED = 16 * 2**20
_HEAD_WINDOW = 65536
_OPCODE_NAMES = {
    Opcode.CONT: "continuation",
    Opcode.TEXT: "text",
    Opcode.BINARY: "binary",
    Opcode.CLOSE: "close",
    Opcode.PING: "ping",
    Opcode.PONG: "pong",
}


def show_text(text: str, width: int = 40) -> str:
    """A string quoted as Python would, cut to ``width`` characters with the full length noted."""
    if len(text) <= width:
        return repr(text)
    return f"{text[:width]!r}… ({len(text)} chars)"


def show_bytes(data: bytes, width: int = 16) -> str:
    """Bytes in hex, cut to ``width`` bytes, with the length."""
    if not data:
        return "(empty)"
    shown = data[:width].hex(" ") + (" …" if len(data) > width else "")
    return f"{shown} ({len(data)} bytes)"


def show_payload(data: str | bytes, width: int = 40) -> str:
    return show_text(data, width) if isinstance(data, str) else show_bytes(data, min(16, width))


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


# Engine.IO and Socket.IO ---------------------------------------------------------------


@dataclass(frozen=True)
class Packet:
    """One Engine.IO packet and, inside a message, the Socket.IO packet it carries.

    ``engineio`` is a name of :data:`ENGINEIO_TYPES`, or ``"invalid"``; ``payload`` is what
    followed the type character (bytes for a binary message). ``socketio`` is a name of
    :data:`SOCKETIO_TYPES`, ``"attachment"`` for the binary data of a binary event or ack,
    ``"invalid"``, or ``None`` when the packet is not a message or carries no Socket.IO.
    """

    conn: int
    direction: str
    transport: str  # "websocket" or "polling"
    raw: str | bytes
    engineio: str
    payload: str | bytes = ""
    socketio: str | None = None
    namespace: str | None = None
    ack_id: int | None = None
    event: str | None = None
    args: tuple[Any, ...] = ()
    attachments: int = 0

    @property
    def summary(self) -> str:
        """e.g. ``Engine.IO message / Socket.IO event "chat" ["hola"]``."""
        if self.engineio == "invalid":
            return f"not an Engine.IO packet: {show_payload(self.raw)}"
        if self.engineio != "message":
            detail = f" {_show_json_or_text(self.payload)}" if self.payload else ""
            return _cut(f"Engine.IO {self.engineio}{detail}")
        if isinstance(self.payload, bytes):
            if self.socketio == "attachment":
                return f"Engine.IO binary message / Socket.IO attachment {show_bytes(self.payload)}"
            return f"Engine.IO binary message {show_bytes(self.payload)}"
        if self.socketio is None:
            return f"Engine.IO message {show_text(self.payload)}"
        if self.socketio == "invalid":
            return f"Engine.IO message / not a Socket.IO packet: {show_text(self.payload)}"
        return f"Engine.IO message / Socket.IO {self._socketio_detail()}"

    def _socketio_detail(self) -> str:
        parts = [self.socketio or ""]
        if self.namespace not in (None, "/"):
            parts.append(str(self.namespace))
        if self.socketio in ("event", "binary_event"):
            parts.append(_json(self.event))
            parts.append(_json(list(self.args)))
        elif self.socketio in ("ack", "binary_ack"):
            parts.append(str(self.ack_id))
            parts.append(_json(list(self.args)))
        elif self.args:
            parts.append(_json(self.args[0]))
        if self.ack_id is not None and self.socketio in ("event", "binary_event"):
            parts.append(f"(ack {self.ack_id})")
        if self.attachments:
            parts.append(f"({self.attachments} attachment{'s' if self.attachments != 1 else ''})")
        return _cut(" ".join(parts))


def _cut(text: str, width: int = 160) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _show_json_or_text(payload: str | bytes) -> str:
    """An Engine.IO open packet's JSON as JSON; anything else quoted."""
    if isinstance(payload, str) and payload.startswith("{"):
        try:
            return _json(json.loads(payload))
        except (ValueError, RecursionError):
            pass
    return show_payload(payload)


_DIGITS = re.compile(r"[0-9]{1,18}")


def decode_socketio(text: str) -> dict[str, Any]:
    """The fields of a Socket.IO v5 packet: ``<type>[<n>-][<namespace>,][<ack id>][JSON]``.

    Returns ``{"socketio": "invalid"}`` for anything else.
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
        try:
            data = json.loads(rest)
        except (ValueError, RecursionError):
            return invalid
    fields: dict[str, Any] = {"socketio": kind, "namespace": namespace, "ack_id": ack_id, "attachments": attachments}
    if kind in ("event", "binary_event"):
        if not isinstance(data, list) or not data or not isinstance(data[0], str):
            return invalid
        fields.update(event=data[0], args=tuple(data[1:]))
    elif kind in ("ack", "binary_ack"):
        if not isinstance(data, list) or ack_id is None:
            return invalid
        fields["args"] = tuple(data)
    elif data is not None:
        fields["args"] = (data,)
    return fields


def decode_engineio(
    raw: str | bytes, conn: int = 0, direction: str = "", transport: str = "websocket", socketio: bool = True
) -> Packet:
    """One Engine.IO v4 packet: a WebSocket message, or one part of a polling payload.

    Binary data is a message packet: a binary WebSocket frame, or ``b`` + base64 in polling.
    """

    def packet(engineio: str, payload: str | bytes = "", **socketio_fields: Any) -> Packet:
        return Packet(conn, direction, transport, raw, engineio, payload, **socketio_fields)

    if isinstance(raw, bytes):
        return packet("message", raw)
    if transport == "polling" and raw.startswith("b"):
        try:
            return packet("message", base64.b64decode(raw[1:], validate=True))
        except (binascii.Error, ValueError):
            return packet("invalid")
    if not raw or raw[0] not in ENGINEIO_TYPES:
        return packet("invalid")
    kind, payload = ENGINEIO_TYPES[raw[0]], raw[1:]
    if kind == "message" and socketio:
        return packet(kind, payload, **decode_socketio(payload))
    return packet(kind, payload)


def decode_polling_payload(
    body: bytes, conn: int = 0, direction: str = "", socketio: bool = True
) -> tuple[Packet, ...]:
    """The packets of an Engine.IO v4 long-polling body, separated by ``\\x1e``."""
    if not body:
        return ()
    text = body.decode("utf-8", "replace")
    return tuple(decode_engineio(part, conn, direction, "polling", socketio) for part in text.split(POLLING_SEPARATOR))


class _Attachments:
    """Binary messages that follow a Socket.IO binary event or ack are its attachments."""

    def __init__(self) -> None:
        self.pending = 0

    def mark(self, packet: Packet) -> Packet:
        if isinstance(packet.payload, bytes) and packet.engineio == "message" and self.pending:
            self.pending -= 1
            return replace(packet, socketio="attachment")
        if packet.socketio in ("binary_event", "binary_ack"):
            self.pending = packet.attachments
        return packet


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
    """An HTTP/1.1 request or response: its head (parsed by labkit.protocol.http11) and body."""

    head: Request | Response
    body: bytes = field(repr=False)
    engineio: tuple[Packet, ...] = ()

    @property
    def packets(self) -> tuple[Packet, ...]:
        return self.engineio

    @property
    def kind(self) -> str:
        return "HTTP request" if isinstance(self.head, Request) else "HTTP response"

    @property
    def start_line(self) -> str:
        head = self.head
        if isinstance(head, Request):
            return f"{head.method} {head.target} {head.version}"
        return f"{head.version} {head.status} {head.reason}".rstrip()

    @property
    def summary(self) -> str:
        text = self.start_line
        upgrade = self.head.headers.get("Upgrade")
        if upgrade:
            text += f" (Upgrade: {upgrade})"
        if self.body:
            text += f" + body {show_payload(_maybe_text(self.body))}"
        return text

    @property
    def annotation(self) -> str:
        fields = len(self.head.headers)
        body = f"{len(self.body)}-byte body" if self.body else "no body"
        return f"{self.kind}: {self.start_line} · {fields} header fields, {body}"


@dataclass(frozen=True)
class WebSocketFrame(_Unit):
    """A WebSocket frame (RFC 6455 §5.2): header fields, payload unmasked, and what it means.

    ``message`` is set on the last frame of a text or binary message: the whole message,
    reassembled from its fragments (and inflated if compressed); ``fragment`` counts the
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
    message: str | bytes | None = None
    fragment: int = 0
    close_code: int | None = None
    close_reason: str | None = None
    note: str = ""
    engineio: tuple[Packet, ...] = ()

    @property
    def packets(self) -> tuple[Packet, ...]:
        return self.engineio

    @property
    def kind(self) -> str:
        return "frame"

    @property
    def masked(self) -> bool:
        return self.mask_key is not None

    @property
    def length(self) -> int:
        return len(self.payload)

    @property
    def opcode_name(self) -> str:
        return _OPCODE_NAMES[self.opcode]

    def payload_shown(self, width: int = 40) -> str:
        if self.opcode == Opcode.CLOSE and self.close_code is not None:
            return self.close_shown()
        if self.opcode != Opcode.BINARY:
            text = _maybe_text(self.payload, strict=self.opcode != Opcode.CONT)
            return show_payload(text, width)
        return show_bytes(self.payload, min(16, width))

    def close_shown(self) -> str:
        if self.close_code is None:
            return "no status code"
        try:
            name = f" ({CloseCode(self.close_code).name.lower().replace('_', ' ')})"
        except ValueError:
            name = ""
        reason = f" {self.close_reason!r}" if self.close_reason else ""
        return f"{self.close_code}{name}{reason}"

    @property
    def summary(self) -> str:
        """What the frame means: its message, a fragment of one, a close code, a packet."""
        if self.engineio:
            return "; ".join(p.summary for p in self.engineio)
        name = self.opcode_name
        if self.opcode == Opcode.CLOSE:
            text = f"close {self.close_shown()}" if self.close_code is not None else "close (no status code)"
        elif self.opcode.is_control:
            text = f"{name} {show_payload(_maybe_text(self.payload))}" if self.payload else name
        elif self.fragment == 0 and self.message is not None:
            text = f"{name} {show_payload(self.message)}"
        elif self.message is not None:
            text = f"fragment {self.fragment}, end of message {show_payload(self.message)}"
        elif self.opcode == Opcode.CONT:
            text = f"fragment {self.fragment} {show_payload(_maybe_text(self.payload, strict=False))}"
        else:
            text = f"{name} fragment 1 {show_payload(_maybe_text(self.payload, strict=False))}"
        return f"{text} ({self.note})" if self.note else text

    @property
    def annotation(self) -> str:
        """``FIN=1 opcode=1 (text) MASK=1 len=5 key=37fa213d → 'Hello'``."""
        rsv = "".join(f" RSV{i}=1" for i, bit in enumerate((self.rsv1, self.rsv2, self.rsv3), 1) if bit)
        key = f" key={self.mask_key.hex()}" if self.mask_key is not None else ""
        note = f" ({self.note})" if self.note else ""
        return (
            f"FIN={int(self.fin)}{rsv} opcode={int(self.opcode)} ({self.opcode_name}) MASK={int(self.masked)} "
            f"len={self.length}{key} → {self.payload_shown()}{note}"
        )


@dataclass(frozen=True)
class Undecodable(_Unit):
    """Bytes that are not what the stream should carry, or a message cut short."""

    reason: str

    @property
    def kind(self) -> str:
        return "undecodable"

    @property
    def summary(self) -> str:
        return f"{len(self.data)} bytes: {self.reason}"

    @property
    def annotation(self) -> str:
        return f"{self.kind}: {self.summary}"


Unit = HttpMessage | WebSocketFrame | Undecodable


@dataclass(frozen=True)
class Decoded:
    """Units of every connection (by connection, then arrival), and when each arrived."""

    units: tuple[Unit, ...] = ()
    times: tuple[float, ...] = ()


def _maybe_text(data: bytes, strict: bool = True) -> str | bytes:
    """Bytes as text when they are UTF-8 (a fragment may end mid-character), else bytes."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        if strict:
            return data
        return data.decode("utf-8", "replace")


# The decoder --------------------------------------------------------------------------


def decode(chunks: Iterable[Chunk]) -> Decoded:
    """Decode a recording: connections in number order, each in order of arrival."""
    by_conn: dict[int, list[tuple[int, Chunk]]] = {}
    for index, chunk in enumerate(chunks):
        by_conn.setdefault(chunk.conn, []).append((index, chunk))
    units: list[Unit] = []
    times: list[float] = []
    for conn in sorted(by_conn):
        for arrival, unit in _decode_connection(conn, by_conn[conn]):
            units.append(unit)
            times.append(arrival)
    return Decoded(tuple(units), tuple(times))


def _decode_connection(conn: int, chunks: Sequence[tuple[int, Chunk]]) -> list[tuple[float, Unit]]:
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
        units = _ConnectionDecoder(conn, streams[CLIENT_TO_SERVER], streams[SERVER_TO_CLIENT]).run()
    except Exception as exc:  # a decoder bug must not hide the bytes: show them raw
        units = [Undecodable(conn, d, 0, data, f"decoder failed: {exc!r}") for d, data in streams.items() if data]

    def arrival(unit: Unit) -> tuple[int, int, float]:
        position = bisect_left(ends[unit.direction], unit.end)
        position = min(position, len(ends[unit.direction]) - 1)
        index, at = arrivals[unit.direction][position]
        return index, unit.offset, at

    keyed = sorted(((arrival(u), u) for u in units if u.data), key=lambda pair: pair[0][:2])
    return [(key[2], unit) for key, unit in keyed]


class _ConnectionDecoder:
    """Both streams of one connection: HTTP until a 101 to websocket, then frames."""

    def __init__(self, conn: int, client: bytes, server: bytes) -> None:
        self.conn = conn
        self.client = client
        self.server = server
        self.units: list[Unit] = []

    def run(self) -> list[Unit]:
        self._http()
        return self.units

    def _rest(self, direction: str, data: bytes, pos: int, reason: str) -> None:
        if pos < len(data):
            self.units.append(Undecodable(self.conn, direction, pos, data[pos:], reason))

    def _http(self) -> None:
        client, server = self.client, self.server
        cpos = spos = 0
        client_stop: str | None = None
        server_stop: str | None = None
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
                        self._rest(CLIENT_TO_SERVER, client, cpos, client_stop or "no request matches the 101")
                    return
                if status >= 200:
                    break
            if not progressed:
                break
        self._rest(CLIENT_TO_SERVER, client, cpos, client_stop or "")
        self._rest(SERVER_TO_CLIENT, server, spos, server_stop or "")

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
        packets = decode_polling_payload(message.body, self.conn, message.direction, socketio=mode == "socket.io")
        attachments = _Attachments()
        packets = tuple(attachments.mark(p) for p in packets)
        return HttpMessage(message.conn, message.direction, message.offset, message.data, head, message.body, packets)

    def _switch(self, request: HttpMessage | None, response: HttpMessage, cpos: int | None, spos: int) -> None:
        head = response.head
        upgrade = (head.headers.get("Upgrade") or "").lower()
        if upgrade != "websocket":
            reason = f"after the switch to {upgrade or 'an unnamed protocol'}, not decoded"
            if cpos is not None:
                self._rest(CLIENT_TO_SERVER, self.client, cpos, reason)
            self._rest(SERVER_TO_CLIENT, self.server, spos, reason)
            return
        mode = None
        if request is not None and isinstance(request.head, Request):
            mode = _engineio_mode(request.head.target)
        deflate = _deflate_params(head.headers.get_all("Sec-WebSocket-Extensions"))
        if cpos is not None:
            self.units += _FrameDecoder(self.conn, CLIENT_TO_SERVER, mode, deflate).run(self.client, cpos)
        self.units += _FrameDecoder(self.conn, SERVER_TO_CLIENT, mode, deflate).run(self.server, spos)


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
    """permessage-deflate (RFC 7692) as the server accepted it, or ``None``."""
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


def _parse_http(conn: int, direction: str, data: bytes, pos: int, method: str | None) -> HttpMessage | str:
    """One request (``method`` is None) or response at ``pos``, or why there is none."""
    if pos >= len(data):
        return ""
    parser: RequestParser | ResponseParser = RequestParser() if method is None else ResponseParser()
    fed = pos
    try:
        head: Request | Response | None = None
        while head is None and fed < len(data):
            head = parser.feed(data[fed : fed + _HEAD_WINDOW])
            fed = min(len(data), fed + _HEAD_WINDOW)
    except ProtocolError as exc:
        return f"not HTTP: {exc}"
    if head is None:
        return "incomplete HTTP head"
    body_start = fed - len(parser.trailing)
    body = _body(head, data, body_start, method)
    if isinstance(body, str):
        return body
    content, end = body
    return HttpMessage(conn, direction, pos, data[pos:end], head, content)


def _body(head: Request | Response, data: bytes, start: int, method: str | None) -> tuple[bytes, int] | str:
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
            return f"invalid Content-Length {', '.join(lengths)!r}"
        end = start + int(next(iter(values)))
        if end > len(data):
            return f"incomplete body: {len(data) - start} of {end - start} bytes"
        return data[start:end], end
    if isinstance(head, Request):
        return b"", start
    return data[start:], len(data)  # §6.3: read until the connection closes


def _chunked(data: bytes, pos: int) -> tuple[bytes, int] | str:
    """Chunked transfer coding (RFC 9112 §7.1)."""
    body = bytearray()
    while True:
        line_end = data.find(b"\r\n", pos)
        if line_end < 0:
            return "incomplete chunked body"
        size_text = data[pos:line_end].split(b";")[0].strip()
        if not size_text or len(size_text) > 15 or any(c not in b"0123456789abcdefABCDEF" for c in size_text):
            return "invalid chunk size"
        size = int(size_text, 16)
        pos = line_end + 2
        if size == 0:
            while True:  # trailer fields, then the empty line
                line_end = data.find(b"\r\n", pos)
                if line_end < 0:
                    return "incomplete chunked body"
                empty = line_end == pos
                pos = line_end + 2
                if empty:
                    return bytes(body), pos
        if pos + size + 2 > len(data):
            return "incomplete chunked body"
        body += data[pos : pos + size]
        if data[pos + size : pos + size + 2] != b"\r\n":
            return "chunk not followed by CRLF"
        pos += size + 2


class _FrameDecoder:
    """One direction after the upgrade: frames, messages reassembled, packets inside."""

    def __init__(self, conn: int, direction: str, mode: str | None, deflate: dict[str, bool] | None) -> None:
        self.conn = conn
        self.direction = direction
        self.mode = mode
        self.deflate = deflate
        self.inflater = zlib.decompressobj(-15) if deflate is not None else None
        self.attachments = _Attachments()
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
                units.append(Undecodable(self.conn, self.direction, pos, data[pos:], f"not a valid frame: {exc}"))
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
                reason = f"incomplete frame: {len(data) - pos} of {size} bytes"
            else:
                reason = "incomplete frame header"
            units.append(Undecodable(self.conn, self.direction, pos, data[pos:], reason))
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
                fields["note"] = f"invalid close payload: {exc}"
        elif not opcode.is_control:
            fields.update(self._data_frame(header, payload))
        frame = WebSocketFrame(
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
        return frame

    def _data_frame(self, header: FrameHeader, payload: bytes) -> dict[str, Any]:
        notes = []
        if header.opcode == Opcode.CONT:
            if self.opcode is None:
                return {"note": "continuation without a message to continue"}
        else:
            if self.opcode is not None:
                notes.append("the previous message was never finished")
            self.opcode = header.opcode
            self.compressed = header.rsv1 and self.deflate is not None
            self.fragments = []
        self.fragments.append(payload)
        fragment = len(self.fragments) if len(self.fragments) > 1 or not header.fin else 0
        fields: dict[str, Any] = {"fragment": fragment}
        if header.fin:
            message, note = self._message(b"".join(self.fragments))
            if note:
                notes.append(note)
            fields["message"] = message
            if self.mode is not None:
                packet = decode_engineio(message, self.conn, self.direction, "websocket", self.mode == "socket.io")
                fields["engineio"] = (self.attachments.mark(packet),)
            self.opcode, self.fragments = None, []
        if notes:
            fields["note"] = "; ".join(notes)
        return fields

    def _message(self, data: bytes) -> tuple[str | bytes, str]:
        note = ""
        if self.compressed and self.deflate is not None and self.inflater is not None:
            # RFC 7692 §7.2.2: append 00 00 ff ff, then inflate.
            try:
                data = self.inflater.decompress(data + b"\x00\x00\xff\xff", _MAX_INFLATED)
                note = "compressed"
            except zlib.error as exc:
                return data, f"cannot inflate: {exc}"
            if self.deflate[self.direction]:
                self.inflater = zlib.decompressobj(-15)
        if self.opcode == Opcode.TEXT:
            try:
                return data.decode("utf-8"), note
            except UnicodeDecodeError:
                return data, "; ".join(filter(None, [note, "text that is not UTF-8"]))
        return data, note
