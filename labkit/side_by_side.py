"""The page and the wire at once: a page's calls and events beside the frames a tap saw.

The course's two meanings of "WebSockets", side by side: on the left, the browser's interface
(the WHATWG WebSockets Standard) as a ``labkit.run_js`` run used it, one line per call or event
as its log shows them; on the right, the protocol (RFC 6455) as a ``labkit.tap`` recorded it,
one HTTP message or frame per row. Rows pair what goes together, so the gaps between the two
layers show: pings and pongs no page hears of (WebSockets Standard, "Ping and Pong frames"),
the close frame a browser answers by itself (RFC 6455 §5.5.1), a message that arrives after
``close()`` and never reaches the page (WebSockets Standard, "Feedback from the protocol").

    tap = labkit.tap(server.url)            # a fresh tap: its connections are the page's
    run = labkit.run_js(code, tap)
    await side_by_side(run, tap)            # waits for the page's code, then shows both sides

Pairing, per socket and per direction in order (TCP keeps each direction in order):
``new WebSocket`` ↔ the handshake request; the open event ↔ the 101 response (when the page
never opened, the response goes with its error event); each ``send()`` ↔ the next data message
from the client; each message event ↔ the next data message from the server; ``close()`` ↔
the client's close frame when the page spoke first; the close event ↔ the end of the TCP
connection, when "the WebSocket connection is closed" (RFC 6455 §7.1.4). Whatever else crossed
the wire gets a row of its own that says the page was not told, or did not send it.

Sockets and connections pair in order: a browser opens one connection at a time to a host and
port (RFC 6455 §4.1, client requirement 2), so the page's n-th socket to the tap is the tap's
n-th connection. Where no browser runs the code (nbval, nbconvert), the view says so.
"""

from __future__ import annotations

__all__ = ["POLL", "SETTLE", "Row", "SideBySide", "side_by_side"]

import asyncio
import html
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .errors import LabkitError
from .i18n import say
from .protocol.frames import Opcode
from .record import CLIENT_TO_SERVER, SERVER_TO_CLIENT
from .widgets import BrowserEvent, RunJS
from .wiretap import HttpMessage, Tap, Unit, WebSocketFrame
from .wiretap.display import describe

#: Seconds between two looks at the browser's progress while a cell awaits.
POLL = 0.05
#: Seconds the tap may take, once the code is done, to see the last bytes and TCP closes.
SETTLE = 2.0
#: Kinds of event a socket's row shows; the run's own ``start`` and ``done`` are the status line.
_SHOWN = frozenset(
    {
        *("via_proxy", "unsure", "log", "exception"),
        *("create", "open", "send_text", "send_binary", "message", "error", "closing", "close"),
    }
)


@dataclass(frozen=True)
class Row:
    """One line of the view: what the page did or was told, and what crossed the wire with it.

    ``page`` is the run's log line (empty when the page knew nothing of the frame); ``note`` then
    says why; ``direction`` is ``"C→S"``, ``"S→C"`` or empty; ``wire`` describes the unit.
    """

    page: str
    direction: str = ""
    wire: str = ""
    note: str = ""
    socket: int | None = None


@dataclass(frozen=True)
class _TcpEnd:
    """The end of a TCP connection through the tap: the moment the close event reports."""

    conn: int
    closed_by: str | None


_Wire = Unit | _TcpEnd


def _end_words(end: _TcpEnd) -> str:
    who = {
        "client": say("la cerró el navegador", "closed by the browser"),
        "server": say("la cerró el servidor", "closed by the server"),
        "tap": say("la cortó el tap", "cut by the tap"),
    }.get(end.closed_by or "", "?")
    return say(f"fin de la conexión TCP ({who})", f"end of the TCP connection ({who})")


def _wire_words(unit: _Wire) -> str:
    if isinstance(unit, _TcpEnd):
        return _end_words(unit)
    words = describe(unit)
    if isinstance(unit, WebSocketFrame) and unit.masked:
        words += say(" (enmascarada)", " (masked)")
    return words


def _direction(unit: _Wire) -> str:
    return "" if isinstance(unit, _TcpEnd) else unit.direction


