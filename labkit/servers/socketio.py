"""The ``socketio`` stack: the demo apps on python-socketio, served by aiohttp.

Socket.IO is its own protocol on top of Engine.IO, which carries it over WebSocket or
HTTP long polling; a plain WebSocket client cannot use these apps (lesson 04 shows why).

- echo:  the event ``"echo"`` is acknowledged with the same data.
- clock: the event ``"clock"`` carries the time, now and every second.
- chat:  the event ``"chat"`` with a text reaches every other client; ``"join"`` and
  ``"leave"`` a room name change rooms, and ``"chat"`` with ``{"room": r, "text": t}``
  reaches the others in room ``r`` only.
"""

from __future__ import annotations

__all__ = ["SocketIOBackend"]

import asyncio
from typing import Any

import engineio.packet
import socketio
import socketio.packet
from aiohttp import web

from ..apps import CLOCK_INTERVAL, chat_payload, clock_text
from ..errors import LabkitError
from ..record import CLIENT_TO_SERVER, SERVER_TO_CLIENT, HttpHead, Record
from . import AsyncBackend

#: Options of ``labkit.serve(..., over="socketio")`` passed on to ``socketio.AsyncServer``.
SERVER_OPTIONS = ("cors_allowed_origins", "ping_interval", "ping_timeout", "transports", "max_http_buffer_size")


class RecordedServer(socketio.AsyncServer):  # type: ignore[misc]
    """Notes each acknowledgement it sends: a handler's return value is sent only when asked for."""

    labkit_backend: SocketIOBackend

    async def _send_packet(self, eio_sid: str, pkt: Any) -> None:
        if pkt.packet_type in (socketio.packet.ACK, socketio.packet.BINARY_ACK):
            backend = self.labkit_backend
            sid = self.manager.sid_from_eio_sid(eio_sid, pkt.namespace or "/")
            args = pkt.data[0] if isinstance(pkt.data, list) and len(pkt.data) == 1 else pkt.data
            backend.record.add("send", backend.conns.get(sid), f"ack: {args!r}", direction=SERVER_TO_CLIENT)
        await super()._send_packet(eio_sid, pkt)


def request_line(environ: dict[str, Any], cache_buster: bool = True) -> str:
    """The request line; without ``cache_buster`` it leaves out the ``t=`` stamp polling adds."""
    query = environ.get("QUERY_STRING", "")
    if not cache_buster:
        query = "&".join(part for part in query.split("&") if not part.startswith("t="))
    return f"{environ.get('REQUEST_METHOD', 'GET')} {environ.get('PATH_INFO', '/')}{'?' + query if query else ''}"


