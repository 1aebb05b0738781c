"""Decoded traffic as a cell shows it: frame and packet tables, sequence diagram, hex dump.

The decoded units are data; every word a view shows is chosen here, when the view is
displayed, in the lesson's language (:func:`labkit.i18n.say`), so the same recording
reads in Spanish in ``notebooks/es`` and in English in ``notebooks/en``. Close codes are
named as the server's record names them (:mod:`labkit.vocabulary`), and tables render as
HTML in JupyterLab (:func:`labkit.tables.html_table`) and as aligned text elsewhere.

Every view is deterministic for the same traffic, so that stored lesson outputs compare
byte for byte: no times (except in :class:`Timeline`), no ports, connections in number
order and, within one, units in the order they arrived.
"""

from __future__ import annotations

__all__ = [
    "FrameTable",
    "Hexdump",
    "PacketTable",
    "SequenceDiagram",
    "Summary",
    "Timeline",
    "annotate",
    "content",
    "describe",
    "describe_packet",
    "full_markdown",
    "full_text",
    "kind_name",
    "note_words",
    "opcode_name",
    "reason_words",
    "show_bytes",
    "show_payload",
    "show_text",
]

import html
import json
import re
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ..i18n import Text, say
from ..protocol.frames import Opcode
from ..record import CLIENT_TO_SERVER
from ..tables import html_table
from ..vocabulary import counted, show_close
from .decode import HttpMessage, Note, NoteCode, Packet, Reason, Undecodable, Unit, WebSocketFrame

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .recording import ConnectionInfo


# Words: one function per thing shown, each in the language of the moment -------------------


def show_text(text: str, width: int = 40) -> str:
    """A string quoted as Python would, cut to ``width`` characters with the full length noted."""
    if len(text) <= width:
        return repr(text)
    return f"{text[:width]!r}… ({counted(len(text), ('carácter', 'caracteres'), ('char', 'chars'))})"


def show_bytes(data: bytes, width: int = 16) -> str:
    """Bytes in hex, cut to ``width`` bytes, with the length."""
    if not data:
        return say("(vacío)", "(empty)")
    shown = data[:width].hex(" ") + (" …" if len(data) > width else "")
    return f"{shown} ({counted(len(data), ('byte', 'bytes'), ('byte', 'bytes'))})"


def show_payload(data: str | bytes, width: int = 40) -> str:
    """Text quoted, bytes in hex."""
    return show_text(data, width) if isinstance(data, str) else show_bytes(data, min(16, width))


