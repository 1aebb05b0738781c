"""An app as a WebSocket connection handler, shared by the ``websocket`` and ``scratch`` stacks.

Both stacks run ordinary connection handlers written for the ``websockets`` library
(``async def handler(ws): async for message in ws: ...``): a student's own, or the
:class:`AppHandler` here, which runs one of labkit's apps (:mod:`labkit.apps`) that way.
So the apps mean the same on both stacks, and a student's handler runs on either.

Broadcasts never wait for a slow reader: each message is written without waiting, and a
member whose unsent bytes pass the stack's limit is dropped (close 1008, recorded), so a
client that stops reading cannot grow the server's memory or delay the others. Every
recipient's connection records what it was sent, like any message.
"""

from __future__ import annotations

__all__ = [
    "MAX_BUFFER",
    "MAX_BUFFER_OPTION",
    "AppHandler",
    "WebSocketLike",
    "handler_name",
    "is_connection_handler",
    "is_upgrade",
    "share_broadcasts",
    "stop_sharing",
]

import asyncio
import contextlib
import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

from ..apps import App, AppError, Send, as_text_frame
from ..errors import LabkitError
from ..i18n import Text, say
from ..options import Option, size
from ..record import Record
from .bus import RedisBus, channel_for

#: Bytes waiting to be written to one client before a broadcast drops it as too slow.
MAX_BUFFER = 2**20

#: The ``max_buffer`` option of both stacks.
MAX_BUFFER_OPTION = Option(
    size(none=False),
    Text(
        "bytes sin enviar a un cliente antes de cortarlo por lento (1 MiB)",
        "bytes unsent to one client before it is dropped as too slow (1 MiB)",
    ),
)


class WebSocketLike(Protocol):
    """The part of websockets' ``ServerConnection`` an app needs (the scratch stack has it too)."""

    labkit_id: int

    def __aiter__(self) -> AsyncIterator[str | bytes]: ...

    async def send(self, message: str | bytes) -> None: ...


def is_connection_handler(app: Any) -> bool:
    """An ``async def handler(websocket)`` function, or an object with such a ``__call__``."""
    return inspect.iscoroutinefunction(app) or (
        callable(app) and not isinstance(app, type) and inspect.iscoroutinefunction(type(app).__call__)
    )


def handler_name(app: Any) -> str | None:
    return str(getattr(app, "__name__", type(app).__name__)) if is_connection_handler(app) else None


def is_upgrade(headers: Any) -> bool:
    """Whether a request asks for WebSocket (RFC 6455 §4.1: ``Upgrade: websocket``)."""
    return "websocket" in [t.strip().lower() for v in headers.get_all("Upgrade") for t in v.split(",")]


#: ``send_soon(connection, message)``: write without waiting; False if the connection was dropped.
SendSoon = Callable[[Any, str | bytes], bool]


class AppHandler:
    """Runs ``app`` for each connection: open, every message, every tick, close."""

    def __init__(self, app: App, record: Record, send_soon: SendSoon) -> None:
        self.app = app
        self.record = record
        self.send_soon = send_soon
        self.members: dict[int, Any] = {}
        self.publisher: asyncio.Task[None] | None = None
        #: With ``redis=``: the other processes of the app, through Redis (issue 9; see bus.py).
        self.bus: RedisBus | None = None

    async def __call__(self, ws: WebSocketLike) -> None:
        conn = ws.labkit_id
        app = self.app
        self.members[conn] = ws
        ticker: asyncio.Task[None] | None = None
        try:
            await self.carry_out(conn, ws, app.open(conn))
            if app.every is not None and self.publisher is None:
                self.publisher = asyncio.create_task(self.publish(app.every))
            if app.interval is not None:
                ticker = asyncio.create_task(self.tick(conn, ws, app.interval))
            if app.echoes:  # receive() would say "back to the sender, unchanged" each time
                async for message in ws:
                    await ws.send(message)
                return
            async for message in ws:
                try:
                    actions = app.receive(conn, message)
                except AppError as exc:
                    self.record.error(conn, exc.text)
                    continue
                await self.carry_out(conn, ws, actions)
        finally:
            del self.members[conn]
            self.tell_others(conn, app.close(conn))
            if ticker is not None:
                ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticker

    async def publish(self, every: float) -> None:
        """The app's publications to every member, on a fixed schedule (no drift)."""
        loop = asyncio.get_running_loop()
        start, n = loop.time(), 0
        while (actions := self.app.publish(n)) is not None:
            self.tell_others(0, actions)  # 0 is nobody's number: every member gets it
            n += 1
            await asyncio.sleep(max(0.0, start + n * every - loop.time()))

    async def tick(self, conn: int, ws: WebSocketLike, interval: float) -> None:
        """Speak unasked every ``interval`` seconds until the connection ends."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.carry_out(conn, ws, self.app.tick(conn))
            except Exception:  # the connection closed: the handler's loop ends it and records why
                return

    async def carry_out(self, conn: int, ws: WebSocketLike, actions: list[Any]) -> None:
        """Send each message to its recipients; rooms (Enter, Leave) mean nothing on plain WebSocket.

        The sender's own messages wait for its connection (back-pressure); the others' never wait.
        """
        for action in actions:
            if type(action) is not Send:
                continue
            if action.to == (conn,) and not action.broadcast:  # a reply or a push: the common case
                message = action.message
                await ws.send(message if type(message) in (str, bytes) else as_text_frame(message))
                continue
            if conn in action.to and not action.broadcast:
                await ws.send(as_text_frame(action.message))  # the connection records it
            self.tell_others(conn, [action])
            if action.broadcast and self.bus is not None:
                self.bus.publish(action.message)  # once, for the members of the other processes

    def deliver(self, message: Any) -> None:
        """A broadcast another process of the app published (``redis=``): to every member here."""
        frame = as_text_frame(message)
        for ws in list(self.members.values()):
            self.send_soon(ws, frame)

    def tell_others(self, conn: int, actions: list[Any]) -> None:
        """The part of ``actions`` for connections other than ``conn``, written without waiting.

        Each recipient's connection records the message it sent, as for any other message.
        """
        for action in actions:
            if type(action) is not Send:
                continue
            frame = as_text_frame(action.message)
            members = self.members
            for target in action.to:
                if target != conn and target in members:
                    self.send_soon(members[target], frame)


# With ``redis=`` (issue 9): the app's broadcasts shared with its other processes -------------


async def share_broadcasts(handler: Any, url: str | None) -> None:
    """Join the app's other processes through the Redis at ``url``; nothing without one.

    Only labkit's apps have broadcasts labkit knows of: a handler of one's own publishes
    through Redis itself (``redis.asyncio``), so ``redis=`` with one is a mistake.
    """
    if url is None:
        return
    if not isinstance(handler, AppHandler):
        raise LabkitError(
            say(
                "redis= comparte las difusiones de las apps de labkit; tu manejador puede publicar en Redis "
                "él mismo (redis.asyncio: publish y subscribe)",
                "redis= shares the broadcasts of labkit's apps; your handler can publish to Redis itself "
                "(redis.asyncio: publish and subscribe)",
            )
        )
    handler.bus = RedisBus(url, channel_for(handler.app.name), handler.record, handler.deliver)
    await handler.bus.open()


async def stop_sharing(handler: Any) -> None:
    bus = getattr(handler, "bus", None)
    if isinstance(bus, RedisBus):
        await bus.close()
