"""The ``websocket`` stack: connection handlers on the ``websockets`` library (new asyncio API).

What labkit adds to a bare ``websockets`` server is only the record: a connection subclass
notes the TCP connection, its handshake and every message it receives or sends, so the
record is the same whether labkit's apps or a student's own handler runs on it.
"""

from __future__ import annotations

__all__ = ["WebSocketBackend"]

import asyncio
import contextlib
import functools
import logging
import traceback
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK
from websockets.http11 import Request, Response
from websockets.protocol import OPEN
from websockets.server import ServerProtocol

from ..apps import App
from ..i18n import Text
from ..limits import RateLimit
from ..loop import stop_accepting
from ..options import Option, choice, seconds, size
from ..pages import NOT_FOUND, page_headers_option, page_option
from ..patches import answer_garbage_with_400, record_what_is_sent
from ..record import CLIENT_TO_SERVER, Closed, CloseStatus, HttpHead, Opened, Record
from . import SECURITY_OPTIONS, STOP_TIMEOUT, AsyncBackend
from .bus import REDIS_OPTIONS
from .ws_app import (
    MAX_BUFFER,
    MAX_BUFFER_OPTION,
    AppHandler,
    handler_name,
    is_upgrade,
    share_broadcasts,
    stop_sharing,
)

#: Options passed on to ``websockets.serve``, with what they mean.
SERVE_OPTIONS: dict[str, Option] = {
    "compression": Option(
        choice(None, "deflate"), Text("None (por defecto) o 'deflate'", "None (default) or 'deflate'")
    ),
    "max_size": Option(size(), Text("bytes por mensaje (1 MiB)", "bytes per message (1 MiB)")),
    "ping_interval": Option(seconds(none=True), Text("segundos entre pings (20)", "seconds between pings (20)")),
    "ping_timeout": Option(seconds(none=True), Text("segundos para el pong (20)", "seconds to wait for a pong (20)")),
    "open_timeout": Option(
        seconds(none=True), Text("segundos para el handshake (10)", "seconds for the handshake (10)")
    ),
    "close_timeout": Option(seconds(none=True), Text("segundos para el cierre (10)", "seconds for the close (10)")),
}


def handshake_failures_recorded_once(logger: logging.Logger) -> logging.Logger:
    """Drop websockets' own "opening handshake failed" lines (logged as errors from 17 on).

    ``RecordedConnection.handshake`` records each failure with its precise reason already;
    keeping both would make records, and stored lesson outputs, differ between versions.
    """
    logger.addFilter(lambda log: not log.getMessage().startswith("opening handshake failed"))
    return logger


def close_status(frame: Any) -> CloseStatus | None:
    """websockets' Close frame as the record keeps it."""
    return None if frame is None else CloseStatus(int(frame.code), frame.reason)


class RecordedConnection(ServerConnection):
    """Notes the TCP connection, the opening handshake and each message in the record."""

    def __init__(
        self,
        protocol: ServerProtocol,
        server: Server,
        *,
        record: Record,
        live: set[RecordedConnection],
        max_rate: float | None = None,
        **kwargs: Any,
    ) -> None:
        self.garbage = answer_garbage_with_400(protocol)
        self.record = record
        self.live = live
        self.limit = RateLimit(max_rate) if max_rate is not None else None
        self.labkit_id = record.new_connection()
        record_what_is_sent(protocol, record, self.labkit_id)
        super().__init__(protocol, server, **kwargs)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        self.record.add("open", self.labkit_id, Opened(f"{peer[0]}:{peer[1]}" if peer else "?"))
        self.live.add(self)
        super().connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.live.discard(self)
        super().connection_lost(exc)

    async def handshake(self, *args: Any, **kwargs: Any) -> None:
        record = self.record
        try:
            await super().handshake(*args, **kwargs)
        finally:
            if self.request is not None:
                head = HttpHead.of(f"GET {self.request.path} HTTP/1.1", self.request.headers.raw_items())
                record.add("request", self.labkit_id, head)
            response = self.response or self.garbage.rejection
            if response is not None:
                start = f"HTTP/1.1 {response.status_code} {response.reason_phrase}"
                record.add("response", self.labkit_id, HttpHead.of(start, response.headers.raw_items()))
            exc = self.protocol.handshake_exc
            if exc is not None:
                cause = f": {exc.__cause__}" if exc.__cause__ else ""
                record.error(
                    self.labkit_id, Text(f"handshake fallido: {exc}{cause}", f"handshake failed: {exc}{cause}")
                )

    async def recv(self, *args: Any, **kwargs: Any) -> Any:
        message = await super().recv(*args, **kwargs)
        self.record.message(self.labkit_id, CLIENT_TO_SERVER, message)
        if self.limit is not None and not self.limit.allow():
            await self.flooded()
            raise self.protocol.close_exc
        return message

    async def flooded(self) -> None:
        """A client over ``max_rate``: recorded, and the connection failed with 1008 (§7.1.7, §7.4.1).

        Failing (not a closing handshake) means not waiting for a client busy flooding us.
        """
        assert self.limit is not None
        self.record.error(
            self.labkit_id,
            Text(
                f"el cliente envía más de {self.limit.rate:g} mensajes por segundo: cerrado con 1008",
                f"the client sends over {self.limit.rate:g} messages a second: closed with 1008",
            ),
        )
        self.protocol.fail(1008, "too many messages")
        self.send_data()

    async def __aiter__(self) -> AsyncIterator[Any]:
        """websockets' own iteration, recording each message without a second ``recv`` layer."""
        recv, note, conn = super().recv, self.record.message, self.labkit_id
        try:
            while True:
                message = await recv()
                note(conn, CLIENT_TO_SERVER, message)
                if self.limit is not None and not self.limit.allow():
                    await self.flooded()
                    return
                yield message
        except ConnectionClosedOK:
            return


