"""The ``websocket`` stack: the demo apps on the ``websockets`` library (new asyncio API).

What labkit adds to a bare ``websockets`` server is only the record: a connection
subclass notes each TCP connection and its handshake, and the handlers note each message.
"""

from __future__ import annotations

__all__ = ["WebSocketBackend"]

import asyncio
import functools
import logging
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed, InvalidMessage
from websockets.http11 import Request, Response
from websockets.protocol import CONNECTING
from websockets.server import ServerProtocol

from ..apps import CLOCK_INTERVAL, chat_message, clock_text
from ..errors import LabkitError
from ..record import CLIENT_TO_SERVER, SERVER_TO_CLIENT, HttpHead, Record
from . import AsyncBackend

#: Options of ``labkit.serve(..., over="websocket")`` passed on to ``websockets.serve``.
#: Compression is off unless asked for, so that frames on the wire stay readable.
SERVE_OPTIONS = ("compression", "max_size", "origins", "ping_interval", "ping_timeout", "open_timeout", "close_timeout")


class GarbageAnswer:
    """websockets closes silently on bytes that are not HTTP; labkit answers 400 first.

    A student who types a malformed request by hand should see why it failed. This
    replaces the protocol's ``send_eof`` on the instance: changing the object's class
    instead would cost every later message about 4 % (CPython rebuilds the instance
    dict on ``__class__`` assignment; ``labkit bench throughput`` shows it).
    """

    def __init__(self, protocol: ServerProtocol) -> None:
        self.protocol = protocol
        self.send_eof = protocol.send_eof
        self.rejection: Response | None = None

    def send_eof_after_400(self) -> None:
        protocol = self.protocol
        if (
            protocol.state is CONNECTING
            and self.rejection is None
            and isinstance(protocol.handshake_exc, InvalidMessage)
        ):
            self.rejection = protocol.reject(
                400, "Failed to open a WebSocket connection: did not receive a valid HTTP request.\n"
            )
            protocol.send_response(self.rejection)  # sends the response, then calls send_eof again
            return
        self.send_eof()


def handshake_failures_recorded_once(logger: logging.Logger) -> logging.Logger:
    """Drop websockets' own "opening handshake failed" lines (logged as errors from 17 on).

    ``RecordedConnection.handshake`` records each failure with its precise reason already;
    keeping both would make records, and stored lesson outputs, differ between versions.
    """
    logger.addFilter(lambda log: not log.getMessage().startswith("opening handshake failed"))
    return logger


def request_summary(request: Request) -> str:
    return f"GET {request.path} HTTP/1.1 ({len(request.headers)} headers)"


def response_summary(response: Response) -> str:
    return f"{response.status_code} {response.reason_phrase}"


class RecordedConnection(ServerConnection):
    """Notes the TCP connection and the opening handshake in the record."""

    def __init__(self, protocol: ServerProtocol, server: Server, *, record: Record, **kwargs: Any) -> None:
        self.garbage = GarbageAnswer(protocol)
        protocol.send_eof = self.garbage.send_eof_after_400  # type: ignore[method-assign]
        self.record = record
        self.labkit_id = self.record.new_connection()
        super().__init__(protocol, server, **kwargs)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        record = self.record
        peer = transport.get_extra_info("peername")
        record.add("open", self.labkit_id, f"from {peer[0]}:{peer[1]}" if peer else "opened")
        super().connection_made(transport)

    async def handshake(self, *args: Any, **kwargs: Any) -> None:
        record = self.record
        try:
            await super().handshake(*args, **kwargs)
        finally:
            if self.request is not None:
                head = HttpHead.of(f"GET {self.request.path} HTTP/1.1", self.request.headers.raw_items())
                record.add("request", self.labkit_id, request_summary(self.request), data=head)
            response = self.response or self.garbage.rejection
            if response is not None:
                start = f"HTTP/1.1 {response.status_code} {response.reason_phrase}"
                head = HttpHead.of(start, response.headers.raw_items())
                record.add("response", self.labkit_id, response_summary(response), data=head)
            if self.protocol.handshake_exc is not None:
                exc = self.protocol.handshake_exc
                cause = f": {exc.__cause__}" if exc.__cause__ else ""
                record.add("error", self.labkit_id, f"handshake failed: {exc}{cause}")


class WebSocketBackend(AsyncBackend):
    stack = "websocket"
    scheme = "ws"

    def __init__(self, app: str, record: Record, **options: Any) -> None:
        unknown = set(options) - {*SERVE_OPTIONS, "interval"}
        if unknown:
            raise LabkitError(f"unknown option(s) for the websocket stack: {', '.join(sorted(unknown))}")
        options.setdefault("compression", None)
        super().__init__(app, record, **options)
        self.interval = float(options.pop("interval", CLOCK_INTERVAL))
        self.members: dict[ServerConnection, int] = {}
        self.handle_app = {"echo": self.echo, "clock": self.clock, "chat": self.chat}[app]

    async def serve(self, host: str, port: int) -> int:
        record = self.record
        self.server: Server = await serve(
            self.handle,
            host,
            port,
            create_connection=functools.partial(RecordedConnection, record=record),  # type: ignore[arg-type]
            logger=handshake_failures_recorded_once(record.logger()),
            **{k: v for k, v in self.options.items() if k in SERVE_OPTIONS},
        )
        bound: int = self.server.sockets[0].getsockname()[1]
        return bound

    async def shutdown(self) -> None:
        self.server.close()
        await self.server.wait_closed()

    async def handle(self, ws: ServerConnection) -> None:
        conn: int = getattr(ws, "labkit_id", 0)
        try:
            await self.handle_app(ws, conn)
        except ConnectionClosed:
            pass
        finally:
            await ws.close()
            received, sent = ws.protocol.close_rcvd, ws.protocol.close_sent
            self.record.add(
                "close",
                conn,
                f"received {received or 'no close frame'}; sent {sent or 'no close frame'}",
                data=(received, sent),
            )

    async def echo(self, ws: ServerConnection, conn: int) -> None:
        """Each message comes back unchanged: text as text, binary as binary."""
        note = self.record.message
        async for message in ws:
            note(conn, CLIENT_TO_SERVER, message)
            await ws.send(message)
            note(conn, SERVER_TO_CLIENT, message)

    async def clock(self, ws: ServerConnection, conn: int) -> None:
        """Send the time now and every ``interval`` seconds, without being asked."""

        async def listen() -> None:
            async for message in ws:
                self.record.message(conn, CLIENT_TO_SERVER, message)

        listener = asyncio.create_task(listen())
        try:
            while not listener.done():
                now = clock_text()
                await ws.send(now)
                self.record.message(conn, SERVER_TO_CLIENT, now)
                await asyncio.wait({listener}, timeout=self.interval)
        finally:
            listener.cancel()

    async def chat(self, ws: ServerConnection, conn: int) -> None:
        """Deliver each text to every other member, as ``{"from": conn, "text": text}``."""
        self.members[ws] = conn
        try:
            async for message in ws:
                self.record.message(conn, CLIENT_TO_SERVER, message)
                text = message if isinstance(message, str) else message.decode("utf-8", "replace")
                others = [member for member in self.members if member is not ws]
                delivered = chat_message(conn, text)
                broadcast(others, delivered)
                self.record.add(
                    "send", None, f"to {len(others)} others: {delivered}", direction=SERVER_TO_CLIENT, data=delivered
                )
        finally:
            del self.members[ws]
