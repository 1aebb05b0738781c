"""What survives a broken network: heartbeats that find a dead peer, and reconnection after a restart.

A pulled cable closes nothing. TCP keeps the unsent bytes and retries, both ends keep their
connections open, and neither hears of it: only a heartbeat, a ping that must be answered
in time, tells that the peer is gone (RFC 6455 §5.5.2 Ping and §5.5.3 Pong; Engine.IO's
``2`` ping and ``3`` pong packets). :func:`detect_dead_peer` pulls the cable with a tap
(:meth:`labkit.wiretap.Tap.cut`) and measures how long each end takes to notice.

Once noticed, a client reconnects by itself, waiting longer after each failed attempt
(exponential backoff) by a random amount (jitter, so that a thousand clients dropped at
once do not all come back in the same instant; RFC 6455 §7.2.3).
:func:`reconnect_after_restart` stops a server, starts it again on the same port, and
reads from the client library's own log the delays it chose.

The libraries' defaults are slow on purpose, and these helpers never wait for them:
websockets pings every 20 s and waits 20 s for the pong (then up to 10 s for the closing
handshake); python-engineio pings every 25 s and waits 20 s.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_HEARTBEATS",
    "SHORT_SOCKETIO_RECONNECTION",
    "SHORT_WEBSOCKETS_BACKOFF",
    "DeadPeer",
    "Reconnection",
    "detect_dead_peer",
    "reconnect_after_restart",
]

import asyncio
import functools
import inspect
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import connect as websockets_connect
from websockets.client import backoff
from websockets.exceptions import ConnectionClosed

from .clients import USER_AGENT, ws_connect_async
from .errors import LabkitError
from .i18n import say
from .loop import LoopThread
from .options import seconds, whole_seconds
from .record import CloseStatus, Entry
from .servers import Server, serve
from .wiretap import Tap, tap

#: The libraries' heartbeats: (seconds between pings, seconds to wait for the pong, seconds for the close).
DEFAULT_HEARTBEATS: dict[str, tuple[float, float, float | None]] = {
    "websocket": (20.0, 20.0, 10.0),  # websockets: ping_interval, ping_timeout, close_timeout
    "socketio": (25.0, 20.0, None),  # python-engineio: ping_interval, ping_timeout
}

#: websockets' own backoff (``websockets.client.backoff``) with short delays, for lessons and tests:
#: a random first wait up to ``initial_delay``, then ``min_delay`` × ``factor``ⁿ, at most ``max_delay``.
#: Its defaults are 5 s, 3.1 s, ×1.618 and 90 s (set by WEBSOCKETS_BACKOFF_* environment variables,
#: read when websockets is imported).
SHORT_WEBSOCKETS_BACKOFF: dict[str, float] = {"initial_delay": 0.2, "min_delay": 0.2, "factor": 2.0, "max_delay": 2.0}

#: python-socketio's client reconnection with short delays: ``reconnection_delay`` × 2ⁿ, at most
#: ``reconnection_delay_max``, plus or minus ``randomization_factor`` *seconds* of jitter.
#: Its defaults are 1 s, 5 s and 0.5 s.
SHORT_SOCKETIO_RECONNECTION: dict[str, float] = {
    "reconnection_delay": 0.2,
    "reconnection_delay_max": 2.0,
    "randomization_factor": 0.05,
}

#: websockets 17 takes ``reconnect_delays=``; older ones always use their default backoff.
_TAKES_RECONNECT_DELAYS = "reconnect_delays" in inspect.signature(websockets_connect).parameters

_STACKS = ("websocket", "socketio")


def _check_stack(over: Any) -> str:
    if over not in _STACKS:
        raise LabkitError(
            say(
                f"over debe ser 'websocket' o 'socketio', no {over!r}",
                f"over must be 'websocket' or 'socketio', not {over!r}",
            )
        )
    return str(over)


def _at_most(limit: float, check: Callable[[str, Any], Any]) -> Callable[[str, Any], Any]:
    """``check``, then a cap: a cell waits for these, so they stay short."""

    def bounded(name: str, value: Any) -> Any:
        value = check(name, value)
        if value is not None and value > limit:
            raise LabkitError(
                say(
                    f"{name} debe ser como mucho {limit:g} s (la celda espera ese tiempo), no {value!r}",
                    f"{name} must be at most {limit:g} s (the cell waits that long), not {value!r}",
                )
            )
        return value

    return bounded


# Heartbeats -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeadPeer:
    """How long each end of a connection took to notice that the cable was pulled.

    ``server_after`` and ``client_after`` are seconds from the cut until the server closed
    the connection (read from its record) and until the client's connection failed (its
    ``recv`` raised, or Socket.IO's ``disconnect`` ran); ``None`` if it had not noticed when
    watching stopped, after ``watched`` seconds. ``server_saw`` is the record's entry for
    that close; ``client_saw`` the close status or reason the client got. ``tap`` is the
    (stopped) tap that pulled the cable: ``tap.timeline()`` shows the pings that never
    went through.
    """

    over: str
    ping_interval: float
    ping_timeout: float
    close_timeout: float | None
    client_heartbeats: bool
    server_after: float | None
    server_saw: Entry | None
    client_after: float | None
    client_saw: CloseStatus | str | None
    watched: float
    tap: Tap | None = field(default=None, repr=False, compare=False)

    @property
    def bound(self) -> float:
        """The longest detection can take: a ping at most ``ping_interval`` after the cut, then
        ``ping_timeout`` for its pong (and, on websocket, ``close_timeout`` for the closing handshake)."""
        return self.ping_interval + self.ping_timeout + (self.close_timeout or 0.0)

    def _client_words(self) -> str:
        if self.client_after is None:
            why = "" if self.client_heartbeats else say(" (no envía pings)", " (it sends no pings)")
            return say(
                f"el cliente no lo notó en {self.watched:.1f} s{why}",
                f"the client had not noticed after {self.watched:.1f} s{why}",
            )
        saw = self.client_saw
        if isinstance(saw, CloseStatus):  # websockets: the Close frame it sent when its pong never came
            saw = say(f"envió {saw}", f"sent {saw}")
        return say(
            f"el cliente lo notó a los {self.client_after:.1f} s: {saw}",
            f"the client noticed after {self.client_after:.1f} s: {saw}",
        )

    def __repr__(self) -> str:
        interval, timeout, close = (f"{v:g}" for v in (self.ping_interval, self.ping_timeout, self.close_timeout or 0))
        default_interval, default_timeout, default_close = DEFAULT_HEARTBEATS[self.over]
        if self.over == "websocket":
            settings = say(
                f"ping cada {interval} s, pong en {timeout} s, cierre en {close} s",
                f"ping every {interval} s, pong within {timeout} s, close within {close} s",
            )
            sum_text = f"{interval} + {timeout} + {close}"
            defaults = f"{default_interval:g} + {default_timeout:g} + {default_close or 0:g}"
            library = "websockets"
        else:
            settings = say(
                f"ping cada {interval} s, pong en {timeout} s", f"ping every {interval} s, pong within {timeout} s"
            )
            sum_text = f"{interval} + {timeout}"
            defaults = f"{default_interval:g} + {default_timeout:g}"
            library = "python-engineio"
        if self.server_after is None:
            server = say(
                f"el servidor no lo notó en {self.watched:.1f} s",
                f"the server had not noticed after {self.watched:.1f} s",
            )
        else:
            saw = self.server_saw.detail if self.server_saw is not None else ""
            server = say(
                f"el servidor lo notó a los {self.server_after:.1f} s: {saw}",
                f"the server noticed after {self.server_after:.1f} s: {saw}",
            )
        return "\n".join(
            [
                say(
                    f"cable cortado sin cerrar nada, sobre {self.over} ({settings})",
                    f"cable cut without closing anything, over {self.over} ({settings})",
                ),
                f"  {server}",
                f"  {self._client_words()}",
                say(
                    f"  como mucho {sum_text} = {self.bound:g} s; con los valores por defecto de {library}, "
                    f"{defaults} = {sum(v or 0 for v in DEFAULT_HEARTBEATS[self.over]):g} s",
                    f"  at most {sum_text} = {self.bound:g} s; with the defaults of {library}, "
                    f"{defaults} = {sum(v or 0 for v in DEFAULT_HEARTBEATS[self.over]):g} s",
                ),
            ]
        )

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


class _Stopwatch:
    """Times from one start, noted from any thread."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.start


