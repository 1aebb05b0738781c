"""The ``scratch`` stack: WebSocket connection handlers on labkit's own protocol code, built from scratch.

Everything WebSocket here is :mod:`labkit.protocol` (sans I/O); this module is only the
I/O around it, on asyncio streams: read bytes, hand them to the protocol, write what it
hands back, and close TCP when it says so. The connection object a handler gets offers
the part of websockets' ``ServerConnection`` a lesson uses (``async for message in ws``,
``send``, ``recv``, ``close(code, reason)``, ``request.path``, ``request.headers``,
``remote_address``), so labkit's apps and a student's own handler run here unchanged.

One connection goes through three phases:

1. the opening handshake (RFC 6455 §4.2): an HTTP/1.1 request parsed by
   :class:`~labkit.protocol.http11.RequestParser`, answered ``101`` or with an HTTP error;
2. frames (§5, §6): a :class:`~labkit.protocol.connection.Connection` turns bytes into
   events; messages go to the handler, which gets each one before the next frame is
   parsed, so its reply precedes a Close reply or a failing close frame;
3. the close (§7): the closing handshake, or failing the connection (§7.1.7); the core
   says when TCP closes (the server first, §7.1.1), and a timer cuts a peer that never does.
"""

from __future__ import annotations

__all__ = ["ConnectionClosed", "ConnectionClosedError", "ConnectionClosedOK", "ScratchBackend", "ScratchConnection"]

import asyncio
import contextlib
import traceback
from collections import deque
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

from ..apps import App
from ..i18n import Text
from ..limits import RateLimit
from ..loop import stop_accepting
from ..options import Option, size
from ..pages import NOT_FOUND, page_headers_option, page_option
from ..protocol import (
    SEND_EOF,
    BinaryMessage,
    CloseCode,
    Connection,
    HandshakeError,
    Headers,
    HTTPParseError,
    ProtocolError,
    Request,
    RequestParser,
    Response,
    Role,
    State,
    TextMessage,
    build_accept_response,
    build_reject_response,
    check_origin,
    validate_request,
)
from ..record import CLIENT_TO_SERVER, SERVER_TO_CLIENT, Closed, CloseStatus, HttpHead, Opened, Record
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

#: Bytes asked of the socket per read: one call takes whatever has arrived.
READ_SIZE = 65536
#: Seconds a client has to send a complete handshake request (websockets' default).
OPEN_TIMEOUT = 10.0
#: Seconds the peer has to finish the closing handshake and close TCP (§7.1.1, §7.1.2).
CLOSE_TIMEOUT = 5.0
#: Seconds to wait for the peer to close TCP after an HTTP error answer.
LINGER_TIMEOUT = 2.0
#: Messages received but not yet taken by the handler before reading pauses (websockets: 16).
MAX_QUEUE = 16


class ConnectionClosed(Exception):
    """The connection is closed; like websockets' exception of the same name.

    ``code`` and ``reason`` are the WebSocket Connection Close Code and Reason (§7.1.5,
    §7.1.6): 1006 when TCP closed without a closing handshake.
    """

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"connection closed: {code}{f' {reason}' if reason else ''}")
        self.code = code
        self.reason = reason


class ConnectionClosedOK(ConnectionClosed):
    """Closed normally (1000, 1001, or a Close frame without a status)."""


class ConnectionClosedError(ConnectionClosed):
    """Closed after an error: a protocol violation, a broken network, a failing handler."""


def _close_status(close: Any) -> CloseStatus | None:
    return None if close is None else CloseStatus(int(close.code), close.reason)


