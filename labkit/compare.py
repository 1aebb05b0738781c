"""``labkit compare``: one workload over six ways of hearing news from a server, measured on the wire.

:func:`compare` runs it and defines every figure (``help(labkit.compare)``); a
:class:`Comparison` shows them as a table, a plot or the JSON list of ``labkit compare --json``.
The clients: Python's here (aiohttp, websockets, python-socketio), Chromium's in
``labkit/static/compare/index.html``.
"""

from __future__ import annotations

__all__ = [
    "TRANSPORTS",
    "Comparison",
    "Receipt",
    "Reception",
    "TransportFigures",
    "WireCount",
    "compare",
    "count_wire",
    "next_poll",
    "published_json",
]

import asyncio
import contextlib
import html
import json
import math
import statistics
import time
from collections import deque
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from .errors import LabkitError
from .i18n import say
from .options import count, hertz, strings
from .pages import STATIC
from .protocol.http11 import Request
from .tables import html_table
from .wiretap.decode import HttpMessage
from .wiretap.recording import Recording

if TYPE_CHECKING:  # imported when used: a cell that never compares never pays for them
    from matplotlib.figure import Figure

    from .browser import Browser

#: The transports compared, in the order shown (the ``"transport"`` of each JSON object).
TRANSPORTS = ("polling", "polling-new-connection", "long-polling", "sse", "websocket", "socketio")
#: The stack that serves each transport.
STACK_OF = {
    "polling": "http",
    "polling-new-connection": "http",
    "long-polling": "http",
    "sse": "http",
    "websocket": "websocket",
    "socketio": "socketio",
}
#: Where each stack's clients ask: a request for another path is the page's, not the transport's.
PATH_OF = {"http": "/app", "websocket": "/feed", "socketio": "/socket.io/"}
#: The most updates one run publishes, and the rates allowed (updates per second).
MAX_UPDATES = 10_000
MIN_RATE, MAX_RATE = 0.1, 100.0
#: Seconds a client waits beyond ``updates / rate`` before it stops and counts what is lost.
MARGIN = 2.0
#: Seconds a long poll may be held (the http stack allows up to 60).
LONG_POLL_WAIT = 30
#: A run expected to take longer than this many seconds shows a progress bar (``progress=None``).
PROGRESS_AFTER = 5.0
#: Seconds each transport takes besides its updates (start, handshakes, closing), for the estimate.
SETUP_ESTIMATE = 0.4
#: Bytes each tap keeps: 10,000 browser polls over new connections take about 15 MB.
TAP_BYTES = 64 * 2**20
#: The User-Agent of the Python HTTP clients (aiohttp's own names its version, which would change the bytes).
USER_AGENT = "labkit (aiohttp client)"
#: The page that runs each transport's client in Chromium (its ``index.html``).
PAGE_FOLDER = STATIC / "compare"


@dataclass(frozen=True)
class Receipt:
    """One update as a client received it: when it was published and received (ms since the epoch)."""

    seq: int
    published_ms: float
    received_ms: float
    #: Bytes of the update's JSON as published (see :func:`published_json`).
    payload: int

    @classmethod
    def of(cls, update: Mapping[str, Any], received_ms: float) -> Receipt:
        return cls(int(update["seq"]), float(update["t"]), received_ms, len(published_json(update)))


def published_json(update: Mapping[str, Any]) -> bytes:
    """The update's JSON as the feed published it, from what a client decoded.

    The HTTP stack adds an ``"id"`` (its log's number, not the update's); ``t`` is a float
    in Python even when JavaScript hands back a whole number.
    """
    data = {key: value for key, value in update.items() if key != "id"}
    if "t" in data:
        data["t"] = float(data["t"])
    return json.dumps(data, ensure_ascii=False).encode()


@dataclass(frozen=True)
class Reception:
    """What one client received, and when it started asking (ms since the epoch)."""

    started_ms: float
    receipts: list[Receipt]


@dataclass(frozen=True)
class WireCount:
    """What one transport put on the wire (see :func:`count_wire`)."""

    connections: int
    requests: int
    bytes_up: int
    bytes_down: int


