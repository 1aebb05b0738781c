"""What a tap saw: every byte in each direction, per TCP connection, with times.

The proxy appends :class:`Chunk` objects as it reads them; everything a cell shows is
computed from those chunks on demand (:mod:`.decode` turns them into HTTP messages,
WebSocket frames and Engine.IO packets, :mod:`.display` into tables and diagrams).

Memory is bounded: only the first ``max_bytes`` bytes are kept (16 MiB by default). The
start of every stream is what makes it decodable, so later bytes are forwarded but not
kept, and :attr:`Recording.dropped` counts them. Decoding is bounded too: compressed
messages are inflated up to ``inflate_budget`` bytes in all, per recording (16 MiB by
default), and the decoded units are cached until new bytes arrive.
"""

from __future__ import annotations

__all__ = ["DEFAULT_MAX_BYTES", "Chunk", "ConnectionInfo", "Recording"]

import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any

from ..i18n import Text
from ..record import CLIENT_TO_SERVER, SERVER_TO_CLIENT
from . import display
from .decode import INFLATE_BUDGET, Decoded, Unit, decode

#: Bytes of traffic a recording keeps before it only counts.
DEFAULT_MAX_BYTES = 16 * 2**20


@dataclass(frozen=True)
class Chunk:
    """Bytes that one read returned: ``direction`` is ``"C→S"`` or ``"S→C"``.

    ``time`` is in seconds since the tap started (monotonic clock).
    """

    conn: int
    direction: str
    time: float
    data: bytes


@dataclass(frozen=True)
class ConnectionInfo:
    """One TCP connection through the tap, numbered 1, 2, … in the order accepted.

    Byte counts include bytes past the recording limit; ``closed_by`` is ``"client"`` or
    ``"server"`` (whoever ended its direction first) or ``"tap"`` (stopped, or the target
    could not be reached).
    """

    conn: int
    opened: float
    closed: float | None = None
    closed_by: str | None = None
    to_server: int = 0
    to_client: int = 0
    dropped: int = 0
    error: str | Text | None = None


@dataclass
class _Counters:
    """A connection's info, with the byte counts kept as plain numbers: the proxy adds to them on every read."""

    opened: ConnectionInfo
    to_server: int = 0
    to_client: int = 0
    dropped: int = 0
    eof: list[str] = field(default_factory=list)

    @property
    def info(self) -> ConnectionInfo:
        return replace(self.opened, to_server=self.to_server, to_client=self.to_client, dropped=self.dropped)


