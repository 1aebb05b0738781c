"""The ``socketio`` stack: python-socketio served by aiohttp.

Socket.IO is its own protocol on top of Engine.IO, which carries it over WebSocket or HTTP
long polling; a plain WebSocket client cannot use these apps (lesson 04 shows why). An
app's messages travel as Socket.IO events named after it (``"echo"``, ``"clock"``,
``"chat"``); the chat also answers ``"join"`` and ``"leave"`` with a room name, which the
server carries out with ``enter_room`` and ``leave_room`` (in Node: ``socket.join``).
The record numbers Socket.IO *sessions*, not TCP connections: one session may use several.
"""

from __future__ import annotations

__all__ = ["SocketIOBackend"]

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any, ClassVar

import socketio
from aiohttp import web

from ..apps import Action, App, AppError, Enter, Leave, Send
from ..errors import LabkitError
from ..i18n import Text, say
from ..loop import stop_accepting
from ..options import Option, origins, size, strings, whole_seconds
from ..pages import page_headers_option, page_option
from ..patches import Undo, cap_polling_batches, close_polling_sessions_promptly, drop_slow_readers, record_socketio
from . import SECURITY_OPTIONS, STOP_TIMEOUT, AsyncBackend
from .bus import REDIS_OPTIONS, check_redis, client_options
from .http import aiohttp_listeners

#: Packets queued for one session before it is disconnected as too slow.
MAX_QUEUE = 1000

#: Options passed on to ``socketio.AsyncServer``, with what they mean.
SERVER_OPTIONS: dict[str, Option] = {
    "cors_allowed_origins": Option(
        origins, Text("orígenes admitidos (el mismo origen)", "allowed origins (same origin only)")
    ),
    "ping_interval": Option(whole_seconds, Text("segundos entre pings (25)", "seconds between pings (25)")),
    "ping_timeout": Option(whole_seconds, Text("segundos para el pong (20)", "seconds to wait for a pong (20)")),
    "transports": Option(
        strings(("polling", "websocket")), Text("transportes admitidos (los dos)", "transports allowed (both)")
    ),
    "max_http_buffer_size": Option(
        size(none=False), Text("bytes por mensaje (1 000 000)", "bytes per message (1,000,000)")
    ),
}


