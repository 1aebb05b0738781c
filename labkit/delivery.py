"""Delivery guarantees over Socket.IO: what a dropped connection loses, and the code that loses nothing.

Socket.IO delivers *at most once*: an event written into a connection that is already dead
(neither end knows yet; see :mod:`labkit.network`) is lost, and python-socketio's client
refuses to send while disconnected (it keeps no buffer; socket.io-client in a browser
does). *At least once* takes an acknowledgement, retries until it comes, and an
idempotency key per message, so that the server passes a retried message on only once.
*Catching up* takes a log: every message stored with an offset, the client sending the
last offset it saw in its ``auth`` payload when it (re)connects, and the server replaying
what it missed (the Socket.IO tutorial's "server delivery" and "client delivery" steps).

The three servers are what a student writes (:func:`plain_chat`, :func:`acked_chat`,
:func:`logged_chat`), served with ``labkit.serve(sio, over="socketio")``; they speak the
tutorial's events, so its browser page works with them too. :class:`ChatClient` is the
client side, and :func:`chat_through_outage` runs one of them through a pulled cable
and counts what arrived, what was lost, and what it cost on the wire.
"""

from __future__ import annotations

__all__ = [
    "GUARANTEES",
    "OUTAGES",
    "ChatClient",
    "InOrder",
    "Outage",
    "acked_chat",
    "chat_client",
    "chat_through_outage",
    "logged_chat",
    "open_message_log",
    "plain_chat",
]

import asyncio
import sqlite3
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import socketio

from .errors import LabkitError
from .handles import Handle, start
from .i18n import say
from .loop import LoopThread
from .network import SHORT_SOCKETIO_RECONNECTION
from .options import choice, count, seconds
from .record import CLIENT_TO_SERVER, SERVER_TO_CLIENT, Ack
from .servers import serve
from .wiretap import Tap, tap

#: The tutorial's event: ``("chat message", content)``, and from a logged server ``(content, offset)``.
EVENT = "chat message"


# The servers, as a student writes them ----------------------------------------------------


def plain_chat(ping_interval: int = 1, ping_timeout: int = 1) -> socketio.AsyncServer:
    """At most once: each message goes to everyone connected now, and never again.

    Node: ``socket.on("chat message", (msg) => io.emit("chat message", msg))``.
    """
    sio = socketio.AsyncServer(async_mode="aiohttp", ping_interval=ping_interval, ping_timeout=ping_timeout)

    async def chat(sid: str, content: str) -> None:
        await sio.emit(EVENT, content)

    sio.on(EVENT, chat)
    return sio


def acked_chat(ping_interval: int = 1, ping_timeout: int = 1) -> socketio.AsyncServer:
    """At least once: acknowledge every message, and pass each idempotency key on once.

    The sender retries until it gets the acknowledgement, so the same message may arrive
    twice (its acknowledgement was lost, not the message): the key tells. The set of keys
    grows for ever here; a real server forgets them after a while.
    """
    sio = socketio.AsyncServer(async_mode="aiohttp", ping_interval=ping_interval, ping_timeout=ping_timeout)
    seen: set[str] = set()

    async def chat(sid: str, content: str, client_offset: str) -> str:
        if client_offset in seen:
            return "duplicate"  # passed on already: acknowledge again, send nothing
        seen.add(client_offset)
        await sio.emit(EVENT, content)
        return "sent"

    sio.on(EVENT, chat)
    return sio


def open_message_log(path: str = ":memory:") -> sqlite3.Connection:
    """The message log of :func:`logged_chat`: the tutorial's table, in SQLite (a file, or in memory).

    ``id`` is the offset: 1, 2, 3, ... in the order stored. ``client_offset`` is the sender's
    idempotency key: UNIQUE, so a retry is refused. (No SQL comments: lesson 11 shows this
    code, and its prose says the same in the lesson's language.)
    """
    db = sqlite3.connect(path, check_same_thread=False)  # the server's thread writes, cells read
    db.execute(
        """CREATE TABLE IF NOT EXISTS messages (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            client_offset TEXT UNIQUE,
            content TEXT
        )"""
    )
    return db