class WebSocketBackend(AsyncBackend):
    stack = "websocket"
    scheme = "ws"
    chat_page = "websocket"
    native_kind = Text(
        "un manejador de conexiones de websockets (async def manejador(websocket))",
        "a websockets connection handler (async def handler(websocket))",
    )
    options: ClassVar[Mapping[str, Option]] = {
        **SERVE_OPTIONS,
        **SECURITY_OPTIONS,
        **REDIS_OPTIONS,
        "page": page_option,
        "page_headers": page_headers_option,
        "max_buffer": MAX_BUFFER_OPTION,
    }

    @classmethod
    def native_name(cls, app: Any) -> str | None:
        return handler_name(app)

    async def serve(self, host: str, port: int) -> int:
        settings = dict(self.settings)
        self.max_buffer: int = settings.pop("max_buffer", MAX_BUFFER)
        settings.setdefault("compression", None)  # frames on the wire stay readable
        self.live: set[RecordedConnection] = set()
        self.handler: Any = AppHandler(self.app, self.record, self.send_soon) if isinstance(self.app, App) else self.app
        await share_broadcasts(self.handler, self.redis_url)  # redis=: the app's other processes (bus.py)
        if self.allow_origins is not None:
            settings["origins"] = [*self.allow_origins, None]  # None: clients that are not browsers
        if self.ssl_context is not None:
            settings["ssl"] = self.ssl_context
        self.server: Server = await serve(
            self.handle,
            host,
            port,
            process_request=self.answer_page,
            create_connection=functools.partial(  # type: ignore[arg-type]
                RecordedConnection, record=self.record, live=self.live, max_rate=self.max_rate
            ),
            logger=handshake_failures_recorded_once(self.record.logger()),
            **settings,
        )
        bound: int = self.server.sockets[0].getsockname()[1]
        return bound

    def answer_page(self, connection: ServerConnection, request: Request) -> Response | None:
        """A browser's plain GET gets the page (``page=``); a WebSocket handshake goes on."""
        if self.page is None or is_upgrade(request.headers):
            return None
        served = self.page.answer(request.path) or NOT_FOUND
        headers = Headers([*served.fields, ("Content-Length", str(len(served.body)))])
        return Response(served.status, served.reason, headers, served.body)

    async def shutdown(self) -> None:
        """Say 1001 "going away" to every client; cut whoever has not finished within the limit."""
        await stop_sharing(self.handler)
        await stop_accepting(self.server.sockets)
        self.server.close()
        try:
            async with asyncio.timeout(STOP_TIMEOUT - 0.5):
                await self.server.wait_closed()
        except TimeoutError:
            for connection in list(self.live):  # mid-handshake, or never answering the close
                connection.transport.abort()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.5):
                    await self.server.wait_closed()

    async def handle(self, ws: ServerConnection) -> None:
        assert isinstance(ws, RecordedConnection)
        conn = ws.labkit_id
        try:
            await self.handler(ws)
        except ConnectionClosed:
            pass
        except Exception as exc:
            self.record.error(
                conn,
                Text(f"el manejador falló: {exc!r}", f"the handler failed: {exc!r}"),
                traceback.format_exc(),
            )
            await ws.close(1011)
        finally:
            await ws.close()
            protocol = ws.protocol
            self.record.add("close", conn, Closed(close_status(protocol.close_rcvd), close_status(protocol.close_sent)))

    def send_soon(self, ws: Any, message: str | bytes) -> bool:
        """Write ``message`` without waiting; drop a client whose unsent bytes pass ``max_buffer``."""
        if ws.protocol.state is not OPEN:
            return False
        if ws.transport.get_write_buffer_size() > self.max_buffer:
            ws.protocol.fail(1008, "reader too slow")
            ws.send_data()
            ws.transport.abort()
            self.record.error(
                ws.labkit_id,
                Text(
                    f"cliente demasiado lento: más de {self.max_buffer} bytes sin leer; cortado con 1008",
                    f"client too slow: over {self.max_buffer} bytes unread; dropped with 1008",
                ),
            )
            return False
        broadcast([ws], message)
        return True