def count_wire(recording: Recording, path: str) -> WireCount:
    """Connections, requests and bytes each way of the transport whose requests go to ``path``.

    Requests for other paths (the page, its script) and their responses are left out; so
    is a connection that carried nothing else. Everything else counts: WebSocket frames,
    an event stream cut short, bytes that do not decode.
    """
    page_bytes: dict[tuple[int, str], int] = {}
    used: set[int] = set()
    waiting: dict[int, deque[bool]] = {}  # per connection, for each unanswered request: is it ours?
    requests = 0
    for unit in recording.messages():
        ours = True
        if isinstance(unit, HttpMessage):
            queue = waiting.setdefault(unit.conn, deque())
            if isinstance(unit.head, Request):
                ours = urlsplit(unit.head.target).path.startswith(path)
                queue.append(ours)
                requests += ours
            elif queue:
                ours = queue[0]
                if unit.head.status >= 200 or unit.head.status == 101:  # 1xx but 101 are interim (RFC 9110 §15.2)
                    queue.popleft()
        if ours:
            used.add(unit.conn)
        else:
            key = (unit.conn, unit.direction)
            page_bytes[key] = page_bytes.get(key, 0) + len(unit.data)
    up = down = 0
    for info in recording.connections():
        if info.conn in used:
            up += info.to_server - page_bytes.get((info.conn, "C→S"), 0)
            down += info.to_client - page_bytes.get((info.conn, "S→C"), 0)
    return WireCount(len(used), requests, up, down)


@dataclass(frozen=True)
class TransportFigures:
    """One transport's figures (:func:`compare` defines each)."""

    transport: str
    #: ``"python"`` or ``"chromium"``.
    client: str
    updates: int
    delivered: int
    connections: int
    requests: int
    bytes_up: int
    bytes_down: int
    payload_bytes: int
    overhead_per_update: float | None
    latency_ms_median: float | None
    latency_ms_p95: float | None
    lost: int
    duplicated: int
    #: Every delivered update's latency, in order of publication.
    latencies_ms: tuple[float, ...] = field(default=(), repr=False)

    @classmethod
    def of(cls, transport: str, client: str, updates: int, wire: WireCount, reception: Reception) -> TransportFigures:
        first: dict[int, Receipt] = {}
        received = 0
        for receipt in reception.receipts:
            received += 1
            first.setdefault(receipt.seq, receipt)
        delivered = sorted(first.values(), key=lambda r: r.seq)
        start = reception.started_ms
        latencies = tuple(round(r.received_ms - max(r.published_ms, start), 3) for r in delivered)
        payload = sum(r.payload for r in delivered)
        overhead = (wire.bytes_up + wire.bytes_down - payload) / len(delivered) if delivered else None
        return cls(
            transport=transport,
            client=client,
            updates=updates,
            delivered=len(delivered),
            connections=wire.connections,
            requests=wire.requests,
            bytes_up=wire.bytes_up,
            bytes_down=wire.bytes_down,
            payload_bytes=payload,
            overhead_per_update=None if overhead is None else round(overhead, 1),
            latency_ms_median=round(statistics.median(latencies), 2) if latencies else None,
            latency_ms_p95=round(_p95(latencies), 2) if latencies else None,
            lost=updates - len([seq for seq in first if 1 <= seq <= updates]),
            duplicated=received - len(delivered),
            latencies_ms=latencies,
        )

    def to_json(self) -> dict[str, Any]:
        """The public contract's keys (then a few more): see ``labkit compare --json``."""
        return {
            "transport": self.transport,
            "connections": self.connections,
            "requests": self.requests,
            "bytes_up": self.bytes_up,
            "bytes_down": self.bytes_down,
            "overhead_per_update": self.overhead_per_update,
            "latency_ms_median": self.latency_ms_median,
            "latency_ms_p95": self.latency_ms_p95,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "delivered": self.delivered,
            "updates": self.updates,
            "payload_bytes": self.payload_bytes,
            "client": self.client,
        }


def _p95(values: Sequence[float]) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