def logged_chat(db: sqlite3.Connection, ping_interval: int = 1, ping_timeout: int = 1) -> socketio.AsyncServer:
    """At least once, and every client catches up: each message stored once with its offset.

    A message goes out with its offset; a client sends the last offset it saw as
    ``auth={"serverOffset": n}`` when it connects (again), and ``connect`` replays what it
    missed, in order. ``always_connect`` sends the connection's acceptance before
    ``connect`` runs, so the replay arrives after it, as in Node.
    """
    sio = socketio.AsyncServer(
        async_mode="aiohttp", always_connect=True, ping_interval=ping_interval, ping_timeout=ping_timeout
    )

    async def connect(sid: str, environ: dict[str, Any], auth: dict[str, Any] | None = None) -> None:
        last = (auth or {}).get("serverOffset", 0)
        missed = db.execute("SELECT id, content FROM messages WHERE id > ? ORDER BY id", (last,)).fetchall()
        for offset, content in missed:
            await sio.emit(EVENT, (content, offset), to=sid)

    sio.on("connect", connect)

    async def chat(sid: str, content: str, client_offset: str) -> str:
        try:
            with db:
                stored = db.execute(
                    "INSERT INTO messages (content, client_offset) VALUES (?, ?)", (content, client_offset)
                )
        except sqlite3.IntegrityError:  # UNIQUE client_offset: stored already
            return "duplicate"
        await sio.emit(EVENT, (content, stored.lastrowid))
        return "stored"

    sio.on(EVENT, chat)
    return sio


# The client --------------------------------------------------------------------------------


class InOrder:
    """Messages numbered by offset, handed on in order and each once, whatever order they come in.

    What a catching-up client keeps: ``offset`` is the last message it has with none
    missing before it (what it sends as ``serverOffset``). A replay after a reconnection
    can cross live messages (the server broadcasts while ``connect`` replays), so a
    message ahead of a gap waits for the gap to fill, as TCP does with sequence numbers.
    """

    def __init__(self) -> None:
        self.offset = 0
        self.waiting: dict[int, str] = {}

    def accept(self, offset: int, content: str) -> list[tuple[int, str]]:
        """The messages now ready, in order: none if this one was seen already or waits for a gap."""
        if offset <= self.offset or offset in self.waiting:
            return []
        self.waiting[offset] = content
        ready = []
        while self.offset + 1 in self.waiting:
            self.offset += 1
            ready.append((self.offset, self.waiting.pop(self.offset)))
        return ready


async def _new_http_session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession()  # made on the loop that will use it


