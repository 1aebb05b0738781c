"""The ``scratch`` stack: the demo apps on labkit's own protocol code, built from scratch.

Everything WebSocket here is :mod:`labkit.protocol` (sans I/O); this module is only the
I/O loop around it, on asyncio streams: read bytes, hand them to the parser, write back
what it returns. It keeps the meanings and the record of the ``websocket`` stack, so a
lesson can run the same client against both and compare what each server saw.

One connection goes through three phases:

1. the opening handshake (RFC 6455 §4.2): an HTTP/1.1 request parsed by
   :class:`~labkit.protocol.http11.RequestParser`, answered ``101`` or with an HTTP error;
2. frames (§5, §6): a :class:`~labkit.protocol.connection.Connection` turns bytes into
   events one at a time, and the app answers each before the next frame is parsed;
3. the close (§7): the closing handshake, or failing the connection (§7.1.7), then the
   server closes TCP first (§7.1.1).
"""

from __future__ import annotations

__all__ = ["Close", "ScratchBackend"]

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, NamedTuple

from ..apps import CLOCK_INTERVAL, chat_message, clock_text
from ..errors import LabkitError
from ..protocol import (
    BinaryMessage,
    CloseCode,
    CloseReceived,
    Connection,
    HandshakeError,
    HTTPParseError,
    ProtocolError,
    Request,
    RequestParser,
    Response,
    ResponseParser,
    Role,
    State,
    TextMessage,
    build_accept_response,
    build_reject_response,
    validate_request,
)
from ..record import CLIENT_TO_SERVER, SERVER_TO_CLIENT, HttpHead, Record
from . import AsyncBackend

#: Options of ``labkit.serve(..., over="scratch")``.
OPTIONS = ("interval", "max_size")
#: Bytes asked of the socket per read: one call takes whatever has arrived.
READ_SIZE = 65536
#: Seconds a client has to send a complete handshake request (websockets' default).
OPEN_TIMEOUT = 10.0
#: Seconds the peer has to answer our Close frame before TCP is cut (§7.1.2).
CLOSE_TIMEOUT = 5.0
#: Seconds to wait for the peer to close TCP after the last Close frame (§7.1.1).
LINGER_TIMEOUT = 2.0
#: Seconds ``shutdown`` waits for the closing handshakes of open connections.
SHUTDOWN_GRACE = 2.0

#: What a close code means, in the words the ``websocket`` stack's record uses (§7.4.1).
CLOSE_MEANINGS = {
    1000: "OK",
    1001: "going away",
    1002: "protocol error",
    1003: "unsupported data",
    1005: "no status received [internal]",
    1006: "abnormal closure [internal]",
    1007: "invalid frame payload data",
    1008: "policy violation",
    1009: "message too big",
    1010: "mandatory extension",
    1011: "internal error",
    1012: "service restart",
    1013: "try again later",
    1014: "bad gateway",
    1015: "TLS handshake failure [internal]",
}


class Close(NamedTuple):
    """The status of a Close frame; code 1005 stands for a frame without one (§7.1.5)."""

    code: int
    reason: str = ""

    def __str__(self) -> str:
        if 3000 <= self.code < 4000:
            meaning = "registered"
        elif 4000 <= self.code < 5000:
            meaning = "private use"
        else:
            meaning = CLOSE_MEANINGS.get(self.code, "unknown")
        return f"{self.code} ({meaning}){f' {self.reason}' if self.reason else ''}"


class Session:
    """One client after the handshake: its stream, its protocol state, what to write next.

    Replies are collected in ``outgoing`` and written with one ``write`` per batch
    (``flush``): a read that carried ten messages costs one system call to answer.
    """

    def __init__(
        self, conn: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, protocol: Connection
    ) -> None:
        self.conn = conn
        self.reader = reader
        self.writer = writer
        self.protocol = protocol
        self.outgoing: list[bytes] = []
        self.received: Close | None = None
        self.sent: Close | None = None
        self.close_timer: asyncio.TimerHandle | None = None
        #: Set once the conversation is over and TCP is closing: nothing more is written.
        self.finished = False

    @property
    def open(self) -> bool:
        return self.protocol.state is State.OPEN and not self.finished

    def send(self, message: str | bytes) -> None:
        """Queue one message; silently dropped once the closing handshake has begun (§7.1.2)."""
        if self.open:
            protocol = self.protocol
            data = protocol.send_text(message) if isinstance(message, str) else protocol.send_binary(message)
            self.outgoing.append(data)

    def flush(self) -> None:
        """Write what is queued, and the pongs and Close replies the protocol queued itself."""
        pending = self.protocol.data_to_send()
        if pending:
            self.outgoing.append(pending)
        if self.outgoing:
            data = b"".join(self.outgoing) if len(self.outgoing) > 1 else self.outgoing[0]
            self.outgoing.clear()
            # Writing to a closed transport makes asyncio log warnings to stderr.
            if not self.finished and not self.writer.transport.is_closing():
                self.writer.write(data)

    def close(self, code: int, reason: str = "") -> None:
        """Start the closing handshake (§7.1.2); cut TCP if no Close comes back in time."""
        if self.open:
            self.outgoing.append(self.protocol.send_close(code, reason))
            self.sent = Close(int(code), reason)
            self.flush()
            self.close_timer = asyncio.get_running_loop().call_later(CLOSE_TIMEOUT, self.writer.transport.abort)

    def summary(self) -> str:
        received = self.received or "no close frame"
        sent = self.sent or "no close frame"
        return f"received {received}; sent {sent}"


