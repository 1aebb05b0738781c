"""Decoded traffic as a cell shows it: annotated hex dump, frame table, sequence diagram.

Every view is deterministic for the same traffic, so that stored lesson outputs compare
byte for byte: no times (except in :class:`Timeline`), no ports, connections in number
order and, within one, units in the order they arrived.
"""

from __future__ import annotations

__all__ = ["FrameTable", "Hexdump", "SequenceDiagram", "Summary", "Timeline", "full_markdown", "full_text"]

import html
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..record import CLIENT_TO_SERVER
from .decode import HttpMessage, Undecodable, Unit, WebSocketFrame, show_bytes, show_payload

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .recording import ConnectionInfo


class _Text:
    """A view whose plain text is its ``repr``, so a cell shows it as is."""

    def text(self) -> str:
        raise NotImplementedError

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        return self.text()

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.text())


def _where(unit: Unit) -> str:
    return f"conn {unit.conn} {unit.direction}"


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
    annotation gives the key and the payload unmasked.
    """

    def __init__(self, units: Sequence[Unit], limit: int | None = 256) -> None:
        self.units = list(units)
        self.limit = limit

    def text(self) -> str:
        if not self.units:
            return "(no traffic recorded)"
        blocks = []
        for unit in self.units:
            lines = [f"{_where(unit)}  {unit.annotation}"]
            lines += [f"    = {packet.summary}" for packet in unit.packets]
            shown = unit.data
            if self.limit is not None and len(shown) > self.limit:
                shown = shown[: max(16, self.limit - self.limit % 16)]
            lines += _hex_rows(shown, unit.offset)
            if len(shown) < len(unit.data):
                lines.append(f"  … {len(unit.data) - len(shown)} more bytes")
            blocks.append("\n".join(lines))
        return "\n\n".join(blocks)


def _frame_cells(unit: Unit) -> tuple[str, ...]:
    if isinstance(unit, WebSocketFrame):
        return (
            str(unit.conn),
            unit.direction,
            unit.kind,
            str(int(unit.fin)),
            f"{int(unit.opcode)} {unit.opcode_name}",
            "yes" if unit.masked else "no",
            unit.mask_key.hex() if unit.mask_key is not None else "",
            str(unit.length),
            unit.payload_shown(),
            unit.summary,
        )
    if isinstance(unit, HttpMessage):
        meaning = unit.start_line
        upgrade = unit.head.headers.get("Upgrade")
        if upgrade:
            meaning += f" (Upgrade: {upgrade})"
        if unit.packets:
            meaning += " · " + "; ".join(p.summary for p in unit.packets)
        body = show_payload(_text_or_bytes(unit.body)) if unit.body else ""
        return (str(unit.conn), unit.direction, unit.kind, "", "", "", "", str(len(unit.body)), body, meaning)
    return (
        str(unit.conn),
        unit.direction,
        unit.kind,
        "",
        "",
        "",
        "",
        str(len(unit.data)),
        show_bytes(unit.data),
        unit.reason,
    )


def _text_or_bytes(data: bytes) -> str | bytes:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data


class FrameTable(_Text):
    """One row per HTTP message, WebSocket frame or run of undecodable bytes."""

    HEADER = ("#", "conn", "dir", "kind", "fin", "opcode", "masked", "key", "len", "payload", "meaning")

    def __init__(self, units: Sequence[Unit]) -> None:
        self.units = list(units)

    def rows(self) -> list[tuple[str, ...]]:
        return [(str(number), *_frame_cells(unit)) for number, unit in enumerate(self.units, 1)]

    def __len__(self) -> int:
        return len(self.units)

    def text(self) -> str:
        if not self.units:
            return "(no traffic recorded)"
        rows = [self.HEADER, *self.rows()]
        widths = [max(len(row[i]) for row in rows) for i in range(len(self.HEADER) - 1)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)) + "  " + row[-1] for row in rows]
        return "\n".join(line.rstrip() for line in lines)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{h}</th>" for h in self.HEADER)
        body = "".join(
            "<tr>"
            + "".join(f"<td style='text-align:left;font-family:monospace'>{html.escape(c)}</td>" for c in row)
            + "</tr>"
            for row in self.rows()
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def markdown(self) -> str:
        if not self.units:
            return "(no traffic recorded)"
        lines = ["| " + " | ".join(self.HEADER) + " |", "|" + "---|" * len(self.HEADER)]
        lines += ["| " + " | ".join(_markdown_escape(c) for c in row) + " |" for row in self.rows()]
        return "\n".join(lines)


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
    if isinstance(unit, HttpMessage):
        if unit.packets:
            return [unit.start_line] + [p.summary for p in unit.packets]
        return [unit.summary]
    if isinstance(unit, WebSocketFrame):
        return [unit.summary + (" (masked)" if unit.masked else "")]
    return [f"{len(unit.data)} undecodable bytes"]


class SequenceDiagram(_Text):
    """A Mermaid ``sequenceDiagram``: one arrow per HTTP message or frame, packets inside.

    JupyterLab 4.1 and later draw the Markdown output; the plain text is the source.
    """

    def __init__(self, units: Sequence[Unit]) -> None:
        self.units = list(units)

    def text(self) -> str:
        lines = ["sequenceDiagram", "    participant C as Client", "    participant S as Server"]
        if not self.units:
            lines.append("    Note over C,S: no traffic recorded")
        conn = None
        for unit in self.units:
            if unit.conn != conn:
                conn = unit.conn
                lines.append(f"    Note over C,S: connection {conn}")
            arrow = "C->>S" if unit.direction == CLIENT_TO_SERVER else "S->>C"
            lines.append(f"    {arrow}: " + "<br/>".join(_mermaid_escape(t) for t in _label_lines(unit)))
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:
        return f"```mermaid\n{self.text()}\n```"


def _unit_line(unit: Unit) -> str:
    if isinstance(unit, WebSocketFrame):
        return unit.summary
    if isinstance(unit, HttpMessage):
        return " · ".join([unit.summary, *(p.summary for p in unit.packets)])
    return unit.summary


class Timeline(_Text):
    """When things happened, in seconds since the tap started: not stable between runs."""

    def __init__(self, rows: Sequence[tuple[float, Unit]], connections: Sequence[ConnectionInfo]) -> None:
        events: list[tuple[float, int, str, str]] = []
        for info in connections:
            events.append((info.opened, info.conn, "", "opened"))
            if info.closed is not None:
                error = f" ({info.error})" if info.error else ""
                events.append((info.closed, info.conn, "", f"closed by {info.closed_by}{error}"))
        events += [(at, unit.conn, unit.direction, f"{unit.kind}: {_unit_line(unit)}") for at, unit in rows]
        self.events = sorted(events, key=lambda event: event[0])

    def text(self) -> str:
        if not self.events:
            return "(nothing happened yet)"
        lines = ["  time (s)  conn  dir  what"]
        lines += [f"{at:10.4f}  {conn:>4}  {d or '   '}  {what}" for at, conn, d, what in self.events]
        return "\n".join(lines)


class Summary(_Text):
    """Connections and bytes each way: what a tap shows by default."""

    def __init__(
        self,
        connections: Sequence[ConnectionInfo],
        units: Sequence[Unit],
        dropped: int,
        max_bytes: int,
        errors: Sequence[str],
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
            (sum(isinstance(u, HttpMessage) and u.kind == "HTTP request" for u in units), "HTTP request"),
            (sum(isinstance(u, HttpMessage) and u.kind == "HTTP response" for u in units), "HTTP response"),
            (sum(isinstance(u, WebSocketFrame) for u in units), "WebSocket frame"),
            (sum(len(u.packets) for u in units), "Engine.IO packet"),
            (sum(isinstance(u, Undecodable) for u in units), "undecodable part"),
        ]
        return ", ".join(_plural(n, what) for n, what in counts if n)

    def lines(self) -> list[str]:
        to_server = sum(c.to_server for c in self.connections)
        to_client = sum(c.to_client for c in self.connections)
        state = f" ({self.state})" if self.state else ""
        lines = [
            f"tap{state}: {_plural(len(self.connections), 'connection')}, "
            f"{_plural(to_server, 'byte')} C→S, {_plural(to_client, 'byte')} S→C"
        ]
        for info in self.connections:
            contents = self._contents(info.conn)
            counts = f"{_plural(info.to_server, 'byte')} C→S, {_plural(info.to_client, 'byte')} S→C"
            lines.append(f"  conn {info.conn}: {counts}" + (f" · {contents}" if contents else ""))
        if self.dropped:
            lines.append(f"  {self.dropped} bytes not kept: the recording stops at {self.max_bytes} bytes")
        lines += [f"  error: {error}" for error in self.errors]
        return lines

    def text(self) -> str:
        return "\n".join(self.lines())

    def _repr_html_(self) -> str:
        first, *rest = self.lines()
        items = "".join(f"<li>{html.escape(line.strip())}</li>" for line in rest)
        return f"<b>{html.escape(first)}</b>" + (f"<ul>{items}</ul>" if items else "")


def _plural(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def full_text(summary: Summary, sequence: SequenceDiagram, frames: FrameTable, hexdump: Hexdump) -> str:
    return "\n\n".join([summary.text(), sequence.text(), frames.text(), hexdump.text()])


def full_markdown(summary: Summary, sequence: SequenceDiagram, frames: FrameTable, hexdump: Hexdump) -> str:
    head = "  \n".join(_markdown_escape(line) for line in summary.lines())
    return "\n\n".join([head, sequence._repr_markdown_(), frames.markdown(), f"```text\n{hexdump.text()}\n```"])