def _note(unit: _Wire) -> str:
    """Why a unit has no page event beside it: who sent it, and that the page heard nothing."""
    if isinstance(unit, _TcpEnd):
        return ""
    if unit.direction == CLIENT_TO_SERVER:
        return say("(lo envió el navegador, no tu código)", "(sent by the browser, not by your code)")
    return say("(la página no recibe ningún evento)", "(no event reaches the page)")


def _request(unit: _Wire) -> bool:
    return isinstance(unit, HttpMessage) and unit.direction == CLIENT_TO_SERVER


def _response(unit: _Wire) -> bool:
    return isinstance(unit, HttpMessage) and unit.direction == SERVER_TO_CLIENT


def _close_frame(unit: _Wire) -> bool:
    return isinstance(unit, WebSocketFrame) and unit.opcode == Opcode.CLOSE


def _message_start(direction: str) -> Callable[[_Wire], bool]:
    """The first frame of a data message one way: text or binary, not a continuation (§5.4, §5.6)."""
    return lambda u: (
        isinstance(u, WebSocketFrame) and u.direction == direction and u.opcode in (Opcode.TEXT, Opcode.BINARY)
    )


def _through(url: str, tap: Tap) -> bool:
    """Whether a socket's URL leads to the tap: its port, or jupyter-server-proxy's ``/proxy/PORT/``."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    return (parts.hostname == tap.host and port == tap.port) or f"/proxy/{tap.port}/" in f"{parts.path}/"


class _Wires:
    """One connection's units in arrival order, handed out to the page's events as they claim them."""

    def __init__(self, units: Sequence[_Wire]) -> None:
        self.units = list(units)
        self.taken: set[int] = set()

    def take(self, index: int | None) -> list[int]:
        if index is None:
            return []
        self.taken.add(index)
        return [index]

    def first(self, wanted: Callable[[_Wire], bool]) -> int | None:
        return next((i for i, u in enumerate(self.units) if i not in self.taken and wanted(u)), None)

    def message(self, direction: str) -> list[int]:
        """The next whole data message one way: its first frame and any continuation frames (§5.4)."""
        start = self.first(_message_start(direction))
        if start is None:
            return []
        taken = self.take(start)
        frame = self.units[start]
        index = start + 1
        while isinstance(frame, WebSocketFrame) and not frame.fin and index < len(self.units):
            unit = self.units[index]
            if isinstance(unit, WebSocketFrame) and unit.direction == direction and unit.opcode == Opcode.CONT:
                taken += self.take(index)
                frame = unit
            index += 1
        return taken


def _claims(event: BrowserEvent, wires: _Wires, opened: bool) -> list[int]:
    """The units an event of the page goes with (see the module's docstring)."""
    kind = event.kind
    if kind == "create":
        return wires.take(wires.first(_request))
    if kind == "open" or (kind == "error" and not opened):
        return wires.take(wires.first(_response))
    if kind in ("send_text", "send_binary"):
        return wires.message(CLIENT_TO_SERVER)
    if kind == "message":
        return wires.message(SERVER_TO_CLIENT)
    if kind == "closing":
        first = wires.first(_close_frame)
        if first is not None and _direction(wires.units[first]) == CLIENT_TO_SERVER:
            return wires.take(first)  # the page spoke first; else its close() sent nothing new
        return []
    if kind == "close":
        return wires.take(wires.first(lambda u: isinstance(u, _TcpEnd)))
    return []


def _pair(
    events: Sequence[BrowserEvent], sockets: Mapping[int, int | None], wires_of: Mapping[int, Sequence[_Wire]]
) -> list[Row]:
    """Rows for ``events`` (the page's log) beside the units of the connection each socket maps to.

    ``sockets`` maps a socket number to its tap connection (None: not through the tap).
    """
    wires = {conn: _Wires(units) for conn, units in wires_of.items()}
    opened = {e.socket for e in events if e.kind == "open"}
    shown = [e for e in events if e.kind in _SHOWN]
    groups: list[tuple[BrowserEvent, int | None, list[int]]] = []  # event, its connection, units claimed
    for event in shown:
        conn = sockets.get(event.socket) if event.socket is not None else None
        claimed = _claims(event, wires[conn], event.socket in opened) if conn in wires else []
        groups.append((event, conn, claimed))
    # Every unit no event claimed goes after the last event (in the page's order) whose units came before it.
    after: dict[int, list[tuple[int, int]]] = {}
    leading: list[tuple[int, int]] = []
    for conn, connection in wires.items():
        for index in range(len(connection.units)):
            if index in connection.taken:
                continue
            place = None
            for position, (_, group_conn, claimed) in enumerate(groups):
                if group_conn == conn and claimed and max(claimed) < index:
                    place = position
            (after.setdefault(place, []) if place is not None else leading).append((conn, index))
    socket_of = {conn: socket for socket, conn in sockets.items() if conn is not None}

    def unclaimed(items: list[tuple[int, int]]) -> list[Row]:
        rows = []
        for conn, index in sorted(items):
            unit = wires[conn].units[index]
            rows.append(Row("", _direction(unit), _wire_words(unit), _note(unit), socket_of.get(conn)))
        return rows

    rows = unclaimed(leading)
    for position, (event, conn, claimed) in enumerate(groups):
        units = [wires[conn].units[i] for i in claimed] if conn is not None else []
        if event.kind == "create" and event.socket is not None and sockets.get(event.socket) is None:
            rows.append(Row(event.line, "", say("(no pasa por el tap)", "(not through the tap)"), "", event.socket))
        elif not units:
            rows.append(Row(event.line, socket=event.socket))
        else:
            first, *rest = units
            rows.append(Row(event.line, _direction(first), _wire_words(first), "", event.socket))
            rows += [Row("", _direction(u), _wire_words(u), "", event.socket) for u in rest]
        rows += unclaimed(after.get(position, []))
    return rows


@dataclass
class SideBySide:
    """The view: build it with :func:`side_by_side`; ``await`` it to let the page's code finish first."""

    run: RunJS
    tap: Tap
    timeout: float = 10.0
    _waited: bool = field(default=False, repr=False)

    def __await__(self) -> Generator[Any, None, SideBySide]:
        return self._settle().__await__()

    async def _settle(self) -> SideBySide:
        """Wait (the kernel reads the browser's reports meanwhile) until the code is done or time is up."""
        deadline = time.monotonic() + self.timeout
        while not self.run.done and time.monotonic() < deadline:
            await asyncio.sleep(POLL)
        if self.run.started and self.tap.running:
            self.tap.wait(timeout=SETTLE, closed=self.run.done)
        self._waited = True
        return self

    @property
    def status(self) -> str:
        """``"not_started"`` (no browser ran the code), ``"running"`` or ``"done"``."""
        if not self.run.started:
            return "not_started"
        return "done" if self.run.done else "running"

    def rows(self) -> list[Row]:
        """The rows as things stand now."""
        events = self.run.log
        through = [
            e.socket for e in events if e.kind == "create" and e.socket is not None and _through(str(e.data), self.tap)
        ]
        conns = [info.conn for info in self.tap.connections()]
        sockets: dict[int, int | None] = {e.socket: None for e in events if e.kind == "create" and e.socket is not None}
        sockets.update(zip(through, conns, strict=False))
        wires_of: dict[int, list[_Wire]] = {}
        for info in self.tap.connections():
            wires_of[info.conn] = [*self.tap.messages(info.conn)]
            if info.closed is not None:
                wires_of[info.conn].append(_TcpEnd(info.conn, info.closed_by))
        return _pair(events, sockets, wires_of)

    def _status_line(self) -> str:
        if self.status == "not_started":
            return say(
                "ningún navegador ejecutó este código: donde no hay navegador (nbval, nbconvert) no se ejecuta. "
                "Ábrelo en JupyterLab y verás la página a la izquierda y el cable a la derecha.",
                "no browser ran this code: where there is no browser (nbval, nbconvert) it never runs. "
                "Open it in JupyterLab to see the page on the left and the wire on the right.",
            )
        if self.status == "running":
            es, en = (f" tras {self.timeout:g} s", f" after {self.timeout:g} s") if self._waited else ("", "")
            return say(
                f"el código de la página sigue en marcha{es}: esto es lo que pasó hasta ahora",
                f"the page's code is still running{en}: this is what happened so far",
            )
        return ""

    @staticmethod
    def header() -> tuple[str, str, str]:
        return (
            say("la página (tu JavaScript)", "the page (your JavaScript)"),
            "dir",
            say("el cable (tap)", "the wire (tap)"),
        )

    def text(self) -> str:
        """Aligned plain text: the page's column, the direction, the wire's column."""
        status = self._status_line()
        lines = [status] if status else []
        rows = self.rows()
        if not rows:
            return "\n".join(lines)
        table = [self.header(), *((row.page or row.note, row.direction, row.wire) for row in rows)]
        width = min(60, max(len(cells[0]) for cells in table))
        dir_width = max(len(cells[1]) for cells in table)
        lines += [f"{page.ljust(width)}  {way.ljust(dir_width)}  {wire}".rstrip() for page, way, wire in table]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.text()

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.text())

    def _repr_html_(self) -> str:
        """Two columns in JupyterLab; a note (the page was not told) in grey italics, a line between sockets."""
        status = self._status_line()
        head = f"<p>{html.escape(status)}</p>" if status else ""
        rows = self.rows()
        if not rows:
            return head
        header = "".join(f"<th style='{_CELL};{_NARROW}'>{html.escape(h)}</th>" for h in self.header())
        body = []
        previous: int | None = None
        for row in rows:
            new_socket = row.socket is not None and previous is not None and row.socket != previous
            border = ";border-top:1px solid var(--jp-border-color2,#ccc)" if new_socket else ""
            if row.socket is not None:
                previous = row.socket
            page = html.escape(row.page)
            if row.note and not row.page:
                page = f"<span style='{_NOTE}'>{html.escape(row.note)}</span>"
            body.append(
                f"<tr><td style='{_CELL};{_WRAP}{border}'>{page}</td>"
                f"<td style='{_CELL};{_NARROW}{border}'>{html.escape(row.direction)}</td>"
                f"<td style='{_CELL};{_WRAP}{border}'>{html.escape(row.wire)}</td></tr>"
            )
        return f"{head}<table style='{_TABLE}'><thead><tr>{header}</tr></thead><tbody>{''.join(body)}</tbody></table>"