def detect_dead_peer(
    over: str = "websocket",
    ping_interval: float = 1,
    ping_timeout: float = 1,
    close_timeout: float | None = None,
    client_heartbeats: bool = True,
) -> DeadPeer:
    """Pull the cable between a client and a server and measure how long each takes to notice.

    Starts labkit's echo server over ``over`` (``"websocket"`` or ``"socketio"``) with these
    heartbeats, a client through a tap, checks that an echo works, then cuts the tap
    without closing anything (a pulled cable) and watches both ends. On ``websocket``
    ``close_timeout`` (1 s unless given) is how long each end then waits for the closing
    handshake before it drops the connection, and ``client_heartbeats=False`` gives the
    client no pings of its own. Engine.IO clients always check the server's pings.

    Everything is stopped before it returns; it waits at most about twice the longest
    detection. The libraries' defaults (20 + 20 + 10 s; 25 + 20 s) would take close to a
    minute, so they are explained, never waited for.
    """
    over = _check_stack(over)
    if over == "websocket":
        ping_interval = _at_most(30, seconds(0.1))("ping_interval", ping_interval)
        ping_timeout = _at_most(30, seconds(0.1))("ping_timeout", ping_timeout)
        close_timeout = _at_most(10, seconds(0.1))("close_timeout", 1.0 if close_timeout is None else close_timeout)
    else:
        ping_interval = _at_most(30, whole_seconds)("ping_interval", ping_interval)
        ping_timeout = _at_most(30, whole_seconds)("ping_timeout", ping_timeout)
        if close_timeout is not None:
            raise LabkitError(
                say(
                    "close_timeout es de websockets; Engine.IO cierra sin esperar",
                    "close_timeout is websockets'; Engine.IO closes without waiting",
                )
            )
    if not isinstance(client_heartbeats, bool):
        raise LabkitError(
            say(
                f"client_heartbeats debe ser True o False, no {client_heartbeats!r}",
                f"client_heartbeats must be True or False, not {client_heartbeats!r}",
            )
        )
    if over == "socketio" and not client_heartbeats:
        raise LabkitError(
            say(
                "un cliente de Socket.IO siempre vigila los pings del servidor: client_heartbeats=False "
                "solo vale sobre websocket",
                "a Socket.IO client always watches the server's pings: client_heartbeats=False "
                "works over websocket only",
            )
        )
    options: dict[str, Any] = {"ping_interval": ping_interval, "ping_timeout": ping_timeout}
    if close_timeout is not None:
        options["close_timeout"] = close_timeout
    bound = ping_interval + ping_timeout + (close_timeout or 0.0)
    limit = 1.5 * bound + 1.0
    with (
        serve("echo", over=over, name="dead-peer", **options) as server,
        tap(server.url, name="dead-peer-tap") as cable,
    ):
        loop = LoopThread("labkit-dead-peer")
        try:
            if over == "websocket":
                watch = _watch_websocket(cable, server, options, client_heartbeats, limit)
            else:
                watch = _watch_socketio(cable, server, limit)
            (server_after, server_saw), (client_after, client_saw), watched = loop.run(watch, timeout=limit + 15)
        finally:
            loop.close()
    return DeadPeer(
        over,
        float(ping_interval),
        float(ping_timeout),
        close_timeout,
        client_heartbeats,
        server_after,
        server_saw,
        client_after,
        client_saw,
        watched,
        cable,
    )