def _number(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


class Comparison:
    """The figures of one ``labkit.compare`` run: a row per transport, the wire each one used.

    A cell shows a table; ``to_json()`` gives the ``--json`` list, ``plot()`` a figure,
    ``wire("websocket")`` the tap's recording of that transport (``.frames()``, ``.sequence()``…).
    """

    def __init__(
        self, rows: Sequence[TransportFigures], updates: int, rate: float, recordings: Mapping[str, Recording]
    ) -> None:
        self.rows = list(rows)
        self.updates = updates
        self.rate = rate
        self._recordings = dict(recordings)

    def __getitem__(self, transport: str) -> TransportFigures:
        for row in self.rows:
            if row.transport == transport:
                return row
        raise KeyError(transport)

    def wire(self, transport: str) -> Recording:
        """What the tap saw of one transport, decoded on demand."""
        return self._recordings[transport]

    def to_json(self) -> list[dict[str, Any]]:
        return [row.to_json() for row in self.rows]

    @property
    def client(self) -> str:
        return self.rows[0].client if self.rows else "python"

    def header(self) -> list[str]:
        return [
            say("transporte", "transport"),
            say("conexiones", "connections"),
            say("peticiones", "requests"),
            say("bytes ↑", "bytes up"),
            say("bytes ↓", "bytes down"),
            say("sobrecarga/act.", "overhead/update"),
            say("latencia mediana ms", "median latency ms"),
            say("latencia p95 ms", "p95 latency ms"),
            say("perdidas", "lost"),
            say("duplicadas", "duplicated"),
        ]

    def cells(self) -> list[list[str]]:
        return [
            [
                row.transport,
                str(row.connections),
                str(row.requests),
                str(row.bytes_up),
                str(row.bytes_down),
                _number(row.overhead_per_update),
                _number(row.latency_ms_median),
                _number(row.latency_ms_p95),
                str(row.lost),
                str(row.duplicated),
            ]
            for row in self.rows
        ]

    def title(self) -> str:
        """What ran: the workload and the clients."""
        if self.client == "chromium":
            clients = say(
                "cliente: Chromium (fetch, EventSource, WebSocket, socket.io-client)",
                "client: Chromium (fetch, EventSource, WebSocket, socket.io-client)",
            )
        else:
            clients = say(
                "cliente: Python (aiohttp, websockets, python-socketio)",
                "client: Python (aiohttp, websockets, python-socketio)",
            )
        return say(
            f"{self.updates} actualizaciones a {self.rate:g} por segundo; {clients}",
            f"{self.updates} updates at {self.rate:g} per second; {clients}",
        )

    def caption(self) -> str:
        return self.title() + say(
            "; bytes medidos en el cable (labkit.tap); sobrecarga = bytes que no son la carga útil, por actualización",
            "; bytes measured on the wire (labkit.tap); overhead = bytes that are not payload, per update",
        )

    def text(self) -> str:
        """The table as aligned text: the transport's name on the left, numbers on the right."""
        rows = [self.header(), *self.cells()]
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = [
            "  ".join(
                cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
            for row in rows
        ]
        return "\n".join([self.caption(), *lines])

    def __repr__(self) -> str:
        return self.text()

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.text())

    def _repr_html_(self) -> str:
        caption = f"<p style='margin:0 0 4px 0'>{html.escape(self.caption())}</p>"
        return caption + html_table(self.header(), self.cells(), wide_last=False)

    def plot(self) -> Figure:
        """Bytes on the wire per update (the payload marked) and latency per transport, on log scales."""
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

        rows = self.rows
        names = [row.transport for row in rows]
        nothing = float("nan")  # no bar for a transport that delivered nothing
        figure, (size, delay) = plt.subplots(1, 2, figsize=(11, 0.5 * len(rows) + 1.6), layout="constrained")
        wire = [(row.bytes_up + row.bytes_down) / row.delivered if row.delivered else nothing for row in rows]
        size.barh(names, wire, color="#d4785f", label=say("bytes en el cable", "bytes on the wire"))
        delivered = sum(row.delivered for row in rows)
        if delivered:
            payload = sum(row.payload_bytes for row in rows) / delivered
            size.axvline(payload, color="#2f5f8f", linestyle="--", label=say("carga útil", "payload"))
            size.set_xlim(left=payload / 2)
        size.set_xlabel(say("bytes por actualización (escala log)", "bytes per update (log scale)"))
        delay.barh(names, [row.latency_ms_p95 or nothing for row in rows], color="#e8d8a8", label="p95")
        delay.barh(
            names, [row.latency_ms_median or nothing for row in rows], color="#7f9f5f", label=say("mediana", "median")
        )
        delay.set_xlabel(say("latencia en ms (escala log)", "latency in ms (log scale)"))
        delay.tick_params(labelleft=False)
        for axes in (size, delay):
            axes.set_xscale("log")
            axes.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
            axes.xaxis.set_minor_formatter(NullFormatter())
            axes.invert_yaxis()
            axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncols=2, frameon=False)
        figure.suptitle(self.title(), fontsize=10)
        plt.close(figure)  # shown once, by the cell that returns it
        return figure


# The Python clients ---------------------------------------------------------------------