class ChatClient(Handle):
    """A python-socketio client for cells, reconnecting by itself (with short delays).

    ``send`` is at most once; ``send_reliably`` at least once (an acknowledgement, retries,
    an idempotency key per message). With ``catch_up`` the client sends the last offset it
    has in its ``auth`` payload on every (re)connection, and hands messages on in offset
    order, each once (:class:`InOrder`). ``received`` lists ``(offset, content)`` as
    handed on (offset ``None`` from servers that send none).
    """

    def __init__(self, name: str, url: str, catch_up: bool, ack_timeout: float) -> None:
        super().__init__(name)
        self._url = url
        self.catch_up = catch_up
        self.ack_timeout = ack_timeout
        self.received: list[tuple[int | None, str]] = []
        self.arrived: list[float] = []  # when each of ``received`` was handed on (time.monotonic)
        self.in_order = InOrder()
        self.connections = 0
        self.retries = 0
        self.refused = 0
        self.acknowledged: list[str] = []
        self._prefix = uuid.uuid4().hex[:8]  # keys unique across clients, runs and restarts
        self._count = 0
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self._sent_all = threading.Event()  # set when nothing given to send_reliably awaits its ack
        self._sent_all.set()
        self._pending = 0
        self._loop = LoopThread(f"labkit-chat-client-{name}")
        self._queue: asyncio.Queue[tuple[str, str]] | None = None
        self._sender: asyncio.Task[None] | None = None
        # The client's own HTTP session, so that stop() closes it even after a connection that
        # never opened (python-socketio leaves its own session open then).
        self._http = self._loop.run(_new_http_session())
        self._sio = socketio.AsyncClient(http_session=self._http, **SHORT_SOCKETIO_RECONNECTION)
        self._sio.on("connect", self._on_connect)
        self._sio.on("disconnect", self._on_disconnect)
        self._sio.on(EVENT, self._on_message)

    @property
    def url(self) -> str:
        return self._url

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def _connect(self) -> None:
        auth = (lambda: {"serverOffset": self.offset}) if self.catch_up else None  # asked on every (re)connection
        try:
            self._loop.run(self._sio.connect(self._url, transports=["websocket"], auth=auth), timeout=15)
        except (socketio.exceptions.ConnectionError, TimeoutError) as exc:
            raise LabkitError(
                say(f"no se pudo conectar a {self._url}: {exc}", f"could not connect to {self._url}: {exc}")
            ) from None

    def _running_loop(self) -> LoopThread:
        if not self.running:
            raise LabkitError(say(f"el cliente {self.name!r} está detenido", f"the client {self.name!r} is stopped"))
        return self._loop

    async def _on_connect(self) -> None:
        with self._lock:
            self.connections += 1
        self._connected.set()

    async def _on_disconnect(self, reason: str | None = None) -> None:
        self._connected.clear()

    @property
    def offset(self) -> int:
        """The last offset received with none missing before it (0: none yet)."""
        return self.in_order.offset

    async def _on_message(self, content: str, offset: int | None = None) -> None:
        ready = self.in_order.accept(offset, content) if offset is not None and self.catch_up else [(offset, content)]
        now = time.monotonic()
        with self._lock:
            self.received.extend(ready)
            self.arrived.extend(now for _ in ready)

    def texts(self) -> list[str]:
        """What arrived, in order."""
        with self._lock:
            return [content for _, content in self.received]

    def wait_connected(self, timeout: float = 10.0) -> bool:
        return self._connected.wait(timeout)

    def send(self, content: str) -> bool:
        """At most once: hand the message to the connection and forget it.

        False if it was refused because the client is disconnected (python-socketio keeps
        no buffer); True means only that it was written, not that it arrived.
        """
        loop = self._running_loop()
        try:
            loop.run(self._sio.emit(EVENT, content), timeout=5)
            return True
        except socketio.exceptions.BadNamespaceError:
            with self._lock:
                self.refused += 1
            return False

    def send_reliably(self, *contents: str, wait: bool = True, timeout: float = 15.0) -> bool:
        """At least once: each message with a key, retried until acknowledged, one after another.

        With ``wait`` (the default) returns once every message sent so far is acknowledged,
        or False after ``timeout`` seconds; with ``wait=False`` at once (``wait_sent`` waits).
        """
        loop = self._running_loop()
        keyed = []
        for content in contents:
            self._count += 1
            keyed.append((content, f"{self._prefix}-{self._count}"))  # the idempotency key, kept by every retry
        loop.run(self._enqueue(keyed))
        return self.wait_sent(timeout) if wait else True

    def wait_sent(self, timeout: float = 15.0) -> bool:
        """Whether every message given to ``send_reliably`` was acknowledged within ``timeout`` seconds."""
        return self._sent_all.wait(timeout)

    async def _enqueue(self, keyed: list[tuple[str, str]]) -> None:
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._sender = asyncio.create_task(self._send_queued(self._queue))
        for item in keyed:
            self._queue.put_nowait(item)
            self._pending += 1
            self._sent_all.clear()

    async def _send_queued(self, queue: asyncio.Queue[tuple[str, str]]) -> None:
        """One message at a time, in order: the next waits for the previous one's acknowledgement."""
        while True:
            content, key = await queue.get()
            while True:
                if not self._sio.connected:
                    await asyncio.sleep(0.05)  # python-socketio cannot send now: wait for the reconnection
                    continue
                try:
                    await self._sio.call(EVENT, (content, key), timeout=self.ack_timeout)
                    break
                except (socketio.exceptions.TimeoutError, socketio.exceptions.BadNamespaceError):
                    with self._lock:
                        self.retries += 1
            with self._lock:
                self.acknowledged.append(content)
            self._pending -= 1
            if not self._pending:
                self._sent_all.set()

    def _shut_down(self) -> None:
        async def finish() -> None:
            if self._sender is not None:
                self._sender.cancel()
                await asyncio.gather(self._sender, return_exceptions=True)
            await self._sio.shutdown()
            await self._http.close()

        try:
            self._loop.run(finish(), timeout=5)
        except TimeoutError:
            pass
        finally:
            self._loop.close()

    def __repr__(self) -> str:
        return say(
            f"<ChatClient {self.name!r} en {self.url}: {len(self.received)} recibidos ({self.state_text()})>",
            f"<ChatClient {self.name!r} at {self.url}: {len(self.received)} received ({self.state_text()})>",
        )