async def _server_noticed(server: Server, clock: _Stopwatch, limit: float) -> tuple[float | None, Entry | None]:
    """Poll the server's record until it shows the connection closed."""
    while clock.elapsed() < limit:
        closes = server.record.entries("close")
        if closes:
            return clock.elapsed(), closes[0]
        await asyncio.sleep(0.01)
    return None, None


async def _watch(
    cable: Tap,
    server: Server,
    client_noticed: Callable[[_Stopwatch], Any],
    limit: float,
) -> tuple[tuple[float | None, Entry | None], tuple[float | None, Any], float]:
    """Cut the cable, then watch both ends until both noticed or ``limit`` seconds passed."""
    cable.cut()
    clock = _Stopwatch()
    client = asyncio.ensure_future(asyncio.wait_for(client_noticed(clock), limit))
    server_result = await _server_noticed(server, clock, limit)
    try:
        client_result = await client
    except TimeoutError:
        client_result = (None, None)
    watched = clock.elapsed()
    cable.restore()  # what waited goes through, so that the ends can finish closing
    return server_result, client_result, watched


async def _watch_websocket(
    cable: Tap, server: Server, options: dict[str, Any], client_heartbeats: bool, limit: float
) -> tuple[tuple[float | None, Entry | None], tuple[float | None, Any], float]:
    heartbeats = dict(options) if client_heartbeats else {**options, "ping_interval": None}
    async with ws_connect_async(cable.url, **heartbeats) as ws:
        await ws.send("hola")
        await ws.recv()

        async def noticed(clock: _Stopwatch) -> tuple[float, CloseStatus | None]:
            try:
                await ws.recv()
            except ConnectionClosed as closed:
                sent = closed.sent
                return clock.elapsed(), CloseStatus(int(sent.code), sent.reason) if sent is not None else None
            raise AssertionError("a message came through a cut cable")  # pragma: no cover

        return await _watch(cable, server, noticed, limit)