class _Receiver:
    """Keeps what a client received, and says when it has every update."""

    def __init__(self, updates: int) -> None:
        self.updates = updates
        self.receipts: list[Receipt] = []
        self.seen: set[int] = set()
        self.all_in = asyncio.Event()

    def take(self, update: Mapping[str, Any]) -> None:
        receipt = Receipt.of(update, time.time() * 1000)
        self.receipts.append(receipt)
        self.seen.add(receipt.seq)
        if len(self.seen) >= self.updates:
            self.all_in.set()

    @property
    def done(self) -> bool:
        return self.all_in.is_set()


def next_poll(now: float, anchor: float, interval: float) -> float:
    """When polling asks next: the first time after ``now`` half an interval past a publication.

    Publications happen at ``anchor + k * interval`` (the feed keeps a fixed schedule).
    """
    return anchor + (math.floor((now - anchor) / interval - 0.5) + 1.5) * interval


async def _poll(url: str, rate: float, receiver: _Receiver, new_connection: bool, wait: int = 0) -> None:
    """Polling (``wait`` 0: every 1/rate s, half an interval out of step) or long polling (asked again at once)."""
    import aiohttp

    interval = 1 / rate
    connector = aiohttp.TCPConnector(limit=1, force_close=new_connection)
    headers = {"User-Agent": USER_AGENT}
    async with aiohttp.ClientSession(
        connector=connector, headers=headers, skip_auto_headers=("Accept-Encoding",)
    ) as session:
        anchor = time.time()  # until an update says when the publications began (with the first request)
        after = 0
        while not receiver.done:
            query = f"after={after}" + (f"&wait={wait}" if wait else "")
            async with session.get(f"{url}/app?{query}") as response:
                answer = await response.json()
            for update in answer:
                if after == 0:
                    anchor = float(update["t"]) / 1000 - (int(update["seq"]) - 1) * interval
                receiver.take(update)
                after = max(after, int(update["id"]))
            if not wait and not receiver.done:
                now = time.time()
                await asyncio.sleep(max(0.0, next_poll(now, anchor, interval) - now))


async def _server_sent_events(url: str, receiver: _Receiver) -> None:
    """One ``text/event-stream`` response; an event ends at a blank line (HTML Standard §9.2.6)."""
    import aiohttp

    headers = {"User-Agent": USER_AGENT, "Accept": "text/event-stream"}
    async with (
        aiohttp.ClientSession(headers=headers, skip_auto_headers=("Accept-Encoding",)) as session,
        session.get(f"{url}/app") as response,
    ):
        data: list[bytes] = []
        async for raw in response.content:
            line = raw.rstrip(b"\r\n")
            if line.startswith(b"data:"):
                data.append(line[5:].removeprefix(b" "))
            elif not line and data:
                receiver.take(json.loads(b"\n".join(data)))
                data = []
                if receiver.done:
                    return


async def _websocket(url: str, receiver: _Receiver) -> None:
    from .clients import ws_connect_async

    async with ws_connect_async(f"{url}/feed") as ws:
        while not receiver.done:
            receiver.take(json.loads(await ws.recv()))


async def _socketio(url: str, receiver: _Receiver) -> None:
    import socketio

    client = socketio.AsyncClient()
    client.on("update", receiver.take)  # before connecting: the first update follows the connection at once
    try:
        await client.connect(url)
        await receiver.all_in.wait()
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.disconnect(), 2)


def _python_client(transport: str, url: str, rate: float, receiver: _Receiver) -> Coroutine[Any, Any, None]:
    if transport == "polling":
        return _poll(url, rate, receiver, new_connection=False)
    if transport == "polling-new-connection":
        return _poll(url, rate, receiver, new_connection=True)
    if transport == "long-polling":
        return _poll(url, rate, receiver, new_connection=False, wait=LONG_POLL_WAIT)
    if transport == "sse":
        return _server_sent_events(url, receiver)
    if transport == "websocket":
        return _websocket(url, receiver)
    return _socketio(url, receiver)


async def _run_python(transport: str, url: str, updates: int, rate: float, budget: float) -> Reception:
    """Run one client until it has every update or ``budget`` seconds passed; what it received."""
    receiver = _Receiver(updates)
    started = time.time() * 1000
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(budget):
            await _python_client(transport, url, rate, receiver)
    return Reception(started, receiver.receipts)


# The browser's clients ------------------------------------------------------------------


