"""What a background server saw, kept for a cell to show on demand.

Servers run in threads; anything they print lands in whichever cell runs next, which
makes stored notebook outputs nondeterministic. So servers never print: they append to a
bounded :class:`Record`, and a cell displays it as a table.
"""

from __future__ import annotations

__all__ = ["CLIENT_TO_SERVER", "SERVER_TO_CLIENT", "Entry", "HttpHead", "Record"]

import html
import itertools
import logging
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

CLIENT_TO_SERVER = "C→S"
SERVER_TO_CLIENT = "S→C"
_MESSAGE_KIND = {CLIENT_TO_SERVER: "recv", SERVER_TO_CLIENT: "send"}
_monotonic = time.monotonic

#: The kinds of entry a server records, in the order a connection usually produces them.
KINDS = ("open", "request", "response", "recv", "send", "close", "error")


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


class Entry(NamedTuple):
    """One thing a server saw: ``kind`` is one of :data:`KINDS`.

    A named tuple rather than a dataclass: servers add one per message, on the hot path.
    """

    seq: int
    time: float
    conn: int | None
    kind: str
    direction: str
    data: Any
    summary: str | None = None

    @property
    def detail(self) -> str:
        """One line for the table: the summary given, or the data shortened."""
        return self.summary if self.summary is not None else _short(self.data)


def _short(value: Any, width: int = 70) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


class Record:
    """A bounded, thread-safe log of a server's connections, messages, closes and errors.

    Only the newest ``maxlen`` entries are kept (``dropped`` counts the others), so a
    server left running for a whole class cannot eat the kernel's memory.
    """

    def __init__(self, maxlen: int = 2000) -> None:
        # Raw tuples in Entry's field order; Entry objects are made only when read.
        self._entries: deque[tuple[Any, ...]] = deque(maxlen=maxlen)
        self._seq = itertools.count(1)
        self._conn_ids = itertools.count(1)
        self._start = time.monotonic()
        self._cleared_up_to = 0
        self.maxlen = maxlen

    def new_connection(self) -> int:
        """Number connections 1, 2, 3… in the order the server accepted them."""
        return next(self._conn_ids)

    def add(
        self,
        kind: str,
        conn: int | None = None,
        detail: Any = "",
        *,
        direction: str = "",
        data: Any = None,
    ) -> Entry:
        # deque.append and next() on a counter are atomic: no lock on the hot path.
        raw = (
            next(self._seq),
            _monotonic(),
            conn,
            kind,
            direction,
            detail if data is None else data,
            None if data is None else _short(detail),
        )
        self._entries.append(raw)
        return self._entry(raw)

    def _entry(self, raw: tuple[Any, ...]) -> Entry:
        seq, at, conn, kind, direction, data, summary = raw
        return Entry(seq, at - self._start, conn, kind, direction, data, summary)

    def message(self, conn: int, direction: str, message: Any) -> None:
        """Record one message; ``direction`` is CLIENT_TO_SERVER or SERVER_TO_CLIENT."""
        # The hot path of every server: a plain tuple, no object built (see ``labkit bench``).
        self._entries.append((next(self._seq), _monotonic(), conn, _MESSAGE_KIND[direction], direction, message, None))

    def _snapshot(self) -> list[Entry]:
        while True:
            try:
                raws = list(self._entries)
            except RuntimeError:  # a server thread appended while we copied
                continue
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

    def headers(self, conn: int | None = None) -> HeadersView:
        """Each request and response head (start line and headers), for one connection or all."""
        return HeadersView(
            [e for e in self.entries(conn=conn) if e.kind in ("request", "response") and isinstance(e.data, HttpHead)]
        )

    def logger(self) -> logging.Logger:
        """A logger of this server's own that writes warnings and errors here, never to stderr."""
        logger = logging.Logger("labkit.server", logging.WARNING)
        logger.addHandler(_RecordHandler(self))
        logger.propagate = False
        return logger

    def clear(self) -> None:
        """Forget every entry so far (they do not count as dropped)."""
        items = self._snapshot()
        self._entries.clear()
        if items:
            self._cleared_up_to = items[-1].seq

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries())

    def __len__(self) -> int:
        return len(self._entries)

    def table(self, kind: str | None = None, conn: int | None = None, last: int | None = None) -> RecordTable:
        """The entries as a table for a cell; filter by kind or connection, or keep the ``last`` n."""
        rows = self.entries(kind, conn)
        if last is not None:
            rows = rows[-last:]
        return RecordTable(rows)

    def _repr_html_(self) -> str:
        return self.table()._repr_html_()

    def __repr__(self) -> str:
        return repr(self.table())


class HeadersView:
    """Request and response heads, shown as on the wire with the connection they belong to."""

    def __init__(self, entries: list[Entry]) -> None:
        self.entries = entries

    def __repr__(self) -> str:
        if not self.entries:
            return "(no requests or responses recorded)"
        blocks = []
        for entry in self.entries:
            arrow = "client → server" if entry.kind == "request" else "server → client"
            blocks.append(f"[conn {entry.conn}, {arrow}]\n{entry.data}")
        return "\n\n".join(blocks)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


class _RecordHandler(logging.Handler):
    def __init__(self, record: Record) -> None:
        super().__init__(logging.WARNING)
        self.record = record

    def emit(self, log: logging.LogRecord) -> None:
        # websockets passes the connection along with each log line.
        conn = getattr(getattr(log, "websocket", None), "labkit_id", None)
        message = log.getMessage()
        if log.exc_info and log.exc_info[1] is not None:
            message = f"{message}: {log.exc_info[1]!r}"
        self.record.add("error", conn, message)


class RecordTable:
    """Entries displayed as a table: HTML in JupyterLab, aligned text elsewhere."""

    HEADER = ("#", "conn", "event", "dir", "detail")

    def __init__(self, entries: list[Entry]) -> None:
        self.rows = entries

    def _cells(self) -> list[tuple[str, ...]]:
        return [(str(e.seq), "" if e.conn is None else str(e.conn), e.kind, e.direction, e.detail) for e in self.rows]

    def __repr__(self) -> str:
        rows = [self.HEADER, *self._cells()]
        widths = [max(len(r[i]) for r in rows) for i in range(len(self.HEADER) - 1)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1] for r in rows]
        return "\n".join(line.rstrip() for line in lines) if self.rows else "(no entries)"

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{h}</th>" for h in self.HEADER)
        body = "".join(
            "<tr>" + "".join(f"<td style='text-align:left'>{html.escape(c)}</td>" for c in row) + "</tr>"
            for row in self._cells()
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