async def _watch_socketio(
    cable: Tap, server: Server, limit: float
) -> tuple[tuple[float | None, Entry | None], tuple[float | None, Any], float]:
    import socketio

    client = socketio.AsyncClient(reconnection=False)
    gone: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def disconnect(reason: str | None = None) -> None:
        if not gone.done():
            gone.set_result(reason or "")

    client.on("disconnect", disconnect)
    await client.connect(cable.url, transports=["websocket"])
    try:
        await client.call("echo", "hola", timeout=5)

        async def noticed(clock: _Stopwatch) -> tuple[float, str]:
            reason = await gone
            return clock.elapsed(), reason

        return await _watch(cable, server, noticed, limit)
    finally:
        await client.disconnect()


# Reconnection -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Reconnection:
    """What a client did when its server went away and came back on the same port.

    Times are seconds since the client noticed the drop. ``delays`` are the waits the
    client library chose between attempts, read from its own log (websockets: "connect
    failed; reconnecting in …"; python-socketio: "Connection failed, new attempt in …").
    ``reconnected_after`` is ``None`` if it was not connected again ``watched`` seconds
    after the drop (a Socket.IO client the server said goodbye to does not try).
    """

    over: str
    crash: bool
    down: float
    dropped: CloseStatus | str | None
    delays: tuple[float, ...]
    restarted_after: float
    reconnected_after: float | None
    watched: float

    def __repr__(self) -> str:
        how = say("cayó sin despedirse", "crashed without a goodbye") if self.crash else say("se detuvo", "stopped")
        delays = ", ".join(f"{d:.2f}" for d in self.delays) or "-"
        if self.reconnected_after is None:
            back = say(
                f"  no volvió a conectarse en {self.watched:.1f} s", f"  not connected again after {self.watched:.1f} s"
            )
        else:
            back = say(
                f"  conectado de nuevo a los {self.reconnected_after:.1f} s "
                f"({self.reconnected_after - self.restarted_after:.1f} s después de volver el servidor)",
                f"  connected again after {self.reconnected_after:.1f} s "
                f"({self.reconnected_after - self.restarted_after:.1f} s after the server came back)",
            )
        return "\n".join(
            [
                say(
                    f"el servidor {self.over} {how} y volvió en el mismo puerto {self.restarted_after:.1f} s después",
                    f"the {self.over} server {how} and came back on the same port {self.restarted_after:.1f} s later",
                ),
                say(f"  el cliente vio: {self.dropped}", f"  the client saw: {self.dropped}"),
                say(
                    f"  esperas entre intentos (s): {delays}",
                    f"  waits between attempts (s): {delays}",
                ),
                back,
            ]
        )

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


class _Delays(logging.Handler):
    """Collects the delays a client library logs before each new attempt."""

    def __init__(self, prefix: str) -> None:
        super().__init__(logging.INFO)
        self.prefix = prefix
        self.delays: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith(self.prefix):
            # websockets passes the delay as an argument; python-socketio formats it into the text.
            value = record.args[0] if isinstance(record.args, tuple) and record.args else message.split()[-2]
            self.delays.append(float(str(value)))

    def logger(self) -> logging.Logger:
        logger = logging.Logger(f"labkit.reconnect.{id(self)}", logging.INFO)  # never printed: not in the tree
        logger.addHandler(self)
        logger.propagate = False
        return logger


class _Client:
    """A reconnecting client on a private loop: when it connected and dropped, and what it saw."""

    def __init__(self) -> None:
        self.connected = threading.Event()
        self.dropped = threading.Event()
        self.dropped_at: float | None = None
        self.connected_at: list[float] = []
        self.saw: CloseStatus | str | None = None
        self.loop = LoopThread("labkit-reconnecting-client")
        self.task: asyncio.Task[Any] | None = None
        self.finish: Callable[[], Coroutine[Any, Any, Any]] | None = None

    def note_connected(self) -> None:
        self.connected_at.append(time.monotonic())
        self.connected.set()

    def note_dropped(self, saw: CloseStatus | str | None) -> None:
        if not self.dropped.is_set():
            self.saw = saw
            self.dropped_at = time.monotonic()
            self.dropped.set()

    def run(self, main: Coroutine[Any, Any, Any]) -> None:
        """Run ``main`` on the client's loop until :meth:`stop`."""

        async def launch() -> None:
            self.task = asyncio.create_task(main)

        self.loop.run(launch())

    def stop(self) -> None:
        async def end() -> None:
            if self.finish is not None:
                await self.finish()
            if self.task is not None:
                self.task.cancel()
                await asyncio.gather(self.task, return_exceptions=True)

        try:
            self.loop.run(end(), timeout=5)
        finally:
            self.loop.close()