_TABLE = "table-layout:auto;border-collapse:collapse;margin:0"
_CELL = "text-align:left;vertical-align:top;padding:1px 8px;font-family:var(--jp-code-font-family,monospace)"
_NARROW = "white-space:pre"
_WRAP = "white-space:pre-wrap;overflow-wrap:anywhere"
_NOTE = "font-style:italic;color:var(--jp-ui-font-color2,#757575)"


def side_by_side(run: Any, tap: Any, timeout: float = 10.0) -> SideBySide:
    """The page's calls and events (``run``, from ``labkit.run_js``) beside the frames ``tap`` saw.

    ``await side_by_side(run, tap)`` first waits, up to ``timeout`` seconds, for the page's code
    to finish (the kernel reads the browser while the cell awaits); without ``await`` it shows
    what happened so far. It never fails for want of a browser: it says so instead.
    """
    if not isinstance(run, RunJS) or not isinstance(tap, Tap):
        raise LabkitError(
            say(
                "side_by_side(run, tap): run es lo que devuelve labkit.run_js y tap lo que devuelve labkit.tap, "
                f"no {type(run).__name__} y {type(tap).__name__}",
                "side_by_side(run, tap): run is what labkit.run_js returns and tap what labkit.tap returns, "
                f"not {type(run).__name__} and {type(tap).__name__}",
            )
        )
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 600:
        raise LabkitError(
            say(
                f"timeout debe ser un número de segundos mayor que 0 y hasta 600, no {timeout!r}",
                f"timeout must be a number of seconds above 0 and up to 600, not {timeout!r}",
            )
        )
    return SideBySide(run, tap, float(timeout))