def chat_client(url: str, name: str = "chat-client", catch_up: bool = False, ack_timeout: float = 0.5) -> ChatClient:
    """Connect a :class:`ChatClient` to a chat at ``url`` (one of this module's servers).

    It runs until ``.stop()`` or ``labkit.stop_all()``; a client started under the name of
    a running one replaces it. ``ack_timeout`` is how long ``send_reliably`` waits for an
    acknowledgement before it sends the message again.
    """
    if not isinstance(catch_up, bool):
        raise LabkitError(
            say(f"catch_up debe ser True o False, no {catch_up!r}", f"catch_up must be True or False, not {catch_up!r}")
        )
    ack_timeout = seconds(0.05)("ack_timeout", ack_timeout)

    def launch() -> ChatClient:
        client = ChatClient(name, url, catch_up, ack_timeout)
        try:
            client._connect()
        except BaseException:
            client.stop()
            raise
        return client

    return start(name, launch)


# A pulled cable, measured -------------------------------------------------------------------

#: What :func:`chat_through_outage` compares: the sender's way of sending, the receiver's of catching up.
GUARANTEES = ("at-most-once", "at-least-once", "catch-up")
#: Whose cable is pulled: the sender's (both ways), only its acknowledgements (server → sender), the receiver's.
OUTAGES = ("sender", "acks", "receiver")