def _text_or_bytes(data: bytes) -> str | bytes:
    """Bytes as text when they are UTF-8, else bytes (shown in hex)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data


def _cut(text: str, width: int = 160) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


_OPCODE_NAMES: dict[Opcode, tuple[str, str]] = {
    Opcode.CONT: ("continuación", "continuation"),
    Opcode.TEXT: ("texto", "text"),
    Opcode.BINARY: ("binario", "binary"),
    Opcode.CLOSE: ("cierre", "close"),
    Opcode.PING: ("ping", "ping"),
    Opcode.PONG: ("pong", "pong"),
}

_KIND_NAMES: dict[str, tuple[str, str]] = {
    "HTTP request": ("petición HTTP", "HTTP request"),
    "HTTP response": ("respuesta HTTP", "HTTP response"),
    "frame": ("trama", "frame"),
    "undecodable": ("no decodificable", "undecodable"),
}


def opcode_name(opcode: Opcode) -> str:
    """``texto`` / ``text``: what an opcode (RFC 6455 §5.2) says the frame is."""
    return say(*_OPCODE_NAMES[opcode])


def kind_name(unit: Unit) -> str:
    """``trama`` / ``frame``, ``petición HTTP`` / ``HTTP request``, …: ``unit.kind`` in words."""
    return say(*_KIND_NAMES[unit.kind])


_REASONS: dict[Reason, Callable[[Undecodable], Text]] = {
    "not_http": lambda u: Text(f"no es HTTP: {u.detail}", f"not HTTP: {u.detail}"),
    "incomplete_http_head": lambda u: Text("cabecera HTTP incompleta", "incomplete HTTP head"),
    "invalid_content_length": lambda u: Text(
        f"Content-Length no válido {u.detail!r}", f"invalid Content-Length {u.detail!r}"
    ),
    "incomplete_body": lambda u: Text(
        f"cuerpo incompleto: {u.have} de {u.need} bytes", f"incomplete body: {u.have} of {u.need} bytes"
    ),
    "incomplete_chunked_body": lambda u: Text("cuerpo por trozos (chunked) incompleto", "incomplete chunked body"),
    "invalid_chunk_size": lambda u: Text("tamaño de trozo no válido", "invalid chunk size"),
    "chunk_without_crlf": lambda u: Text("trozo sin CRLF detrás", "chunk not followed by CRLF"),
    "switched_protocol": lambda u: Text(
        f"tras el cambio a {u.detail or 'un protocolo sin nombre'}, sin decodificar",
        f"after the switch to {u.detail or 'an unnamed protocol'}, not decoded",
    ),
    "no_request_for_101": lambda u: Text("ninguna petición corresponde al 101", "no request matches the 101"),
    "invalid_frame": lambda u: Text(f"no es una trama válida: {u.detail}", f"not a valid frame: {u.detail}"),
    "incomplete_frame": lambda u: Text(
        f"trama incompleta: {u.have} de {u.need} bytes", f"incomplete frame: {u.have} of {u.need} bytes"
    ),
    "incomplete_frame_header": lambda u: Text("cabecera de trama incompleta", "incomplete frame header"),
    "left_over": lambda u: Text("bytes sobrantes", "bytes left over"),
    "decoder_failed": lambda u: Text(f"el decodificador falló: {u.detail}", f"decoder failed: {u.detail}"),
}

_NOTES: dict[NoteCode, Callable[[Note], Text]] = {
    "compressed": lambda n: Text("comprimido", "compressed"),
    "not_inflated": lambda n: Text(
        f"comprimido, sin inflar: el presupuesto de inflado de la grabación, {n.size} bytes, está gastado",
        f"compressed, not inflated: the recording's inflation budget of {n.size} bytes is spent",
    ),
    "cannot_inflate": lambda n: Text(f"no se puede inflar: {n.detail}", f"cannot inflate: {n.detail}"),
    "window_lost": lambda n: Text(
        "comprimido, sin inflar: un mensaje anterior en este sentido no se pudo inflar",
        "compressed, not inflated: an earlier message this way could not be inflated",
    ),
    "not_utf8": lambda n: Text("texto que no es UTF-8", "text that is not UTF-8"),
    "unfinished_previous": lambda n: Text(
        "el mensaje anterior nunca se terminó", "the previous message was never finished"
    ),
    "orphan_continuation": lambda n: Text(
        "continuación sin mensaje que continuar", "continuation without a message to continue"
    ),
    "invalid_close": lambda n: Text(f"cuerpo de cierre no válido: {n.detail}", f"invalid close payload: {n.detail}"),
}


def reason_words(unit: Undecodable) -> str:
    """Why these bytes could not be decoded."""
    return str(_REASONS[unit.reason](unit))


def note_words(note: Note) -> str:
    """One note about a frame (compressed, not UTF-8, …)."""
    return str(_NOTES[note.code](note))


# Engine.IO and Socket.IO packets --------------------------------------------------------


def _engineio_meaning(packet: Packet) -> str:
    """What an Engine.IO packet (and the Socket.IO packet inside) means, without its raw text."""
    if packet.engineio == "invalid":
        return say("no es un paquete Engine.IO", "not an Engine.IO packet")
    if packet.engineio != "message":
        shown = f" {show_payload(packet.payload)}" if packet.payload and packet.engineio != "open" else ""
        return f"Engine.IO {packet.engineio}{shown}"
    if isinstance(packet.payload, bytes):
        if packet.socketio == "attachment":
            return say("adjunto de Socket.IO", "Socket.IO attachment")
        return say("Engine.IO message binario", "Engine.IO binary message")
    if packet.socketio is None:
        return "Engine.IO message"
    if packet.socketio == "invalid":
        return say("Engine.IO message que no es un paquete Socket.IO", "Engine.IO message, not a Socket.IO packet")
    parts = [f"Socket.IO {packet.socketio}"]
    if packet.namespace not in (None, "/"):
        parts.append(str(packet.namespace))
    if packet.socketio in ("event", "binary_event"):
        parts += [_json(packet.event), _json(list(packet.args))]
    elif packet.socketio in ("ack", "binary_ack"):
        parts += [str(packet.ack_id), _json(list(packet.args))]
    elif packet.args:
        parts.append(_json(packet.args[0]))
    if packet.ack_id is not None and packet.socketio in ("event", "binary_event"):
        parts.append(f"(ack {packet.ack_id})")
    if packet.attachments:
        parts.append(f"({counted(packet.attachments, ('adjunto', 'adjuntos'), ('attachment', 'attachments'))})")
    return " ".join(parts)


def _raw(packet: Packet, width: int = 40) -> str:
    return show_text(packet.raw, width) if isinstance(packet.raw, str) else show_bytes(packet.raw)


def describe_packet(packet: Packet) -> str:
    """Its raw text, then what it means: ``'42["chat","hola"]' → Socket.IO event "chat" ["hola"]``."""
    return _cut(f"{_raw(packet)} → {_engineio_meaning(packet)}")


# Units: one cell of content, one line of description, one hexdump heading ---------------


def _frame_payload(frame: WebSocketFrame) -> str:
    """What the frame carries (RFC 6455 §5.5-5.6): its data, a close status, a fragment and its message."""
    if frame.opcode == Opcode.CLOSE:
        if frame.close_code is None and frame.payload:  # not a valid close payload: its bytes
            return show_bytes(frame.payload)
        return show_close(frame.close_code, frame.close_reason or "")
    if frame.opcode.is_control:
        return show_payload(_text_or_bytes(frame.payload)) if frame.payload else say("(vacío)", "(empty)")
    if frame.packets:
        message = "; ".join(describe_packet(p) for p in frame.packets)
    elif frame.message is not None:
        message = show_payload(frame.message)
    else:
        message = ""
    if frame.fragment == 0:
        return message or show_bytes(frame.payload)
    piece = show_payload(frame.payload if frame.opcode == Opcode.BINARY else _text_or_bytes(frame.payload))
    if not frame.fin:
        return say(f"fragmento {frame.fragment} {piece}", f"fragment {frame.fragment} {piece}")
    if not message:
        return say(f"fragmento {frame.fragment}, el último, {piece}", f"fragment {frame.fragment} (last) {piece}")
    return say(
        f"fragmento {frame.fragment}, el último, {piece} → mensaje {message}",
        f"fragment {frame.fragment} (last) {piece} → message {message}",
    )


def _with_notes(text: str, notes: Iterable[Note]) -> str:
    words = "; ".join(note_words(n) for n in notes)
    return f"{text} ({words})" if words else text


def _http_line(message: HttpMessage) -> str:
    """The start line, and the protocol it asks to switch to (RFC 9110 §7.8 Upgrade)."""
    upgrade = message.head.headers.get("Upgrade")
    return message.start_line + (f" (Upgrade: {upgrade})" if upgrade else "")


def content(unit: Unit) -> str:
    """What a unit carries, in one line: the frame table's last column."""
    if isinstance(unit, WebSocketFrame):
        return _with_notes(_frame_payload(unit), unit.notes)
    if isinstance(unit, HttpMessage):
        line = _http_line(unit)
        if unit.packets:
            return line + " · " + "; ".join(describe_packet(p) for p in unit.packets)
        if unit.body:
            line += say(" + cuerpo ", " + body ") + show_payload(_text_or_bytes(unit.body))
        return line
    return f"{reason_words(unit)} · {show_bytes(unit.data)}"