class SocketIOBackend(AsyncBackend):
    stack = "socketio"

    def __init__(self, app: str, record: Record, **options: Any) -> None:
        unknown = set(options) - {*SERVER_OPTIONS, "interval"}
        if unknown:
            raise LabkitError(f"unknown option(s) for the socketio stack: {', '.join(sorted(unknown))}")
        for name in ("ping_interval", "ping_timeout"):
            value = options.get(name, 1)
            if not isinstance(value, int) or value < 1:
                # python-engineio announces int(seconds) * 1000 ms: 0.5 s would reach clients as 0.
                raise LabkitError(f"{name} must be a whole number of seconds, 1 or more, not {value!r}")
        super().__init__(app, record, **options)
        self.interval = float(options.pop("interval", CLOCK_INTERVAL))
        self.conns: dict[str, int] = {}
        self.clocks: dict[str, asyncio.Task[None]] = {}
        self.session_closers: set[asyncio.Task[None]] = set()

    async def serve(self, host: str, port: int) -> int:
        logger = self.record.logger()
        self.sio = RecordedServer(
            async_mode="aiohttp", logger=logger, engineio_logger=logger, always_connect=True, **self.options
        )
        self.sio.labkit_backend = self
        self.socketio_engineio_disconnect = self.sio.eio.handlers["disconnect"]
        self.sio.eio.on("disconnect", self.engineio_disconnect)
        self.sio.on("connect", self.connect)
        self.sio.on("disconnect", self.disconnect)
        if self.app == "echo":
            self.sio.on("echo", self.echo)
        elif self.app == "chat":
            self.sio.on("chat", self.chat)
            self.sio.on("join", self.join)
            self.sio.on("leave", self.leave)
        else:
            self.sio.on("*", self.other)
        aiohttp_app = web.Application()
        self.sio.attach(aiohttp_app)
        # At shutdown every client has already been told goodbye; handlers still open after
        # a quarter second (a WebSocket waiting for its peer) are cut rather than awaited.
        self.runner = web.AppRunner(
            aiohttp_app, handle_signals=False, access_log=None, logger=logger, shutdown_timeout=0.25
        )
        await self.runner.setup()
        site = web.TCPSite(self.runner, host, port)
        try:
            await site.start()
        except BaseException:
            await self.runner.cleanup()
            raise
        bound: int = self.runner.addresses[0][1]
        return bound

    async def shutdown(self) -> None:
        for sid in list(self.conns):
            await self.sio.disconnect(sid)
        await self.runner.cleanup()

    async def connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        conn = self.conns[sid] = self.record.new_connection()
        self.record.add("open", conn, f"from {environ.get('REMOTE_ADDR', '?')} over {self.sio.transport(sid)}")
        headers = tuple((k[5:].replace("_", "-").title(), v) for k, v in environ.items() if k.startswith("HTTP_"))
        head = HttpHead.of(request_line(environ), headers)
        self.record.add("request", conn, request_line(environ, cache_buster=False), data=head)
        if self.app == "clock":
            self.clocks[sid] = asyncio.create_task(self.tick(sid, conn))

    async def disconnect(self, sid: str, reason: Any = None) -> None:
        if reason == self.sio.reason.CLIENT_DISCONNECT:
            self.end_polling_session(sid)
        conn = self.conns.pop(sid, None)
        clock = self.clocks.pop(sid, None)
        if clock is not None:
            clock.cancel()
        self.record.add("close", conn, f"disconnected: {reason or 'unknown reason'}")

    def end_polling_session(self, sid: str) -> None:
        """Close a polling client's Engine.IO session once it leaves the only namespace.

        python-engineio's client can stop its write loop before it sends the close packet
        (``1``) that should follow a Socket.IO disconnect (``41``), and then waits for the
        server's next ping (25 s) to end its pending GET. Closing the session from here
        answers that GET with a close packet at once, as socket.io's own client would
        have asked for.
        """
        eio_sid = self.sio.manager.eio_sid_from_sid(sid, "/")
        socket = self.sio.eio.sockets.get(eio_sid) if eio_sid else None
        if socket is not None and not socket.upgraded and not socket.closing and not socket.closed:
            task = asyncio.create_task(self.sio.eio.disconnect(eio_sid))
            self.session_closers.add(task)
            task.add_done_callback(self.session_closers.discard)

    async def engineio_disconnect(self, eio_sid: str, reason: Any = None) -> Any:
        """Answer a polling client's pending GET when its Engine.IO session closes.

        When a polling client closes its session, Engine.IO leaves the GET the client still
        has open unanswered, so the client's ``disconnect()`` waits for its read timeout
        (30 s). A no-op packet answers that GET at once.
        """
        socket = self.sio.eio.sockets.get(eio_sid)
        if socket is not None and not socket.upgraded:
            socket.queue.put_nowait(engineio.packet.Packet(engineio.packet.NOOP))
        return await self.socketio_engineio_disconnect(eio_sid, reason)

    async def other(self, event: str, sid: str, *data: Any) -> None:
        self.record.add("recv", self.conns.get(sid), f"{event}: {data!r}", direction=CLIENT_TO_SERVER, data=data)

    async def echo(self, sid: str, data: Any = None) -> Any:
        """Acknowledge with the same data (sent only if the client asked for an ack)."""
        conn = self.conns.get(sid)
        self.record.add("recv", conn, f"echo: {data!r}", direction=CLIENT_TO_SERVER, data=data)
        return data

    async def tick(self, sid: str, conn: int) -> None:
        while True:
            now = clock_text()
            await self.sio.emit("clock", now, to=sid)
            self.record.add("send", conn, f"clock: {now!r}", direction=SERVER_TO_CLIENT, data=now)
            await asyncio.sleep(self.interval)

    async def chat(self, sid: str, data: Any = None) -> str | None:
        """Deliver the text to every other client, or to the others in a room."""
        conn = self.conns.get(sid, 0)
        self.record.add("recv", conn, f"chat: {data!r}", direction=CLIENT_TO_SERVER, data=data)
        room: str | None = None
        if isinstance(data, dict) and isinstance(data.get("room"), str) and isinstance(data.get("text"), str):
            room, text = data["room"], data["text"]
        elif isinstance(data, str):
            text = data
        else:
            self.record.add("error", conn, f"chat needs a text or {{'room': …, 'text': …}}, not {data!r}")
            return "error: chat needs a text or {'room': ..., 'text': ...}"
        payload = chat_payload(conn, text, room)
        await self.sio.emit("chat", payload, to=room, skip_sid=sid)
        self.record.add("send", None, f"chat to {room or 'everyone'}: {payload!r}", direction=SERVER_TO_CLIENT)
        return None

    async def join(self, sid: str, room: Any = None) -> list[str]:
        return await self.change_room(sid, room, enter=True)

    async def leave(self, sid: str, room: Any = None) -> list[str]:
        return await self.change_room(sid, room, enter=False)

    async def change_room(self, sid: str, room: Any, enter: bool) -> list[str]:
        """Join or leave a room; the acknowledgement lists the rooms the client is now in."""
        conn = self.conns.get(sid)
        self.record.add("recv", conn, f"{'join' if enter else 'leave'}: {room!r}", direction=CLIENT_TO_SERVER)
        if isinstance(room, str) and room:
            if enter:
                await self.sio.enter_room(sid, room)
            else:
                await self.sio.leave_room(sid, room)
        return sorted(r for r in self.sio.rooms(sid) if r != sid)