def request_summary(request: Request) -> str:
    return f"{request.method} {request.target} {request.version} ({len(request.headers)} headers)"


def response_summary(response: Response) -> str:
    return f"{response.status} {response.reason}"


def request_head(request: Request) -> HttpHead:
    return HttpHead.of(f"{request.method} {request.target} {request.version}", request.headers)


def response_head(response: Response) -> HttpHead:
    return HttpHead.of(f"{response.version} {response.status} {response.reason}", response.headers)


def _parse_response(data: bytes) -> Response:
    """The response labkit sent, parsed back, so the record holds what went on the wire."""
    response = ResponseParser().feed(data)
    assert response is not None
    return response


class ScratchBackend(AsyncBackend):
    """The demo apps on :mod:`labkit.protocol` and ``asyncio.start_server``; no library."""

    stack = "scratch"
    scheme = "ws"

    def __init__(self, app: str, record: Record, **options: Any) -> None:
        unknown = set(options) - set(OPTIONS)
        if unknown:
            raise LabkitError(f"unknown option(s) for the scratch stack: {', '.join(sorted(unknown))}")
        super().__init__(app, record, **options)
        interval = options.get("interval", CLOCK_INTERVAL)
        if not isinstance(interval, int | float) or interval <= 0:
            raise LabkitError(f"interval must be a number of seconds above 0, not {interval!r}")
        max_size = options.get("max_size", 2**20)
        if max_size is not None and (not isinstance(max_size, int) or max_size < 1):
            raise LabkitError(f"max_size must be a whole number of bytes above 0, or None, not {max_size!r}")
        self.interval = float(interval)
        self.max_size: int | None = max_size
        #: Every handler task; ``None`` until its handshake succeeds.
        self.tasks: dict[asyncio.Task[None], Session | None] = {}
        self.members: list[Session] = []
        self.on_message: Callable[[Session, str | bytes], None] = {
            "echo": self.echo,
            "clock": self.listen,
            "chat": self.chat,
        }[app]

    async def serve(self, host: str, port: int) -> int:
        self.server = await asyncio.start_server(self.handle, host, port)
        bound: int = self.server.sockets[0].getsockname()[1]
        return bound

    async def shutdown(self) -> None:
        """Stop listening, say 1001 "going away" to every client (§7.4.1), then cut the rest."""
        self.server.close()
        await asyncio.sleep(0)  # connections accepted just now start their handlers
        for task, session in list(self.tasks.items()):
            if session is None:
                task.cancel()  # still in the opening handshake: nothing to say goodbye on
            else:
                session.close(CloseCode.GOING_AWAY)
        if self.tasks:
            _, pending = await asyncio.wait(set(self.tasks), timeout=SHUTDOWN_GRACE)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.server.wait_closed(), 1)

    # ------------------------------------------------------------------
    # One connection

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks[task] = None
        conn = self.record.new_connection()
        peer = writer.get_extra_info("peername")
        self.record.add("open", conn, f"from {peer[0]}:{peer[1]}" if peer else "opened")
        session: Session | None = None
        try:
            opened = await self.handshake(conn, reader, writer)
            if opened is not None:
                session = Session(conn, reader, writer, Connection(Role.SERVER, max_message_size=self.max_size))
                self.tasks[task] = session
                await self.converse(session, opened)
        except asyncio.CancelledError:
            writer.transport.abort()
            raise
        except Exception as exc:  # a bug of ours must not reach the loop's stderr handler
            self.record.add("error", conn, f"internal error: {exc!r}")
            writer.transport.abort()
        finally:
            del self.tasks[task]
            if session is not None:
                if session.close_timer is not None:
                    session.close_timer.cancel()
                self.record.add("close", conn, session.summary(), data=(session.received, session.sent))
            writer.close()

    async def handshake(self, conn: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes | None:
        """The opening handshake (§4.2); return the bytes that followed the request, or None."""
        parser = RequestParser()
        request: Request | None = None
        try:
            async with asyncio.timeout(OPEN_TIMEOUT):
                while request is None:
                    data = await reader.read(READ_SIZE)
                    if not data:
                        raise ConnectionResetError("the client closed the connection before a complete request")
                    request = parser.feed(data)
            key = validate_request(request)
        except HandshakeError as exc:
            # §4.2.1: "the server MUST stop processing the client's handshake and return an
            # HTTP response with an appropriate error code (such as 400 Bad Request)".
            if request is not None:
                self.record.add("request", conn, request_summary(request), data=request_head(request))
            response = build_reject_response(exc)
            writer.write(response)
            self.record.add("response", conn, response_summary(r := _parse_response(response)), data=response_head(r))
            kind = "invalid HTTP request" if isinstance(exc, HTTPParseError) else "invalid WebSocket request"
            self.record.add("error", conn, f"handshake failed: {kind}: {exc}")
            await self.linger(reader, writer)
            return None
        except OSError as exc:  # TimeoutError is one, and so is a reset
            reason = f"no complete request within {OPEN_TIMEOUT:g} s" if isinstance(exc, TimeoutError) else exc
            self.record.add("error", conn, f"handshake failed: {reason}")
            return None
        # §4.2.2: no subprotocol and no extension is selected, so a browser's
        # permessage-deflate offer is simply declined by leaving it out.
        response = build_accept_response(key)
        writer.write(response)
        self.record.add("request", conn, request_summary(request), data=request_head(request))
        self.record.add("response", conn, response_summary(r := _parse_response(response)), data=response_head(r))
        return parser.trailing

    async def converse(self, session: Session, data: bytes) -> None:
        """Frames both ways until the closing handshake is over or the connection fails."""
        app = self.app
        if app == "chat":
            self.members.append(session)
        ticker = asyncio.create_task(self.tick(session)) if app == "clock" else None
        try:
            await self.read_frames(session, data)
        finally:
            if ticker is not None:
                ticker.cancel()
                await asyncio.gather(ticker, return_exceptions=True)
            if app == "chat":
                self.members.remove(session)
        session.flush()
        session.finished = True
        await self.linger(session.reader, session.writer)

    async def read_frames(self, session: Session, data: bytes) -> None:
        """Read, parse, answer, write, until Close frames went both ways, failure or EOF."""
        protocol = session.protocol
        reader, writer = session.reader, session.writer
        on_message = self.on_message
        message_types = (TextMessage, BinaryMessage)
        while True:
            if data:
                protocol.feed_data(data)
                try:
                    # One event at a time: each reply is queued before the next frame is
                    # parsed, so it precedes a Close reply or a failing close frame.
                    while (event := protocol.next_event()) is not None:
                        if isinstance(event, message_types):
                            on_message(session, event.data)
                        elif isinstance(event, CloseReceived):
                            session.received = Close(int(event.code), event.reason)
                            if session.sent is None:  # §5.5.1: the protocol queued the echo
                                session.sent = session.received
                        # Ping: the Pong is already queued (§5.5.2); Pong: nothing to do (§5.5.3).
                except ProtocolError as exc:
                    self.failed(session, exc)
                session.flush()
                if protocol.state is State.CLOSED:
                    return
                try:
                    await writer.drain()  # back-pressure: a client that does not read is not fed
                except OSError:
                    return
            try:
                data = await reader.read(READ_SIZE)
            except OSError:
                return
            if not data:
                return  # TCP closed without a closing handshake: code 1006 (§7.1.5)

    def failed(self, session: Session, exc: ProtocolError) -> None:
        """§7.1.7 Fail the WebSocket Connection: the protocol queued the close frame to send."""
        if session.sent is None:
            reason = exc.reason.encode()[:123].decode("utf-8", "ignore")  # as the protocol truncates it
            session.sent = Close(exc.close_code, reason)
        self.record.add("error", session.conn, f"protocol error, closing with {exc.close_code}: {exc}")

    async def linger(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Close TCP first (§7.1.1), without losing our last bytes.

        Closing a socket with unread input makes the kernel send a reset, which can
        destroy our Close frame or HTTP error before the client reads it. So: send FIN,
        read and drop whatever still comes until the client closes too, then close.
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

    # ------------------------------------------------------------------
    # The apps: the same meanings as on the websocket stack

    def echo(self, session: Session, message: str | bytes) -> None:
        """Each message comes back unchanged: text as text, binary as binary."""
        note = self.record.message
        note(session.conn, CLIENT_TO_SERVER, message)
        session.send(message)
        note(session.conn, SERVER_TO_CLIENT, message)

    def listen(self, session: Session, message: str | bytes) -> None:
        """The clock only notes what a client says."""
        self.record.message(session.conn, CLIENT_TO_SERVER, message)

    async def tick(self, session: Session) -> None:
        """Send the time now and every ``interval`` seconds, without being asked."""
        while session.open:
            now = clock_text()
            session.send(now)
            session.flush()
            self.record.message(session.conn, SERVER_TO_CLIENT, now)
            try:
                await session.writer.drain()
            except OSError:
                return
            await asyncio.sleep(self.interval)

    def chat(self, session: Session, message: str | bytes) -> None:
        """Deliver each text to every other member, as ``{"from": conn, "text": text}``."""
        self.record.message(session.conn, CLIENT_TO_SERVER, message)
        text = message if isinstance(message, str) else message.decode("utf-8", "replace")
        delivered = chat_message(session.conn, text)
        others = [member for member in self.members if member is not session and member.open]
        for other in others:
            other.send(delivered)
            other.flush()
        self.record.add(
            "send", None, f"to {len(others)} others: {delivered}", direction=SERVER_TO_CLIENT, data=delivered
        )