class ScratchConnection:
    """One client after the handshake: what a websockets-style handler needs, on labkit.protocol."""

    def __init__(
        self,
        conn: int,
        request: Request,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        record: Record,
        max_size: int | None,
        max_rate: float | None = None,
    ) -> None:
        self.labkit_id = conn
        self.limit = RateLimit(max_rate) if max_rate is not None else None
        self.request = request
        self.remote_address = writer.get_extra_info("peername")
        self.reader = reader
        self.writer = writer
        self.record = record
        self.protocol = Connection(Role.SERVER, max_message_size=max_size)
        #: Messages received, not yet taken by the handler; ``_arrived`` wakes a waiting ``recv``.
        self._inbox: deque[str | bytes] = deque()
        self._arrived: asyncio.Future[None] | None = None
        self._room = asyncio.Event()  # set while fewer than MAX_QUEUE messages wait
        self._room.set()
        self._closed = asyncio.Event()  # TCP is closed
        self._close_timer: asyncio.TimerHandle | None = None
        self._handler_done = False
        #: Bytes the protocol handed over, written together by :meth:`_flush`.
        self._pending: list[bytes] = []
        self._flush_soon = False

    # What a handler uses -----------------------------------------------------------------

    @property
    def state(self) -> State:
        return self.protocol.state

    @property
    def close_code(self) -> int | None:
        return self.protocol.close_code

    @property
    def close_reason(self) -> str | None:
        return self.protocol.close_reason

    async def recv(self) -> str | bytes:
        """The next message; raises :class:`ConnectionClosed` once none will come."""
        inbox = self._inbox
        while not inbox:
            if self._closed.is_set():
                raise self._closed_exception()
            self._arrived = asyncio.get_running_loop().create_future()
            await self._arrived
        message = inbox.popleft()
        if len(inbox) < MAX_QUEUE:
            self._room.set()
        self.record.message(self.labkit_id, CLIENT_TO_SERVER, message)
        return message

    async def let_handler_answer(self) -> None:
        """Hand the messages waiting over to a handler that reads, and let it answer them."""
        self._wake()
        await asyncio.sleep(0)  # the handler takes them and writes its answers
        self.write_out()

    def _wake(self) -> None:
        arrived = self._arrived
        if arrived is not None and not arrived.done():
            arrived.set_result(None)

    async def __aiter__(self) -> AsyncIterator[str | bytes]:
        """Every message until the connection closes; ends quietly after a normal close."""
        try:
            while True:
                yield await self.recv()
        except ConnectionClosedOK:
            return

    async def send(self, message: str | bytes) -> None:
        """Send one message, text for ``str`` and binary for bytes, and wait while the client is behind."""
        self._queue(message)
        if self.writer.transport.get_write_buffer_size():
            try:
                await self.writer.drain()  # back-pressure: a client that does not read is not fed
            except OSError:
                pass

    def send_soon(self, message: str | bytes) -> None:
        """Send without waiting (broadcasts)."""
        self._queue(message)

    async def close(self, code: int = CloseCode.NORMAL, reason: str = "") -> None:
        """Start the closing handshake (§7.1.2) and wait until TCP is closed (cut after a timeout)."""
        if self.protocol.state is State.OPEN:
            self.protocol.send_close(code, reason)
            self.write_out()
        await self.wait_closed()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    # The I/O loop ----------------------------------------------------------------------

    def _queue(self, message: str | bytes) -> None:
        if self.protocol.state is not State.OPEN:
            raise self._closed_exception()
        if isinstance(message, str):
            self.protocol.send_text(message)
        elif isinstance(message, bytes | bytearray | memoryview):
            message = bytes(message)
            self.protocol.send_binary(message)
        else:
            raise TypeError(f"a message is str or bytes, not {type(message).__name__}")
        self.write_out()
        self.record.message(self.labkit_id, SERVER_TO_CLIENT, message)

    def _closed_exception(self) -> ConnectionClosed:
        code = self.protocol.close_code or CloseCode.ABNORMAL_CLOSURE
        reason = self.protocol.close_reason or ""
        normal = code in (CloseCode.NORMAL, CloseCode.GOING_AWAY, CloseCode.NO_STATUS_RECEIVED)
        return (ConnectionClosedOK if normal else ConnectionClosedError)(int(code), reason)

    def write_out(self) -> None:
        """Take what the protocol queued; write it all once this turn of the loop is over.

        A read that carried 32 messages gets its 32 answers in one ``write``, not 32: the
        flush runs after every handler waiting on those messages has answered.
        """
        self._pending += self.protocol.data_to_send()
        if self._pending and not self._flush_soon:
            self._flush_soon = True
            asyncio.get_running_loop().call_soon(self._flush)
        if self.protocol.close_expected() and self._close_timer is None:
            self._close_timer = asyncio.get_running_loop().call_later(CLOSE_TIMEOUT, self.writer.transport.abort)

    def _flush(self) -> None:
        """Write the pending bytes; an empty item means: close our side of TCP (§7.1.1)."""
        self._flush_soon = False
        pending, self._pending = self._pending, []
        transport = self.writer.transport
        if transport.is_closing():
            return  # writing to a closed transport only makes asyncio warn on stderr
        chunks: list[bytes] = []
        for data in pending:
            if data is not SEND_EOF and data:
                chunks.append(data)
                continue
            if chunks:
                transport.write(b"".join(chunks))
                chunks = []
            if self.writer.can_write_eof():
                self.writer.write_eof()
            else:
                self.writer.close()
            return
        if chunks:
            transport.write(chunks[0] if len(chunks) == 1 else b"".join(chunks))

    def flooded(self) -> None:
        """A client over ``max_rate``: recorded, failed with 1008 (policy violation, §7.4.1)."""
        assert self.limit is not None
        self.record.error(
            self.labkit_id,
            Text(
                f"el cliente envía más de {self.limit.rate:g} mensajes por segundo: cerrado con 1008",
                f"the client sends over {self.limit.rate:g} messages a second: closed with 1008",
            ),
        )
        self.protocol.fail(CloseCode.POLICY_VIOLATION, "too many messages")
        self.write_out()

    def handler_done(self) -> None:
        """Nobody will read messages any more: reading never pauses for them again."""
        self._handler_done = True
        self._room.set()

    def drop(self, reason: str) -> None:
        """Fail the connection for a reason of the server's (§7.1.7) and cut TCP at once."""
        if self.protocol.state is State.OPEN:
            self.protocol.fail(CloseCode.POLICY_VIOLATION, reason)
            self.write_out()
        self.writer.transport.abort()

    async def read_frames(self, data: bytes) -> None:
        """Read, parse, hand messages over, write replies, until TCP closes.

        Every message a read completes goes to the handler before the next read; what the
        protocol queued by itself (pongs, a Close reply, the failing close frame, the EOF)
        is written once per read.
        """
        protocol, reader, inbox = self.protocol, self.reader, self._inbox
        messages = (TextMessage, BinaryMessage)
        try:
            while True:
                if data:
                    protocol.feed_data(data)
                    try:
                        while True:
                            if inbox and not protocol.next_is_plain_data():
                                # A Close, a ping or a frame that fails the connection is next:
                                # the messages before it get their answers first (§7.1.7).
                                await self.let_handler_answer()
                            event = protocol.next_event()
                            if event is None:
                                break
                            if isinstance(event, messages):
                                if self.limit is not None and not self.limit.allow():
                                    self.flooded()
                                    break
                                inbox.append(event.data)
                            # Ping: the Pong is queued (§5.5.2); Close: the reply is queued (§5.5.1).
                    except ProtocolError as exc:
                        self.record.error(
                            self.labkit_id,
                            Text(
                                f"error de protocolo, se cierra con {exc.close_code}: {exc}",
                                f"protocol error, closing with {exc.close_code}: {exc}",
                            ),
                        )
                    if inbox:
                        self._wake()
                        if len(inbox) >= MAX_QUEUE and not self._handler_done:
                            self._room.clear()
                    self.write_out()
                    await self._room.wait()  # a handler that does not read stops the reading
                try:
                    data = await reader.read(READ_SIZE)
                except OSError:
                    data = b""
                if not data:
                    protocol.receive_eof()  # 1006 if the closing handshake was not over (§7.1.5)
                    self.write_out()
                    return
        finally:
            if self._close_timer is not None:
                self._close_timer.cancel()
            self.writer.close()
            self._closed.set()
            self._wake()