def _run_browser(browser: Browser, transport: str, url: str, updates: int, rate: float, budget: float) -> Reception:
    """Open the compare page for ``transport`` and return what it received, measured in the page."""
    page = "http" + url[url.index("://") :] + "/?"
    page += urlencode({"transport": transport, "updates": updates, "rate": rate, "budget": round(budget * 1000)})
    close_each = transport == "polling-new-connection"
    if close_each:  # fetch() may not set Connection; DevTools may (see compare())
        browser.call("Network.enable")
        browser.call("Network.setExtraHTTPHeaders", headers={"Connection": "close"})
    try:
        browser.navigate(page)
        result = browser.wait_for("window.labkitResult", timeout=budget + 10, what=f"the {transport} page's result")
    finally:
        if close_each:
            browser.call("Network.setExtraHTTPHeaders", headers={})
            browser.call("Network.disable")
    if result.get("error"):
        raise LabkitError(
            say(
                f"el cliente {transport} de Chromium falló: {result['error']}",
                f"Chromium's {transport} client failed: {result['error']}",
            )
        )
    receipts = [Receipt.of(update, float(received)) for update, received in result["receipts"]]
    return Reception(float(result["started"]), receipts)


# The run --------------------------------------------------------------------------------


def _check(updates: Any, rate: Any, browser: Any, transports: Any, progress: Any) -> tuple[int, float, list[str]]:
    updates = count(1, MAX_UPDATES)("updates", updates)
    rate = hertz(MIN_RATE, MAX_RATE)("rate", rate)
    chosen = list(TRANSPORTS) if transports is None else strings(TRANSPORTS)("transports", transports)
    for name, value in (("browser", browser), ("progress", progress)):
        if not isinstance(value, bool) and not (name == "progress" and value is None):
            raise LabkitError(
                say(f"{name} debe ser True o False, no {value!r}", f"{name} must be True or False, not {value!r}")
            )
    if browser:
        from .browser import find_chromium

        if find_chromium() is None:
            raise LabkitError(
                say(
                    "browser=True necesita Chromium y aquí no hay (en Debian: apt-get install chromium)",
                    "browser=True needs Chromium and there is none here (on Debian: apt-get install chromium)",
                )
            )
    return updates, rate, [t for t in TRANSPORTS if t in chosen]


def _progress_bar(transports: Sequence[str], show: bool) -> Any:
    """A tqdm bar over the transports (a widget in a notebook), or one that shows nothing."""
    from tqdm.auto import tqdm  # type: ignore[import-untyped, unused-ignore]

    class Bar(tqdm):  # type: ignore[misc, valid-type, unused-ignore]
        # No monitor thread: tqdm starts one with the first bar and never stops it, and a lesson's
        # labkit.leftovers() would find it running. Six steps need none of its refresh tuning.
        monitor_interval = 0

    return Bar(total=len(transports), desc="labkit compare", unit="transport", leave=False, disable=not show)