async def _websockets_client(url: str, client: _Client, delays: _Delays) -> None:
    """websockets' reconnecting iterator, as a student would write it."""
    options: dict[str, Any] = {"compression": None, "user_agent_header": USER_AGENT, "logger": delays.logger()}
    if _TAKES_RECONNECT_DELAYS:
        options["reconnect_delays"] = functools.partial(backoff, **SHORT_WEBSOCKETS_BACKOFF)
    async for ws in websockets_connect(url, **options):  # each iteration: a new connection
        client.note_connected()
        try:
            async for _ in ws:  # until the connection closes, whoever closes it
                pass
        except ConnectionClosed:  # closed without a proper close frame (1006): reconnect all the same
            pass
        client.note_dropped(CloseStatus(ws.close_code or 1006, ws.close_reason or ""))


async def _socketio_client(url: str, client: _Client, delays: _Delays) -> None:
    """python-socketio's client, which reconnects by itself unless the server said goodbye."""
    import socketio

    sio = socketio.AsyncClient(logger=delays.logger(), **SHORT_SOCKETIO_RECONNECTION)

    async def connect() -> None:
        client.note_connected()

    async def disconnect(reason: str | None = None) -> None:
        client.note_dropped(reason)

    sio.on("connect", connect)
    sio.on("disconnect", disconnect)
    client.finish = sio.shutdown
    await sio.connect(url, transports=["websocket"])


def reconnect_after_restart(over: str = "websocket", down: float = 1.0, crash: bool = False) -> Reconnection:
    """Stop a server its client is connected to, start it again on the same port ``down`` seconds
    later, and watch the client reconnect (or not).

    The client is the library's own reconnecting client, with short delays (see
    :data:`SHORT_WEBSOCKETS_BACKOFF` and :data:`SHORT_SOCKETIO_RECONNECTION`): websockets'
    ``async for ws in connect(url)`` or a python-socketio ``AsyncClient``. A stopped server
    says goodbye (close 1001; Socket.IO's disconnect packet ``41``); with ``crash=True`` it
    is gone without a word instead: its client goes through a tap, whose connections are
    reset as the server stops. Everything is stopped before it returns.
    """
    over = _check_stack(over)
    down = _at_most(10, seconds(0.1))("down", down)
    if not isinstance(crash, bool):
        raise LabkitError(
            say(f"crash debe ser True o False, no {crash!r}", f"crash must be True or False, not {crash!r}")
        )
    server = serve("echo", over=over, name="restart")
    port = server.port
    cable = tap(server.url, name="restart-tap") if crash else None
    url = cable.url if cable is not None else server.url
    client = _Client()
    try:
        if over == "websocket":
            delays = _Delays("connect failed; reconnecting in")
            client.run(_websockets_client(url, client, delays))
        else:
            delays = _Delays("Connection failed, new attempt in")
            client.run(_socketio_client(url, client, delays))
        if not client.connected.wait(10):
            raise LabkitError(say("el cliente no llegó a conectarse", "the client never connected"))
        client.connected.clear()
        if cable is not None:  # a crash: the connection breaks (RST), no goodbye, then the port is closed
            cable.cut()  # (the client's first new attempt waits at the cut, until the server is gone)
            cable.reset_connections()
            server.stop()
            cable.restore()
        else:
            server.stop()
        if not client.dropped.wait(5):
            raise LabkitError(say("el cliente no notó la caída", "the client never noticed the drop"))
        assert client.dropped_at is not None
        time.sleep(max(0.0, down - (time.monotonic() - client.dropped_at)))
        server = serve("echo", over=over, name="restart", port=port)
        restarted_after = time.monotonic() - client.dropped_at
        # The next attempt comes at most the longest delay after the server is back (websockets
        # before 17 cannot be given short delays: its own are 0-5 s, 3.1 s, 5 s, 8.1 s, …).
        short = over == "socketio" or _TAKES_RECONNECT_DELAYS
        client.connected.wait(SHORT_WEBSOCKETS_BACKOFF["max_delay"] + 1 if short else 12.0)
        watched = time.monotonic() - client.dropped_at
        back = [t - client.dropped_at for t in client.connected_at[1:]]
        reconnected_after = back[0] if back else None
    finally:
        client.stop()
        server.stop()
        if cable is not None:
            cable.stop()
    return Reconnection(
        over, crash, float(down), client.saw, tuple(delays.delays), restarted_after, reconnected_after, watched
    )