def describe(unit: Unit) -> str:
    """One line that says what a unit is and carries: the diagram's arrows, the timeline's events."""
    if isinstance(unit, WebSocketFrame):
        return f"{opcode_name(unit.opcode)} {content(unit)}"
    if isinstance(unit, HttpMessage):
        return content(unit)
    return say(
        f"{len(unit.data)} bytes no decodificables: {reason_words(unit)}",
        f"{len(unit.data)} undecodable bytes: {reason_words(unit)}",
    )


def annotate(unit: Unit) -> str:
    """The hexdump's heading: ``FIN=1 opcode=1 (text) MASK=1 len=5 key=37fa213d → 'Hello'``."""
    if isinstance(unit, WebSocketFrame):
        rsv = "".join(f" RSV{i}=1" for i, bit in enumerate((unit.rsv1, unit.rsv2, unit.rsv3), 1) if bit)
        key = f" key={unit.mask_key.hex()}" if unit.mask_key is not None else ""
        return (
            f"FIN={int(unit.fin)}{rsv} opcode={int(unit.opcode)} ({opcode_name(unit.opcode)}) "
            f"MASK={int(unit.masked)} len={unit.length}{key} → {content(unit)}"
        )
    if isinstance(unit, HttpMessage):
        fields = counted(
            len(unit.head.headers), ("campo de cabecera", "campos de cabecera"), ("header field", "header fields")
        )
        if unit.body:
            body = say(f"cuerpo de {_bytes(len(unit.body))}", f"{len(unit.body)}-byte body")
        else:
            body = say("sin cuerpo", "no body")
        return f"{kind_name(unit)}: {unit.start_line} · {fields}, {body}"
    return f"{kind_name(unit)}: {counted(len(unit.data), ('byte', 'bytes'), ('byte', 'bytes'))}: {reason_words(unit)}"


