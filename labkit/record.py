"""What a background server saw, kept for a cell to show on demand.

Servers run in threads; anything they print lands in whichever cell runs next, which
makes stored notebook outputs nondeterministic. So servers never print: they append facts
to a bounded :class:`Record`, and a cell displays it as a table, worded in the lesson's
language at that moment.

The record is bounded twice: by entries (the newest ``maxlen``) and by bytes (a payload
over :data:`PAYLOAD_KEPT` is kept as its start and its size, :class:`Clipped`), so a
server left running for a whole class cannot eat the kernel's memory.
"""

from __future__ import annotations

__all__ = [
    "CLIENT_TO_SERVER",
    "KINDS",
    "PAYLOAD_KEPT",
    "SERVER_TO_CLIENT",
    "Ack",
    "Clipped",
    "CloseStatus",
    "Closed",
    "Ended",
    "Entry",
    "HttpHead",
    "Opened",
    "Problem",
    "Record",
    "SocketIOEvent",
    "clip",
]

import html
import itertools
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

from .i18n import Text, say
from .vocabulary import counted, show_close

CLIENT_TO_SERVER = "C→S"
SERVER_TO_CLIENT = "S→C"
_MESSAGE_KIND = {CLIENT_TO_SERVER: "recv", SERVER_TO_CLIENT: "send"}
_monotonic = time.monotonic

#: The kinds of entry a server records, in the order a connection usually produces them.
KINDS = ("open", "request", "response", "recv", "send", "close", "error")
_KIND_WORDS = {
    "open": ("abre", "open"),
    "request": ("petición", "request"),
    "response": ("respuesta", "response"),
    "recv": ("recibe", "recv"),
    "send": ("envía", "send"),
    "close": ("cierra", "close"),
    "error": ("error", "error"),
}

#: Characters (of text) or bytes of one payload a record keeps; the rest is only counted.
PAYLOAD_KEPT = 4096


# The facts a server records ----------------------------------------------------------------


class Clipped(NamedTuple):
    """A payload too big to keep whole: its first :data:`PAYLOAD_KEPT` characters or bytes."""

    head: str | bytes
    size: int

    def __repr__(self) -> str:
        unit = say("caracteres", "characters") if isinstance(self.head, str) else "bytes"
        return f"{self.head[:60]!r}… ({self.size} {unit})"


def clip(value: Any) -> Any:
    """``value`` itself when small; else a :class:`Clipped` (containers by their ``repr``)."""
    if isinstance(value, str | bytes | bytearray | memoryview):
        if len(value) <= PAYLOAD_KEPT:
            return bytes(value) if isinstance(value, bytearray | memoryview) else value
        return Clipped(bytes(value[:PAYLOAD_KEPT]) if not isinstance(value, str) else value[:PAYLOAD_KEPT], len(value))
    if isinstance(value, list | tuple | dict):
        text = repr(value)
        if len(text) > PAYLOAD_KEPT:
            return Clipped(text[:PAYLOAD_KEPT], len(text))
    return value


@dataclass(frozen=True)
class HttpHead:
    """The start line and headers of an HTTP request or response, as they went on the wire.

    Every stack records its handshake requests and responses in this one shape, so that
    ``record.headers()`` shows them the same way whatever library served them.
    """

    start_line: str
    headers: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, start_line: str, headers: Iterable[tuple[str, str]]) -> HttpHead:
        return cls(start_line, tuple((str(name), str(value)) for name, value in headers))

    def __str__(self) -> str:
        return "\n".join([self.start_line, *(f"{name}: {value}" for name, value in self.headers)])


class Opened(NamedTuple):
    """A connection (or a Socket.IO session) began: who, and over which transport."""

    peer: str
    transport: str | None = None


class CloseStatus(NamedTuple):
    """The status of one Close frame (RFC 6455 §5.5.1); 1005 stands for a frame without one (§7.1.5)."""

    code: int
    reason: str = ""

    def __str__(self) -> str:
        return show_close(self.code, self.reason)


class Closed(NamedTuple):
    """How a WebSocket connection ended: the Close frame received and the one sent, if any."""

    received: CloseStatus | None
    sent: CloseStatus | None


class Ended(NamedTuple):
    """A connection or session ended without WebSocket close frames; ``reason`` if known."""

    reason: str | Text | None = None


class SocketIOEvent(NamedTuple):
    """A Socket.IO event: its name and arguments; ``to`` says who a sent one went to."""

    name: str
    args: tuple[Any, ...]
    to: str | Text | None = None


class Ack(NamedTuple):
    """The acknowledgement a Socket.IO server sent back for an event."""

    args: tuple[Any, ...]


class Problem(NamedTuple):
    """Something went wrong: one line, and the traceback when it was code that failed."""

    text: str | Text
    traceback: str | None = None


# The record ----------------------------------------------------------------------------------


class Entry(NamedTuple):
    """One thing a server saw: ``kind`` is one of :data:`KINDS`; ``data`` the fact itself.

    A named tuple rather than a dataclass: servers add one per message, on the hot path.
    """

    seq: int
    time: float
    conn: int | None
    kind: str
    direction: str
    data: Any

    @property
    def detail(self) -> str:
        """One line for the table, in the lesson's language."""
        return describe(self.kind, self.data)