@dataclass(frozen=True)
class Outage:
    """What a chat delivered across a pulled cable, and what it cost.

    ``sent`` are the messages in the order the sender gave them; ``delivered`` what the
    receiver got, in arrival order, with offsets where the server gives them. ``lost``
    never arrived; ``duplicated`` arrived more than once. ``retries`` counts the sender's
    second and later tries; ``duplicates_dropped`` the acknowledgements the server
    answered "duplicate" (read from its record). ``wire`` counts bytes and Socket.IO
    packets (events and acknowledgements) through the taps, including what a restored
    cable carried to a connection already given up: ``sender→server``, ``server→sender``,
    ``server→receiver``. ``after_took`` is how long the ``after`` messages took to
    arrive, all of them (at least once waits for each acknowledgement before the next
    message); ``took`` the whole run.
    """

    guarantee: str
    outage: str
    sent: tuple[str, ...]
    delivered: tuple[tuple[int | None, str], ...]
    retries: int
    refused: int
    duplicates_dropped: int
    wire: dict[str, tuple[int, int]] = field(compare=False)
    after: int
    after_took: float = field(compare=False)
    took: float = field(compare=False)

    @property
    def lost(self) -> tuple[str, ...]:
        arrived = {content for _, content in self.delivered}
        return tuple(content for content in self.sent if content not in arrived)

    @property
    def duplicated(self) -> tuple[str, ...]:
        counts = Counter(content for _, content in self.delivered)
        return tuple(content for content, n in counts.items() if n > 1)

    @property
    def in_order(self) -> bool:
        """Whether what arrived came in the order it was sent (offsets, where given, increasing)."""
        order = {content: i for i, content in enumerate(self.sent)}
        positions = [order[content] for _, content in self.delivered if content in order]
        offsets = [offset for offset, _ in self.delivered if offset is not None]
        return positions == sorted(positions) and offsets == sorted(offsets)

    def __repr__(self) -> str:
        who = {
            "sender": ("el cable del emisor", "the sender's cable"),
            "acks": ("el camino de las confirmaciones al emisor", "the way back to the sender (its acks)"),
            "receiver": ("el cable del receptor", "the receiver's cable"),
        }[self.outage]
        order = say("en orden", "in order") if self.in_order else say("DESORDENADOS", "OUT OF ORDER")
        lines = [
            say(
                f"{self.guarantee}, cortado {who[0]}: {len(self.sent)} enviados, {len(self.delivered)} recibidos, "
                f"{len(self.lost)} perdidos, {len(self.duplicated)} duplicados, {order}",
                f"{self.guarantee}, {who[1]} cut: {len(self.sent)} sent, {len(self.delivered)} delivered, "
                f"{len(self.lost)} lost, {len(self.duplicated)} duplicated, {order}",
            ),
            say(f"  perdidos: {', '.join(self.lost) or '-'}", f"  lost: {', '.join(self.lost) or '-'}"),
            say(
                f"  emisor: {self.retries} reintentos, {self.refused} rechazados sin conexión; "
                f"el servidor descartó {self.duplicates_dropped} duplicados",
                f"  sender: {self.retries} retries, {self.refused} refused while disconnected; "
                f"the server dropped {self.duplicates_dropped} duplicates",
            ),
        ]
        lines.append(
            say(
                f"  los {self.after} mensajes de después llegaron todos en {self.after_took * 1000:.1f} ms",
                f"  the {self.after} messages after it all arrived within {self.after_took * 1000:.1f} ms",
            )
        )
        spanish = {"sender→server": "emisor→servidor", "server→sender": "servidor→emisor"}
        spanish["server→receiver"] = "servidor→receptor"
        for way, (size, packets) in self.wire.items():
            lines.append(
                say(
                    f"  en el cable {spanish.get(way, way)}: {size} bytes, {packets} paquetes Socket.IO",
                    f"  on the wire {way}: {size} bytes, {packets} Socket.IO packets",
                )
            )
        return "\n".join(lines)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