def compare(
    updates: int = 20,
    rate: float = 10,
    browser: bool = False,
    transports: Sequence[str] | None = None,
    progress: bool | None = None,
) -> Comparison:
    """Carry ``updates`` feed updates at ``rate`` per second over each transport; the figures, from the wire.

    ``transports``: a few of :data:`TRANSPORTS` (all by default). ``browser=True``: the clients
    are pages in headless Chromium. ``progress``: a progress bar (``None``: when the run should
    take over :data:`PROGRESS_AFTER` seconds). Each transport runs alone, one after the other,
    against its own server and tap on 127.0.0.1, for at most ``updates / rate + 2`` seconds.

    The ``feed`` app publishes ``updates`` small updates (under 100 bytes of JSON each) at
    ``rate`` per second, starting with the first client. A client receives them by:

    - ``polling``: ``GET /app?after=N`` every 1/rate seconds, on one kept-alive HTTP/1.1
      connection (RFC 9112 §9.3). The polls run half an interval out of step with the
      publications: in step, each poll would race a publication; half an interval is what a
      poll at a random moment waits on average.
    - ``polling-new-connection``: the same with ``Connection: close``, so every request opens a
      new TCP connection and the server closes it after answering (RFC 9112 §9.6).
    - ``long-polling``: ``GET /app?after=N&wait=30``, which the server holds until there is news,
      asked again as soon as it is answered (RFC 6202 §2).
    - ``sse``: one ``text/event-stream`` response that never ends (HTML Standard §9.2).
    - ``websocket``: one WebSocket connection, one text frame per update (RFC 6455 §5.6).
    - ``socketio``: one Socket.IO session, the client's defaults (Engine.IO long polling first,
      then upgraded to WebSocket), each update an ``"update"`` event.

    Each transport gets a fresh feed server with a fresh :func:`labkit.tap` in front, and its
    client talks to the tap, so every figure comes from the bytes that crossed the wire:

    - ``connections``: TCP connections that carried the transport's bytes.
    - ``requests``: HTTP requests on the wire. For WebSocket, its handshake; for Socket.IO, its
      Engine.IO polling requests and the upgrade's handshake.
    - ``bytes_up`` / ``bytes_down``: every byte client → server / server → client: HTTP heads,
      chunk sizes, frame headers, handshakes and closing handshakes included.
    - ``payload_bytes``: the JSON of each update delivered, as the feed published it
      (``json.dumps`` of the update, byte for byte what the websocket stack sends; the HTTP
      stack's ``"id"`` is not part of it. Socket.IO writes JSON without spaces, 5 bytes less).
    - ``overhead_per_update``: (bytes up + bytes down − payload bytes) / updates delivered.
    - ``latency_ms_median``, ``latency_ms_p95``: from the update's ``t`` (publish time, ms since
      the epoch, same machine) to its receipt by the client, or from the client's first request
      if the update was published before it (it could not have arrived sooner: a browser's page
      request starts the HTTP feed a few tens of ms before the page's client asks); p95 by
      ``statistics.quantiles`` (inclusive method).
    - ``lost``: updates not received when the client stopped (once it had them all, or
      ``updates / rate + 2`` seconds after it started); ``duplicated``: receipts of an update
      received already.

    With ``browser=True`` each client is a page in headless Chromium (``fetch``, ``EventSource``,
    ``WebSocket``, socket.io-client) served by the feed server itself through the tap (same
    origin), so the headers are a real browser's and the latency is measured in the page. The
    page's own loading (its HTML, the socket.io client) crosses the tap too and is left out: a
    request is the transport's when its path is (``/app``, ``/feed``, ``/socket.io/``). Keep-alive
    is as the browser does it (Chromium may open a spare connection; one that carries none of the
    transport's bytes is not counted).
    ``fetch`` cannot ask for a new connection, so for ``polling-new-connection`` the browser is
    told through DevTools to send ``Connection: close`` (instead of ``keep-alive``); labkit's
    server then answers ``Connection: close`` and closes, as a server does with keep-alive off.
    """
    from .servers import serve
    from .wiretap import tap

    updates, rate, chosen = _check(updates, rate, browser, transports, progress)
    budget = updates / rate + MARGIN
    estimate = len(chosen) * (updates / rate + SETUP_ESTIMATE)
    rows: list[TransportFigures] = []
    recordings: dict[str, Recording] = {}
    with contextlib.ExitStack() as running:
        chromium: Browser | None = None
        run: Callable[[str, str], Reception]
        if browser:
            from .browser import Browser

            chromium = opened = running.enter_context(Browser())

            def run(transport: str, url: str) -> Reception:
                return _run_browser(opened, transport, url, updates, rate, budget)

        else:
            from .loop import LoopThread

            clients = LoopThread("labkit-compare")
            running.callback(clients.close)

            def run(transport: str, url: str) -> Reception:
                return clients.run(_run_python(transport, url, updates, rate, budget), timeout=budget + 10)

        show = estimate > PROGRESS_AFTER if progress is None else progress
        bar = running.enter_context(_progress_bar(chosen, show))
        for transport in chosen:
            bar.set_postfix_str(transport)
            stack = STACK_OF[transport]
            options: dict[str, Any] = {"updates": updates, "rate": rate}
            if chromium is not None:
                options["page"] = PAGE_FOLDER
            with (
                serve("feed", over=stack, name=f"compare-{transport}", **options) as server,
                tap(server.url, name=f"compare-{transport}-tap", max_bytes=TAP_BYTES) as wire,
            ):
                reception = run(transport, wire.url)
                wire.wait(quiet=0.1, timeout=3, closed=chromium is None)
                if chromium is not None:
                    chromium.navigate("about:blank")  # ends whatever the page still holds open
                    wire.wait(quiet=0.1, timeout=3)
            recordings[transport] = wire.recording
            counted = count_wire(wire.recording, PATH_OF[stack])
            client = "chromium" if chromium is not None else "python"
            rows.append(TransportFigures.of(transport, client, updates, counted, reception))
            bar.update(1)
    return Comparison(rows, updates, rate, recordings)