# Views ----------------------------------------------------------------------------------


class _Text:
    """A view whose plain text is its ``repr``, so a cell shows it as is; worded when shown."""

    def text(self) -> str:
        raise NotImplementedError

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        return self.text()

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.text())


def _aligned(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell, except the last, which runs on."""
    table = [header, *rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)) + "  " + row[-1] for row in table]
    return "\n".join(line.rstrip() for line in lines)


def _nothing_recorded() -> str:
    return say("(no hay tráfico registrado)", "(no traffic recorded)")


def _direction_and_conn(unit: Unit) -> str:
    return f"{say('conexión', 'conn')} {unit.conn} {unit.direction}"


def _hex_rows(data: bytes, offset: int, width: int = 16) -> list[str]:
    rows = []
    for start in range(0, len(data), width):
        piece = data[start : start + width]
        ascii_ = "".join(chr(b) if 32 <= b < 127 else "." for b in piece)
        rows.append(f"  {offset + start:04x}  {piece.hex(' '):<{width * 3}} {ascii_}")
    return rows


class Hexdump(_Text):
    """Each unit's bytes (offset in its direction's stream, hex, ASCII) under what it is.

    Frames show the bytes as sent, so a client frame shows its payload masked; the
    heading gives the key and the payload unmasked.
    """

    def __init__(self, units: Sequence[Unit], limit: int | None = 256) -> None:
        self.units = list(units)
        self.limit = limit

    def text(self) -> str:
        if not self.units:
            return _nothing_recorded()
        blocks = []
        for unit in self.units:
            lines = [f"{_direction_and_conn(unit)}  {annotate(unit)}"]
            if isinstance(unit, HttpMessage):  # a frame's heading already says its packet
                lines += [f"    = {describe_packet(packet)}" for packet in unit.packets]
            shown = unit.data
            if self.limit is not None and len(shown) > self.limit:
                shown = shown[: max(16, self.limit - self.limit % 16)]
            lines += _hex_rows(shown, unit.offset)
            more = len(unit.data) - len(shown)
            if more:
                lines.append(say(f"  … {more} bytes más", f"  … {more} more bytes"))
            blocks.append("\n".join(lines))
        return "\n\n".join(blocks)


def _frame_cells(unit: Unit) -> tuple[str, ...]:
    where = (str(unit.conn), unit.direction, kind_name(unit))
    if isinstance(unit, WebSocketFrame):
        return (
            *where,
            str(int(unit.fin)),
            f"{int(unit.opcode)} {opcode_name(unit.opcode)}",
            say("sí", "yes") if unit.masked else "no",
            unit.mask_key.hex() if unit.mask_key is not None else "",
            str(unit.length),
            content(unit),
        )
    size = len(unit.body) if isinstance(unit, HttpMessage) else len(unit.data)
    return (*where, "", "", "", "", str(size), content(unit))


class FrameTable(_Text):
    """One row per HTTP message, WebSocket frame or run of undecodable bytes.

    One column says what each carries; ``len`` is the frame's payload length (RFC 6455
    §5.2), an HTTP message's body length, or the undecodable bytes' length.
    """

    def __init__(self, units: Sequence[Unit]) -> None:
        self.units = list(units)

    @staticmethod
    def header() -> tuple[str, ...]:
        return (
            "#",
            "conn",
            "dir",
            say("tipo", "kind"),
            "fin",
            "opcode",
            say("máscara", "masked"),
            say("clave", "key"),
            say("long.", "len"),
            say("contenido", "content"),
        )

    def rows(self) -> list[tuple[str, ...]]:
        return [(str(number), *_frame_cells(unit)) for number, unit in enumerate(self.units, 1)]

    def __len__(self) -> int:
        return len(self.units)

    def text(self) -> str:
        if not self.units:
            return _nothing_recorded()
        return _aligned(self.header(), self.rows())

    def _repr_html_(self) -> str:
        if not self.units:
            return f"<p>{html.escape(_nothing_recorded())}</p>"
        return html_table(self.header(), self.rows())

    def markdown(self) -> str:
        if not self.units:
            return _nothing_recorded()
        header = self.header()
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(_markdown_escape(c) for c in row) + " |" for row in self.rows()]
        return "\n".join(lines)


_SOCKETIO_WORDS = {"invalid": ("no válido", "invalid"), "attachment": ("adjunto", "attachment")}


def _type_cell(name: str | None) -> str:
    if name is None:
        return ""
    return say(*_SOCKETIO_WORDS[name]) if name in _SOCKETIO_WORDS else name


class PacketTable(list[Packet]):
    """Engine.IO packets, with the Socket.IO packet inside: a list a cell can loop over, shown as a table.

    The types are the protocols' own names (engine.io-protocol v4, socket.io-protocol v5);
    the last column is the packet as it travelled, text quoted, binary in hex.
    """

    @staticmethod
    def header() -> tuple[str, ...]:
        return (
            "#",
            "conn",
            "dir",
            say("transporte", "transport"),
            "Engine.IO",
            "Socket.IO",
            "ack",
            say("contenido", "content"),
        )

    def rows(self) -> list[tuple[str, ...]]:
        return [
            (
                str(number),
                str(p.conn),
                p.direction,
                p.transport,
                _type_cell(p.engineio),
                _type_cell(p.socketio),
                "" if p.ack_id is None else str(p.ack_id),
                _raw(p, 120),
            )
            for number, p in enumerate(self, 1)
        ]

    def text(self) -> str:
        if not self:
            return say("(no hay paquetes Engine.IO registrados)", "(no Engine.IO packets recorded)")
        return _aligned(self.header(), self.rows())

    def __repr__(self) -> str:
        return self.text()

    def __str__(self) -> str:
        return self.text()

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.text())

    def _repr_html_(self) -> str:
        if not self:
            return f"<p>{html.escape(self.text())}</p>"
        return html_table(self.header(), self.rows())


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~])")


def _markdown_escape(text: str) -> str:
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


_LABEL_WIDTH = 100
_MERMAID_ENTITIES = {"#": "#35;", ";": "#59;", "<": "#lt;", ">": "#gt;"}
_MERMAID_SPECIAL = re.compile("[#;<>]")


def _mermaid_escape(text: str) -> str:
    """Mermaid message text: no line breaks, and ``#``, ``;``, ``<``, ``>`` as entity codes."""
    text = "".join(" " if ord(c) < 32 or ord(c) == 127 else c for c in text)
    if len(text) > _LABEL_WIDTH:
        text = text[: _LABEL_WIDTH - 1] + "…"
    return _MERMAID_SPECIAL.sub(lambda match: _MERMAID_ENTITIES[match.group()], text)