class Recording:
    """Every byte a tap forwarded, with the views a lesson shows.

    The proxy's loop thread writes; cells read snapshots from any thread.
    """

    def __init__(
        self, max_bytes: int = DEFAULT_MAX_BYTES, start: float | None = None, inflate_budget: int = INFLATE_BUDGET
    ) -> None:
        self.max_bytes = max_bytes
        self.inflate_budget = inflate_budget
        self.start = time.monotonic() if start is None else start
        self._lock = threading.Lock()
        self._chunks: list[Chunk] = []
        self._conns: dict[int, _Counters] = {}
        self._kept = 0
        self._dropped = 0
        self._errors: list[str | Text] = []
        self._marks: list[tuple[float, Text]] = []
        self._cache: tuple[int, Decoded] | None = None

    def _now(self) -> float:
        return time.monotonic() - self.start

    # The writer's side: the proxy calls these from its loop thread.

    def open_connection(self) -> int:
        with self._lock:
            conn = len(self._conns) + 1
            self._conns[conn] = _Counters(ConnectionInfo(conn, self._now()))
            return conn

    def add(self, conn: int, direction: str, data: bytes) -> None:
        """Record bytes read from one side, before they are passed to the other."""
        with self._lock:
            counters = self._conns[conn]
            size = len(data)
            kept = data[: max(0, self.max_bytes - self._kept)]
            if kept:
                self._chunks.append(Chunk(conn, direction, self._now(), kept))
                self._kept += len(kept)
            lost = size - len(kept)
            self._dropped += lost
            if direction == CLIENT_TO_SERVER:
                counters.to_server += size
            else:
                counters.to_client += size
            counters.dropped += lost

    def end(self, conn: int, direction: str) -> None:
        """One side finished sending (TCP FIN), which tells who closed first."""
        with self._lock:
            self._conns[conn].eof.append(direction)

    def close_connection(self, conn: int, error: str | Text | None = None) -> None:
        """The connection is over; ``error`` says why the tap had to end it, if it did."""
        with self._lock:
            counters = self._conns[conn]
            if counters.opened.closed is not None:
                return
            first = counters.eof[0] if counters.eof else None
            by = {CLIENT_TO_SERVER: "client", SERVER_TO_CLIENT: "server"}.get(first or "", "tap")
            counters.opened = replace(counters.opened, closed=self._now(), closed_by=by, error=error)
            if error:
                es, en = (error.es, error.en) if isinstance(error, Text) else (error, error)
                self._errors.append(Text(f"conexión {conn}: {es}", f"connection {conn}: {en}"))

    def mark(self, what: Text) -> None:
        """Something done to the network (the cable cut or restored), shown in the timeline."""
        with self._lock:
            self._marks.append((self._now(), what))

    def marks(self) -> list[tuple[float, Text]]:
        """When the network was cut, restored or reset, in seconds since start."""
        with self._lock:
            return list(self._marks)

    def error(self, message: str | Text) -> None:
        """Something went wrong in the proxy itself; shown with the summary, never printed."""
        with self._lock:
            self._errors.append(message)

    # The reader's side: cells.

    def chunks(self, conn: int | None = None) -> list[Chunk]:
        """The chunks in the order they arrived, all or of one connection."""
        with self._lock:
            chunks = list(self._chunks)
        return chunks if conn is None else [c for c in chunks if c.conn == conn]

    def connections(self) -> list[ConnectionInfo]:
        with self._lock:
            return [c.info for c in self._conns.values()]

    def stream(self, conn: int, direction: str) -> bytes:
        """Everything kept from one side of one connection, as one byte string."""
        return b"".join(c.data for c in self.chunks(conn) if c.direction == direction)

    @property
    def dropped(self) -> int:
        """Bytes forwarded but not kept, once ``max_bytes`` were recorded."""
        with self._lock:
            return self._dropped

    @property
    def errors(self) -> list[str]:
        """What went wrong in the proxy, in the lesson's language."""
        return [str(error) for error in self._error_facts()]

    def _error_facts(self) -> list[str | Text]:
        with self._lock:
            return list(self._errors)

    @property
    def last_activity(self) -> float:
        """When the last bytes arrived or a connection opened or closed (seconds since start)."""
        with self._lock:
            times = [c.opened.opened for c in self._conns.values()]
            times += [c.opened.closed for c in self._conns.values() if c.opened.closed is not None]
            if self._chunks:
                times.append(self._chunks[-1].time)
        return max(times, default=0.0)

    def decoded(self) -> Decoded:
        """The traffic decoded (cached until new bytes arrive)."""
        chunks = self.chunks()
        cache = self._cache
        if cache is not None and cache[0] == len(chunks):
            return cache[1]
        result = decode(chunks, self.inflate_budget)
        self._cache = (len(chunks), result)
        return result

    def messages(self, conn: int | None = None) -> list[Unit]:
        """HTTP messages, WebSocket frames and undecodable bytes, per connection in arrival order."""
        return [u for u in self.decoded().units if conn is None or u.conn == conn]

    def packets(self, conn: int | None = None) -> display.PacketTable:
        """Engine.IO packets (with the Socket.IO packets inside), from WebSocket frames and polling bodies.

        A list, shown as a table.
        """
        return display.PacketTable(p for u in self.messages(conn) for p in u.packets)

    def hexdump(self, conn: int | None = None, limit: int | None = 256) -> display.Hexdump:
        """Offset, hex and ASCII of each message or frame, under a line that says what it is.

        At most ``limit`` bytes of each are shown (``None``: all).
        """
        return display.Hexdump(self.messages(conn), limit)

    def frames(self, conn: int | None = None) -> display.FrameTable:
        """One row per HTTP message or WebSocket frame: header fields, and what it carries (unmasked)."""
        return display.FrameTable(self.messages(conn))

    def sequence(self, conn: int | None = None) -> display.SequenceDiagram:
        """A Mermaid sequence diagram of the exchange between Client and Server."""
        return display.SequenceDiagram(self.messages(conn))

    def timeline(self, conn: int | None = None) -> display.Timeline:
        """When each connection opened and closed, each message arrived and the cable was cut or restored."""
        decoded = self.decoded()
        rows = [(t, u) for t, u in zip(decoded.times, decoded.units, strict=True) if conn is None or u.conn == conn]
        infos = [c for c in self.connections() if conn is None or c.conn == conn]
        return display.Timeline(rows, infos, self.marks())

    def summary(self, state: str = "") -> display.Summary:
        """Connections, bytes each way and what they held; ``state`` is ``"running"``, ``"stopped"`` or empty."""
        facts = self._error_facts()
        return display.Summary(self.connections(), self.messages(), self.dropped, self.max_bytes, facts, state)

    def __repr__(self) -> str:
        return display.full_text(self.summary(), self.sequence(), self.frames(), self.hexdump())

    def _repr_markdown_(self) -> str:
        return display.full_markdown(self.summary(), self.sequence(), self.frames(), self.hexdump())

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))