class ScratchBackend(AsyncBackend):
    """Handlers on :mod:`labkit.protocol` and ``asyncio.start_server``; no WebSocket library."""

    stack = "scratch"
    scheme = "ws"
    chat_page = "websocket"
    native_kind = Text(
        "un manejador de conexiones al estilo de websockets (async def manejador(websocket))",
        "a websockets-style connection handler (async def handler(websocket))",
    )
    options: ClassVar[Mapping[str, Option]] = {
        **SECURITY_OPTIONS,
        **REDIS_OPTIONS,
        "page": page_option,
        "page_headers": page_headers_option,
        "max_size": Option(size(), Text("bytes por mensaje (1 MiB)", "bytes per message (1 MiB)")),
        "max_buffer": MAX_BUFFER_OPTION,
    }

    @classmethod
    def native_name(cls, app: Any) -> str | None:
        return handler_name(app)

    async def serve(self, host: str, port: int) -> int:
        self.max_size: int | None = self.settings.get("max_size", 2**20)
        self.max_buffer: int = self.settings.get("max_buffer", MAX_BUFFER)
        self.handler: Any = AppHandler(self.app, self.record, self.send_soon) if isinstance(self.app, App) else self.app
        await share_broadcasts(self.handler, self.redis_url)  # redis=: the app's other processes (bus.py)
        #: Every connection's task; its connection once the handshake succeeded.
        self.tasks: dict[asyncio.Task[None], ScratchConnection | None] = {}
        self.server = await asyncio.start_server(self.handle, host, port, ssl=self.ssl_context)
        bound: int = self.server.sockets[0].getsockname()[1]
        return bound

    async def shutdown(self) -> None:
        """Stop listening, say 1001 "going away" to every client (§7.4.1), cut whoever lingers."""
        await stop_sharing(self.handler)
        await stop_accepting(self.server.sockets)  # connections accepted just now start their handlers
        self.server.close()
        for task, ws in list(self.tasks.items()):
            if ws is None:
                task.cancel()  # still in the opening handshake: nothing to say goodbye on
            elif ws.protocol.state is State.OPEN:
                ws.protocol.send_close(CloseCode.GOING_AWAY)
                ws.write_out()
        if self.tasks:
            _, pending = await asyncio.wait(set(self.tasks), timeout=STOP_TIMEOUT - 0.5)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.server.wait_closed(), 0.5)

    def send_soon(self, ws: ScratchConnection, message: str | bytes) -> bool:
        """Write ``message`` without waiting; drop a client whose unsent bytes pass ``max_buffer``."""
        if ws.protocol.state is not State.OPEN:
            return False
        if ws.writer.transport.get_write_buffer_size() > self.max_buffer:
            ws.drop("reader too slow")
            self.record.error(
                ws.labkit_id,
                Text(
                    f"cliente demasiado lento: más de {self.max_buffer} bytes sin leer; cortado con 1008",
                    f"client too slow: over {self.max_buffer} bytes unread; dropped with 1008",
                ),
            )
            return False
        ws.send_soon(message)
        return True

    # One connection ------------------------------------------------------------------------

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks[task] = None
        record = self.record
        conn = record.new_connection()
        peer = writer.get_extra_info("peername")
        record.add("open", conn, Opened(f"{peer[0]}:{peer[1]}" if peer else "?"))
        ws: ScratchConnection | None = None
        try:
            opened = await self.handshake(conn, reader, writer)
            if opened is None:
                return
            request, trailing = opened
            ws = self.tasks[task] = ScratchConnection(
                conn, request, reader, writer, record, self.max_size, self.max_rate
            )
            reading = asyncio.create_task(ws.read_frames(trailing))
            try:
                await self.handler(ws)
            except ConnectionClosed:
                pass
            except Exception as exc:
                record.error(
                    conn, Text(f"el manejador falló: {exc!r}", f"the handler failed: {exc!r}"), traceback.format_exc()
                )
                if ws.protocol.state is State.OPEN:
                    ws.protocol.send_close(CloseCode.INTERNAL_ERROR)
                    ws.write_out()
            ws.handler_done()
            if ws.protocol.state is State.OPEN:
                ws.protocol.send_close(CloseCode.NORMAL)
                ws.write_out()
            await reading
        except asyncio.CancelledError:
            writer.transport.abort()
            raise
        except Exception as exc:  # a bug of ours must not reach the loop's stderr handler
            record.error(conn, Text(f"error interno: {exc!r}", f"internal error: {exc!r}"), traceback.format_exc())
            writer.transport.abort()
        finally:
            del self.tasks[task]
            if ws is not None:
                protocol = ws.protocol
                record.add(
                    "close", conn, Closed(_close_status(protocol.close_received), _close_status(protocol.close_sent))
                )
            writer.close()

    async def answer_page(
        self, conn: int, request: Request, served: Any, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """A browser's plain GET: the page (``page=``), then close (no keep-alive here)."""
        headers = Headers([*served.fields, ("Content-Length", str(len(served.body))), ("Connection", "close")])
        response = Response("HTTP/1.1", served.status, served.reason, headers, served.body)
        writer.write(response.serialize())
        self.record.add("request", conn, request_head(request))
        self.record.add("response", conn, response_head(response))
        await linger(reader, writer)

    async def handshake(
        self, conn: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> tuple[Request, bytes] | None:
        """The opening handshake (§4.2): the request and the bytes that followed it, or None."""
        record = self.record
        parser = RequestParser()
        request: Request | None = None
        try:
            async with asyncio.timeout(OPEN_TIMEOUT):
                while request is None:
                    data = await reader.read(READ_SIZE)
                    if not data:
                        raise ConnectionResetError("the client closed the connection before a complete request")
                    request = parser.feed(data)
            if self.page is not None and request.method == "GET" and not is_upgrade(request.headers):
                served = self.page.answer(request.target) or NOT_FOUND
                await self.answer_page(conn, request, served, reader, writer)
                return None
            key = validate_request(request)
            check_origin(request, self.allow_origins)
        except HandshakeError as exc:
            # §4.2.1: "the server MUST stop processing the client's handshake and return an
            # HTTP response with an appropriate error code (such as 400 Bad Request)".
            if request is not None:
                record.add("request", conn, request_head(request))
            response = build_reject_response(exc)
            writer.write(response.serialize())
            record.add("response", conn, response_head(response))
            kind = "invalid HTTP request" if isinstance(exc, HTTPParseError) else "invalid WebSocket request"
            tipo = "petición HTTP no válida" if isinstance(exc, HTTPParseError) else "petición WebSocket no válida"
            record.error(conn, Text(f"handshake fallido: {tipo}: {exc}", f"handshake failed: {kind}: {exc}"))
            await linger(reader, writer)
            return None
        except OSError as exc:  # TimeoutError is one, and so is a reset
            if isinstance(exc, TimeoutError):
                reason = Text(
                    f"ninguna petición completa en {OPEN_TIMEOUT:g} s", f"no complete request within {OPEN_TIMEOUT:g} s"
                )
                record.error(conn, Text(f"handshake fallido: {reason.es}", f"handshake failed: {reason.en}"))
            else:
                record.error(conn, Text(f"handshake fallido: {exc}", f"handshake failed: {exc}"))
            return None
        # §4.2.2: no subprotocol and no extension is selected, so a browser's
        # permessage-deflate offer is simply declined by leaving it out.
        response = build_accept_response(key)
        writer.write(response.serialize())
        record.add("request", conn, request_head(request))
        record.add("response", conn, response_head(response))
        return request, parser.trailing


def request_head(request: Request) -> HttpHead:
    return HttpHead.of(f"{request.method} {request.target} {request.version}", request.headers)


def response_head(response: Response) -> HttpHead:
    return HttpHead.of(f"{response.version} {response.status} {response.reason}", response.headers)


async def linger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Close TCP first (§7.1.1) without losing our last bytes.

    Closing a socket with unread input makes the kernel send a reset, which can destroy
    our HTTP error before the client reads it. So: send FIN, read and drop whatever still
    comes until the client closes too, then close.
    """
    if writer.transport.is_closing():
        return
    try:
        if writer.can_write_eof():
            writer.write_eof()
        async with asyncio.timeout(LINGER_TIMEOUT):
            while await reader.read(READ_SIZE):
                pass
    except OSError:  # timeout, reset, or ENOTCONN from shutdown() on a reset socket
        pass