def _label_lines(unit: Unit) -> list[str]:
    if isinstance(unit, HttpMessage) and unit.packets:
        return [_http_line(unit), *(describe_packet(p) for p in unit.packets)]
    if isinstance(unit, WebSocketFrame) and unit.masked:
        return [describe(unit) + say(" (enmascarada)", " (masked)")]
    return [describe(unit)]


class SequenceDiagram(_Text):
    """A Mermaid ``sequenceDiagram``: one arrow per HTTP message or frame, packets inside.

    JupyterLab 4.1 and later draw the Markdown output; the plain text is the source.
    """

    def __init__(self, units: Sequence[Unit]) -> None:
        self.units = list(units)

    def text(self) -> str:
        lines = [
            "sequenceDiagram",
            f"    participant C as {say('Cliente', 'Client')}",
            f"    participant S as {say('Servidor', 'Server')}",
        ]
        if not self.units:
            lines.append(f"    Note over C,S: {say('no hay tráfico registrado', 'no traffic recorded')}")
        conn = None
        for unit in self.units:
            if unit.conn != conn:
                conn = unit.conn
                lines.append(f"    Note over C,S: {say('conexión', 'connection')} {conn}")
            arrow = "C->>S" if unit.direction == CLIENT_TO_SERVER else "S->>C"
            lines.append(f"    {arrow}: " + "<br/>".join(_mermaid_escape(t) for t in _label_lines(unit)))
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:
        return f"```mermaid\n{self.text()}\n```"