_CACHE_BUSTER = re.compile(r"&t=[^&\s]*")


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value
    return repr(value)


def _args(args: tuple[Any, ...]) -> str:
    return ", ".join(repr(a) for a in args) if args else "()"


def describe(kind: str, data: Any) -> str:
    """The words for one fact, chosen now (so the same record reads in either language)."""
    if isinstance(data, Opened):
        where = say(f"desde {data.peer}", f"from {data.peer}")
        return where + (say(f" por {data.transport}", f" over {data.transport}") if data.transport else "")
    if isinstance(data, HttpHead):
        if kind == "request":
            # Long polling adds a cache buster (t=…) that changes with every request: left out.
            line = _CACHE_BUSTER.sub("", data.start_line)
            return f"{line} ({counted(len(data.headers), ('cabecera', 'cabeceras'), ('header', 'headers'))})"
        return data.start_line.split(" ", 1)[1] if " " in data.start_line else data.start_line
    if isinstance(data, Closed):
        nothing = say("ninguna trama de cierre", "no close frame")
        received = str(data.received) if data.received is not None else nothing
        sent = str(data.sent) if data.sent is not None else nothing
        return say(f"recibido {received}; enviado {sent}", f"received {received}; sent {sent}")
    if isinstance(data, Ended):
        if data.reason is None:
            return say("conexión cerrada", "connection closed")
        return say(f"desconectado: {data.reason}", f"disconnected: {data.reason}")
    if isinstance(data, SocketIOEvent):
        text = f"{data.name}: {_args(data.args)}"
        return f"{text} → {data.to}" if data.to is not None else text
    if isinstance(data, Ack):
        return f"ack: {_args(data.args)}"
    if isinstance(data, Problem):
        return str(data.text)
    return _show(data)


class Record:
    """A bounded, thread-safe log of a server's connections, messages, closes and errors.

    Only the newest ``maxlen`` entries are kept (``dropped`` counts the others).
    ``unit`` names what ``conn`` numbers: TCP connections, or Socket.IO sessions.
    """

    def __init__(self, maxlen: int = 2000, unit: str = "connection") -> None:
        # Raw tuples in Entry's field order; Entry objects are made only when read.
        self._entries: deque[tuple[Any, ...]] = deque(maxlen=maxlen)
        self._lock = threading.Lock()
        self._acquire, self._release = self._lock.acquire, self._lock.release
        self._seq = itertools.count(1)
        self._conn_ids = itertools.count(1)
        self._start = time.monotonic()
        self._cleared_up_to = 0
        self.maxlen = maxlen
        self.unit = unit

    def new_connection(self) -> int:
        """Number connections 1, 2, 3… in the order the server accepted them."""
        with self._lock:
            return next(self._conn_ids)

    def add(self, kind: str, conn: int | None, data: Any, *, direction: str = "") -> Entry:
        """Record one fact (``data`` is kept as it is; payloads and big values are clipped)."""
        with self._lock:
            raw = (next(self._seq), _monotonic(), conn, kind, direction, clip(data))
            self._entries.append(raw)
        return self._entry(raw)

    def message(self, conn: int | None, direction: str, message: Any) -> None:
        """Record one message; ``direction`` is CLIENT_TO_SERVER or SERVER_TO_CLIENT."""
        # The hot path of every server: a plain tuple, no object built (see ``labkit bench``).
        if len(message) > PAYLOAD_KEPT:
            message = clip(message)
        self._acquire()  # not ``with self._lock``: twice as slow on the hot path (CPython 3.11)
        try:
            self._entries.append((next(self._seq), _monotonic(), conn, _MESSAGE_KIND[direction], direction, message))
        finally:
            self._release()

    def error(self, conn: int | None, text: str | Text, traceback: str | None = None) -> None:
        self.add("error", conn, Problem(text, traceback))

    def _entry(self, raw: tuple[Any, ...]) -> Entry:
        seq, at, conn, kind, direction, data = raw
        return Entry(seq, at - self._start, conn, kind, direction, data)

    def _snapshot(self) -> list[Entry]:
        with self._lock:
            raws = list(self._entries)
        return [self._entry(raw) for raw in raws]

    @property
    def dropped(self) -> int:
        """How many of the oldest entries were forgotten to keep the record bounded."""
        items = self._snapshot()
        return (items[-1].seq - self._cleared_up_to - len(items)) if items else 0

    def entries(self, kind: str | None = None, conn: int | None = None) -> list[Entry]:
        items = self._snapshot()
        return [e for e in items if (kind is None or e.kind == kind) and (conn is None or e.conn == conn)]

    def count(self, kind: str) -> int:
        return len(self.entries(kind))

    def connections(self) -> list[int]:
        """The connection numbers seen so far, in order."""
        return sorted({e.conn for e in self.entries("open") if e.conn is not None})

    def errors(self) -> ErrorsView:
        """The errors recorded, each with its traceback when code failed: ``record.errors()``."""
        return ErrorsView(self.entries("error"), self.unit)

    def headers(self, conn: int | None = None) -> HeadersView:
        """Each request and response head (start line and headers), for one connection or all."""
        return HeadersView(
            [e for e in self.entries(conn=conn) if e.kind in ("request", "response") and isinstance(e.data, HttpHead)],
            self.unit,
        )

    def logger(self) -> logging.Logger:
        """A logger of this server's own that writes warnings and errors here, never to stderr."""
        logger = logging.Logger("labkit.server", logging.WARNING)
        logger.addHandler(_RecordHandler(self))
        logger.propagate = False
        return logger

    def clear(self) -> None:
        """Forget every entry so far (they do not count as dropped)."""
        with self._lock:
            if self._entries:
                self._cleared_up_to = self._entries[-1][0]
            self._entries.clear()

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries())

    def __len__(self) -> int:
        return len(self._entries)

    def table(self, kind: str | None = None, conn: int | None = None, last: int | None = None) -> RecordTable:
        """The entries as a table for a cell; filter by kind or connection, or keep the ``last`` n."""
        rows = self.entries(kind, conn)
        if last is not None:
            rows = rows[-last:]
        return RecordTable(rows, self.unit)

    def _repr_html_(self) -> str:
        return self.table()._repr_html_()

    def __repr__(self) -> str:
        return repr(self.table())

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