class AppEvents:
    """Runs a labkit app on a Socket.IO server: its actions become emits, acks and rooms."""

    def __init__(self, backend: SocketIOBackend) -> None:
        self.backend = backend
        self.sio = backend.sio
        self.app = backend.app
        self.recorder = backend.recorder
        self.ticks: dict[str, asyncio.Task[None]] = {}
        self.sids: dict[int, str] = {}
        self.publisher: asyncio.Task[None] | None = None

    def install(self) -> None:
        self.sio.on("connect", self.connect)
        self.sio.on("disconnect", self.disconnect)
        self.sio.on("*", self.event)

    async def connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        conn = self.recorder.number(sid)
        self.sids[conn] = sid
        await self.carry_out(sid, conn, self.app.open(conn))
        if self.app.interval is not None:
            self.ticks[sid] = asyncio.create_task(self.tick(sid, conn, self.app.interval))
        if self.app.every is not None and self.publisher is None:
            self.publisher = asyncio.create_task(self.publish(self.app.every))

    async def disconnect(self, sid: str, reason: Any = None) -> None:
        if reason == self.sio.reason.CLIENT_DISCONNECT:
            self.backend.end_polling_session(sid)
        conn = self.recorder.number(sid)
        self.sids.pop(conn, None)
        await self.carry_out(sid, conn, self.app.close(conn))
        tick = self.ticks.pop(sid, None)
        if tick is not None:
            tick.cancel()

    async def event(self, event: str, sid: str, *args: Any) -> Any:
        """Every event: the app's own become actions; the answer to one is its acknowledgement."""
        if event not in self.app.listens_to:
            return self.sio.not_handled  # recorded, never acknowledged
        conn = self.recorder.number(sid)
        data = args[0] if len(args) == 1 else (list(args) if args else None)
        try:
            actions = self.app.receive(conn, data, event)
        except AppError as exc:
            self.backend.record.error(conn, exc.text)
            return f"error: {exc.text}"
        return await self.carry_out(sid, conn, actions)

    async def publish(self, every: float) -> None:
        """The app's publications, emitted to everyone on a fixed schedule (no drift)."""
        loop = asyncio.get_running_loop()
        start, n = loop.time(), 0
        while (actions := self.app.publish(n)) is not None:
            for action in actions:
                if isinstance(action, Send):  # this process's own clients, even with redis= (each runs its feed)
                    await self.sio.emit(action.event or self.app.event, action.message, ignore_queue=True)
            n += 1
            await asyncio.sleep(max(0.0, start + n * every - loop.time()))

    async def tick(self, sid: str, conn: int, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            await self.carry_out(sid, conn, self.app.tick(conn))

    async def carry_out(self, sid: str, conn: int, actions: list[Action]) -> Any:
        """Rooms first, then emits; the reply (if any) is returned, to be sent as the ack."""
        reply = None
        for action in actions:
            if isinstance(action, Enter):
                await self.sio.enter_room(sid, action.room)
            elif isinstance(action, Leave):
                await self.sio.leave_room(sid, action.room)
            elif isinstance(action, Send):
                if action.reply:
                    reply = action.message
                elif action.broadcast:
                    await self.sio.emit(action.event or self.app.event, action.message, to=action.room, skip_sid=sid)
                else:
                    sids = [self.sids[target] for target in action.to if target in self.sids]
                    if sids:
                        await self.sio.emit(action.event or self.app.event, action.message, to=sids)
        return reply


class SocketIOBackend(AsyncBackend):
    stack = "socketio"
    record_unit = "session"
    chat_page = "socketio"
    native_kind = Text("un socketio.AsyncServer", "a socketio.AsyncServer")
    options: ClassVar[Mapping[str, Option]] = {
        **SERVER_OPTIONS,
        **SECURITY_OPTIONS,
        **REDIS_OPTIONS,
        "page": page_option,
        "page_headers": page_headers_option,
        "max_queue": Option(
            size(none=False),
            Text(
                "paquetes sin enviar a un cliente antes de desconectarlo por lento (1000)",
                "packets unsent to one client before it is disconnected as too slow (1000)",
            ),
        ),
    }

    @classmethod
    def native_name(cls, app: Any) -> str | None:
        return "socketio.AsyncServer" if isinstance(app, socketio.AsyncServer) else None

    async def serve(self, host: str, port: int) -> int:
        logger = self.record.logger()
        settings = dict(self.settings)
        self.max_queue: int = settings.pop("max_queue", MAX_QUEUE)
        if self.allow_origins is not None:
            if "cors_allowed_origins" in settings:
                raise LabkitError(
                    say(
                        "da allow_origins o cors_allowed_origins, no los dos",
                        "give allow_origins or cors_allowed_origins, not both",
                    )
                )
            settings["cors_allowed_origins"] = self.allow_origins
        if isinstance(self.app, App):
            if self.redis_url is not None:  # redis=: emits reach the clients of every process (issue 9)
                await check_redis(self.redis_url)
                settings["client_manager"] = socketio.AsyncRedisManager(
                    self.redis_url, channel=f"labkit:socketio:{self.app.name}", redis_options=client_options()
                )
            self.sio = socketio.AsyncServer(
                async_mode="aiohttp", logger=logger, engineio_logger=logger, always_connect=True, **settings
            )
        else:
            if self.redis_url is not None:
                raise LabkitError(
                    say(
                        "redis=: dale a tu AsyncServer client_manager=socketio.AsyncRedisManager(url) al crearlo",
                        "redis=: give your AsyncServer client_manager=socketio.AsyncRedisManager(url) when you "
                        "create it",
                    )
                )
            if settings:
                raise LabkitError(
                    say(
                        f"{', '.join(sorted(settings))}: dalo al crear tu socketio.AsyncServer",
                        f"{', '.join(sorted(settings))}: give it when you create your socketio.AsyncServer",
                    )
                )
            self.sio = self.app
            if self.sio.async_mode != "aiohttp":
                raise LabkitError(
                    say(
                        f"tu AsyncServer usa async_mode={self.sio.async_mode!r}; labkit lo sirve con aiohttp: "
                        "créalo con socketio.AsyncServer(async_mode='aiohttp')",
                        f"your AsyncServer uses async_mode={self.sio.async_mode!r}; labkit serves it with aiohttp: "
                        "create it with socketio.AsyncServer(async_mode='aiohttp')",
                    )
                )
        self.undo = Undo()
        if not isinstance(self.app, App):
            # A student's server logs to stderr (python-socketio's default logger; its Redis manager
            # too), which in a kernel lands in whatever cell runs next: while labkit serves it, the
            # record gets those lines instead.
            self.undo.replace(self.sio, "logger", logger)
            self.undo.replace(self.sio.eio, "logger", logger)
        self.recorder = record_socketio(self.sio, self.record, self.undo, self.max_rate)
        drop_slow_readers(self.sio, self.record, self.recorder.numbers, self.max_queue, self.undo)
        cap_polling_batches(self.sio, self.undo)
        self.background: set[asyncio.Task[Any]] = set()
        self.end_polling_session = close_polling_sessions_promptly(self.sio, self.background, self.undo)
        if isinstance(self.app, App):
            AppEvents(self).install()
        aiohttp_app = web.Application()
        self.sio.attach(aiohttp_app)
        if self.page is not None:
            aiohttp_app.router.add_get("/{path:.*}", self.answer_page)
        # At shutdown every client has already been told goodbye; handlers still open after
        # a quarter second (a WebSocket waiting for its peer) are cut rather than awaited.
        self.runner = web.AppRunner(
            aiohttp_app, handle_signals=False, access_log=None, logger=logger, shutdown_timeout=0.25
        )
        await self.runner.setup()
        site = web.TCPSite(self.runner, host, port, ssl_context=self.ssl_context)
        try:
            await site.start()
        except BaseException:
            await self.runner.cleanup()
            self.undo.restore()
            raise
        bound: int = self.runner.addresses[0][1]
        return bound

    async def answer_page(self, request: web.Request) -> web.Response:
        """A browser's GET: the page (``page=``) and labkit's files, next to ``/socket.io/``."""
        assert self.page is not None
        served = self.page.answer(request.path_qs)
        if served is None:
            raise web.HTTPNotFound()
        return web.Response(status=served.status, body=served.body, headers=served.fields)

    async def shutdown(self) -> None:
        await stop_accepting(aiohttp_listeners(self.runner))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STOP_TIMEOUT / 2):
                for sid in list(self.recorder.numbers):
                    with contextlib.suppress(Exception):
                        await self.sio.disconnect(sid)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STOP_TIMEOUT / 2):
                await self.runner.cleanup()
        await self.close_redis_manager()
        self.undo.restore()

    async def close_redis_manager(self) -> None:
        """With ``redis=``: end python-socketio's Redis listener and close its connections (issue 9).

        The manager has no close method; its listener is the task ``thread`` and its
        connections ``pubsub`` and ``redis`` (python-socketio 5's AsyncRedisManager).
        """
        manager = self.sio.manager
        if not isinstance(manager, socketio.AsyncRedisManager):
            return
        listener = getattr(manager, "thread", None)
        if isinstance(listener, asyncio.Task):
            listener.cancel()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(0.5):
                if isinstance(listener, asyncio.Task):
                    await asyncio.gather(listener, return_exceptions=True)
                for connection in (manager.pubsub, manager.redis):
                    if connection is not None:
                        await connection.aclose()