_CLOSED_BY = {
    "client": ("cerrada por el cliente", "closed by the client"),
    "server": ("cerrada por el servidor", "closed by the server"),
    "tap": ("cerrada por el tap", "closed by the tap"),
}


class Timeline(_Text):
    """When things happened, in seconds since the tap started: not stable between runs."""

    def __init__(
        self,
        rows: Sequence[tuple[float, Unit]],
        connections: Sequence[ConnectionInfo],
        marks: Sequence[tuple[float, Text]] = (),
    ) -> None:
        events: list[tuple[float, int, str, Unit | ConnectionInfo | Text | None]] = []
        for info in connections:
            events.append((info.opened, info.conn, "", None))
            if info.closed is not None:
                events.append((info.closed, info.conn, "", info))
        events += [(at, unit.conn, unit.direction, unit) for at, unit in rows]
        events += [(at, 0, "", what) for at, what in marks]  # the network's own events: no connection
        self.events = sorted(events, key=lambda event: event[0])

    @staticmethod
    def _what(event: Unit | ConnectionInfo | Text | None) -> str:
        if event is None:
            return say("abierta", "opened")
        if isinstance(event, Text):
            return str(event)
        if isinstance(event, HttpMessage | WebSocketFrame | Undecodable):
            return f"{kind_name(event)}: {describe(event)}"
        closed = _CLOSED_BY.get(event.closed_by or "")
        words = say(*closed) if closed else say(f"cerrada ({event.closed_by})", f"closed ({event.closed_by})")
        return words + (f" ({event.error})" if event.error else "")

    @staticmethod
    def header() -> tuple[str, ...]:
        return (say("tiempo (s)", "time (s)"), "conn", "dir", say("qué", "what"))

    def rows(self) -> list[tuple[str, ...]]:
        return [(f"{at:.4f}", str(conn or ""), d, self._what(event)) for at, conn, d, event in self.events]

    def text(self) -> str:
        if not self.events:
            return say("(todavía no ha pasado nada)", "(nothing happened yet)")
        time_, conn, d, what = self.header()
        lines = [f"{time_:>10}  {conn}  {d}  {what}"]
        lines += [f"{at:10.4f}  {c or '':>4}  {dr or '   '}  {self._what(e)}" for at, c, dr, e in self.events]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        if not self.events:
            return f"<p>{html.escape(self.text())}</p>"
        return html_table(self.header(), self.rows())


_STATES = {"running": ("en marcha", "running"), "stopped": ("detenido", "stopped")}
_BYTES = (("byte", "bytes"), ("byte", "bytes"))


def _bytes(n: int) -> str:
    return counted(n, *_BYTES)