def _unit_label(unit: str) -> str:
    return say("sesión", "session") if unit == "session" else "conn"


def _unit_word(unit: str) -> str:
    """What a number in the record counts, as a word: a TCP connection or a Socket.IO session."""
    return say("sesión", "session") if unit == "session" else say("conexión", "conn")


class HeadersView:
    """Request and response heads, shown as on the wire with the connection they belong to."""

    def __init__(self, entries: list[Entry], unit: str = "connection") -> None:
        self.entries = entries
        self.unit = unit

    def __repr__(self) -> str:
        if not self.entries:
            return say("(no hay peticiones ni respuestas registradas)", "(no requests or responses recorded)")
        blocks = []
        for entry in self.entries:
            if entry.kind == "request":
                arrow = say("cliente → servidor", "client → server")
            else:
                arrow = say("servidor → cliente", "server → client")
            blocks.append(f"[{_unit_word(self.unit)} {entry.conn}, {arrow}]\n{entry.data}")
        return "\n\n".join(blocks)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


class ErrorsView:
    """Errors with their tracebacks, for a student whose handler failed."""

    def __init__(self, entries: list[Entry], unit: str = "connection") -> None:
        self.entries = entries
        self.unit = unit

    def __len__(self) -> int:
        return len(self.entries)

    def __repr__(self) -> str:
        if not self.entries:
            return say("(ningún error)", "(no errors)")
        blocks = []
        for entry in self.entries:
            where = f"[{_unit_word(self.unit)} {entry.conn}] " if entry.conn is not None else ""
            text = f"{where}{entry.detail}"
            if isinstance(entry.data, Problem) and entry.data.traceback:
                text += "\n" + entry.data.traceback.rstrip()
            blocks.append(text)
        return "\n\n".join(blocks)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(repr(self))}</pre>"


class _RecordHandler(logging.Handler):
    def __init__(self, record: Record) -> None:
        super().__init__(logging.WARNING)
        self.record = record

    def emit(self, log: logging.LogRecord) -> None:
        # websockets passes the connection along with each log line.
        conn = getattr(getattr(log, "websocket", None), "labkit_id", None)
        message = log.getMessage()
        trace = None
        if log.exc_info and log.exc_info[1] is not None:
            message = f"{message}: {log.exc_info[1]!r}"
            trace = logging.Formatter().formatException(log.exc_info)
        self.record.error(conn, message, trace)


class RecordTable:
    """Entries displayed as a table: HTML in JupyterLab, aligned text elsewhere."""

    def __init__(self, entries: list[Entry], unit: str = "connection") -> None:
        self.rows = entries
        self.unit = unit

    def header(self) -> tuple[str, ...]:
        return ("#", _unit_label(self.unit), say("evento", "event"), "dir", say("detalle", "detail"))

    def _cells(self) -> list[tuple[str, ...]]:
        return [
            (str(e.seq), "" if e.conn is None else str(e.conn), say(*_KIND_WORDS[e.kind]), e.direction, _line(e.detail))
            for e in self.rows
        ]

    def __repr__(self) -> str:
        if not self.rows:
            return say("(sin entradas)", "(no entries)")
        header = self.header()
        rows = [header, *self._cells()]
        widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1] for r in rows]
        return "\n".join(line.rstrip() for line in lines)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

    def _repr_html_(self) -> str:
        from .tables import html_table

        return html_table(self.header(), self._cells(), wide_last=True)


def _line(text: str, width: int = 160) -> str:
    """One table line: newlines shown as ⏎, cut at ``width``."""
    text = text.replace("\r", "\\r").replace("\n", "⏎")
    return text if len(text) <= width else text[: width - 1] + "…"