def _wait(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True


def _wire(cable: Tap, direction: str) -> tuple[int, int]:
    """Bytes, and Socket.IO events and acknowledgements, that went ``direction`` through ``cable``."""
    size = sum(info.to_client if direction == SERVER_TO_CLIENT else info.to_server for info in cable.connections())
    packets = sum(1 for p in cable.packets() if p.direction == direction and p.socketio in ("event", "ack"))
    return size, packets


def _step(done: bool, es: str, en: str) -> None:
    if not done:
        raise LabkitError(say(es, en))


def chat_through_outage(
    guarantee: str = "at-most-once", outage: str = "sender", before: int = 2, during: int = 4, after: int = 2
) -> Outage:
    """Chat through a pulled cable and count what arrived.

    A sender and a receiver join a chat, each through its own tap. ``before`` messages go
    through; then the cable of ``outage`` is cut (``"sender"``, ``"acks"``: only the way
    from the server back to the sender, or ``"receiver"``). Half of the ``during``
    messages are sent at once, while the connection still looks alive; the rest once both
    ends have noticed (heartbeats every 1 s, 1 s to answer: about 2 s). Then the cable
    comes back, the client reconnects, and ``after`` messages follow. ``guarantee`` picks
    the server and the clients:

    - ``"at-most-once"``: :func:`plain_chat`, ``send``;
    - ``"at-least-once"``: :func:`acked_chat`, ``send_reliably``;
    - ``"catch-up"``: :func:`logged_chat`, ``send_reliably``, and the receiver catches up.

    Everything is stopped before it returns, within a few seconds.
    """
    guarantee = choice(*GUARANTEES)("guarantee", guarantee)
    outage = choice(*OUTAGES)("outage", outage)
    before, during, after = (count(0, 20)(n, v) for n, v in (("before", before), ("during", during), ("after", after)))
    began = time.monotonic()
    log: sqlite3.Connection | None = None
    if guarantee == "at-most-once":
        sio = plain_chat()
    elif guarantee == "at-least-once":
        sio = acked_chat()
    else:
        log = open_message_log()
        sio = logged_chat(log)
    try:
        server = serve(sio, over="socketio", name="outage-chat")
    except BaseException:
        if log is not None:
            log.close()
        raise
    cables = {who: tap(server.url, name=f"outage-{who}-tap") for who in ("sender", "receiver")}
    clients: list[ChatClient] = []
    sent: list[str] = []
    try:
        sender = chat_client(cables["sender"].url, name="outage-sender")
        clients.append(sender)
        receiver = chat_client(cables["receiver"].url, name="outage-receiver", catch_up=guarantee == "catch-up")
        clients.append(receiver)
        cut, cable = (receiver, cables["receiver"]) if outage == "receiver" else (sender, cables["sender"])

        def send(label: tuple[str, str], numbers: range, wait: bool) -> list[str]:
            contents = [f"{say(*label)} {n}" for n in numbers]
            sent.extend(contents)
            if guarantee == "at-most-once":
                for content in contents:
                    sender.send(content)
            elif contents:
                sender.send_reliably(*contents, wait=wait)
            return contents

        send(("antes", "before"), range(1, before + 1), wait=True)
        _wait(lambda: len(receiver.received) >= before, 5)
        cable.cut(SERVER_TO_CLIENT if outage == "acks" else None)
        half = (during + 1) // 2
        send(("durante", "during"), range(1, half + 1), wait=False)
        _step(
            _wait(lambda: not cut.connected and server.record.count("close") >= 1, 10),
            "nadie notó el corte en 10 s",
            "nobody noticed the cut within 10 s",
        )
        send(("durante", "during"), range(half + 1, during + 1), wait=False)
        if outage == "receiver":  # the server has them all before the receiver can come back
            _step(
                _wait(lambda: server.record.count("recv") >= len(sent), 5),
                "el servidor no recibió los mensajes en 5 s",
                "the server did not receive the messages within 5 s",
            )
        cable.restore()
        _step(
            _wait(lambda: cut.connected and cut.connections >= 2, 10),
            "el cliente no volvió a conectarse en 10 s",
            "the client did not reconnect within 10 s",
        )
        burst = time.monotonic()
        later = send(("después", "after"), range(1, after + 1), wait=False)
        _step(
            guarantee == "at-most-once" or sender.wait_sent(15),
            "el emisor no recibió todas las confirmaciones en 15 s",
            "the sender did not get every acknowledgement within 15 s",
        )
        _wait(lambda: set(later) <= set(receiver.texts()), 5)
        arrivals = [
            at for (_, content), at in zip(receiver.received, receiver.arrived, strict=True) if content in later
        ]
        burst_took = max(arrivals, default=burst) - burst
        time.sleep(0.2)  # a late duplicate would show now
        delivered, retries, refused = tuple(receiver.received), sender.retries, sender.refused
        dropped = sum(
            1 for e in server.record.entries("send") if isinstance(e.data, Ack) and e.data.args == ("duplicate",)
        )
    finally:
        for client in clients:
            client.stop()
        for each in cables.values():
            each.stop()
        server.stop()
        if log is not None:
            log.close()
    wire = {
        "sender→server": _wire(cables["sender"], CLIENT_TO_SERVER),
        "server→sender": _wire(cables["sender"], SERVER_TO_CLIENT),
        "server→receiver": _wire(cables["receiver"], SERVER_TO_CLIENT),
    }
    return Outage(
        guarantee,
        outage,
        tuple(sent),
        delivered,
        retries,
        refused,
        dropped,
        wire,
        after,
        burst_took,
        time.monotonic() - began,
    )