class Summary(_Text):
    """Connections and bytes each way: what a tap shows by default.

    ``state`` is ``"running"``, ``"stopped"`` or empty; ``errors`` are sentences, worded
    (if they are :class:`~labkit.i18n.Text`) when shown.
    """

    def __init__(
        self,
        connections: Sequence[ConnectionInfo],
        units: Sequence[Unit],
        dropped: int,
        max_bytes: int,
        errors: Sequence[str | Text],
        state: str = "",
    ) -> None:
        self.connections = list(connections)
        self.units = list(units)
        self.dropped = dropped
        self.max_bytes = max_bytes
        self.errors = list(errors)
        self.state = state

    def _contents(self, conn: int) -> str:
        units = [u for u in self.units if u.conn == conn]
        counts = [
            (
                sum(u.kind == "HTTP request" for u in units),
                ("petición HTTP", "peticiones HTTP"),
                ("HTTP request", "HTTP requests"),
            ),
            (
                sum(u.kind == "HTTP response" for u in units),
                ("respuesta HTTP", "respuestas HTTP"),
                ("HTTP response", "HTTP responses"),
            ),
            (
                sum(isinstance(u, WebSocketFrame) for u in units),
                ("trama WebSocket", "tramas WebSocket"),
                ("WebSocket frame", "WebSocket frames"),
            ),
            (
                sum(len(u.packets) for u in units),
                ("paquete Engine.IO", "paquetes Engine.IO"),
                ("Engine.IO packet", "Engine.IO packets"),
            ),
            (
                sum(isinstance(u, Undecodable) for u in units),
                ("parte no decodificable", "partes no decodificables"),
                ("undecodable part", "undecodable parts"),
            ),
        ]
        return ", ".join(counted(n, es, en) for n, es, en in counts if n)

    def lines(self) -> list[str]:
        to_server = sum(c.to_server for c in self.connections)
        to_client = sum(c.to_client for c in self.connections)
        state = f" ({say(*_STATES[self.state]) if self.state in _STATES else self.state})" if self.state else ""
        conns = counted(len(self.connections), ("conexión", "conexiones"), ("connection", "connections"))
        lines = [f"tap{state}: {conns}, {_bytes(to_server)} C→S, {_bytes(to_client)} S→C"]
        for info in self.connections:
            contents = self._contents(info.conn)
            counts = f"{_bytes(info.to_server)} C→S, {_bytes(info.to_client)} S→C"
            lines.append(f"  {say('conexión', 'conn')} {info.conn}: {counts}" + (f" · {contents}" if contents else ""))
        if self.dropped:
            lines.append(
                say(
                    f"  {self.dropped} bytes sin guardar: la grabación se detiene en {self.max_bytes} bytes",
                    f"  {self.dropped} bytes not kept: the recording stops at {self.max_bytes} bytes",
                )
            )
        spent = [n for u in self.units if isinstance(u, WebSocketFrame) for n in u.notes if n.code == "not_inflated"]
        if spent:
            size = spent[0].size
            es, en = ("mensaje comprimido", "mensajes comprimidos"), ("compressed message", "compressed messages")
            many = counted(len(spent), es, en)
            lines.append(
                say(
                    f"  {many} sin inflar: el presupuesto de inflado de la grabación, {size} bytes, está gastado",
                    f"  {many} not inflated: the recording's inflation budget of {size} bytes is spent",
                )
            )
        lines += [f"  error: {error}" for error in self.errors]
        return lines

    def text(self) -> str:
        return "\n".join(self.lines())

    def _repr_html_(self) -> str:
        first, *rest = self.lines()
        items = "".join(f"<li>{html.escape(line.strip())}</li>" for line in rest)
        return f"<b>{html.escape(first)}</b>" + (f"<ul>{items}</ul>" if items else "")


def full_text(summary: Summary, sequence: SequenceDiagram, frames: FrameTable, hexdump: Hexdump) -> str:
    return "\n\n".join([summary.text(), sequence.text(), frames.text(), hexdump.text()])


def full_markdown(summary: Summary, sequence: SequenceDiagram, frames: FrameTable, hexdump: Hexdump) -> str:
    head = "  \n".join(_markdown_escape(line) for line in summary.lines())
    return "\n\n".join([head, sequence._repr_markdown_(), frames.markdown(), f"```text\n{hexdump.text()}\n```"])
