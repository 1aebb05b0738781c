"""Every place labkit reaches into a library's internals, in one module, each saying why.

labkit runs the production libraries unchanged and only watches them; where a library
offers no public hook for what a lesson must see (or for a failure it leaves silent),
the hook is made here, on one object at a time, never on the library's classes.
``tests/test_patches.py`` checks each internal this module relies on, so that a library
upgrade that moves one fails loudly there instead of quietly changing a lesson.

- websockets: answer bytes that are not HTTP with ``400`` (it closes silently);
- python-socketio: record the events, emits and acknowledgements of any ``AsyncServer``
  (labkit's apps and a student's own server alike) and catch a failing handler;
- python-engineio: end a long-polling session promptly when its client leaves;
- aiohttp: number the TCP connections of the ``http`` stack (open and close).
"""

from __future__ import annotations

__all__ = [
    "ConnectionCounter",
    "Undo",
    "GarbageAnswer",
    "SocketIORecorder",
    "answer_garbage_with_400",
    "close_polling_sessions_promptly",
    "drop_slow_readers",
    "record_socketio",
    "record_what_is_sent",
]

import asyncio
import contextlib
import traceback
from collections.abc import Callable
from typing import Any

from .i18n import Text
from .limits import RateLimit
from .record import CLIENT_TO_SERVER, SERVER_TO_CLIENT, Ack, Ended, HttpHead, Opened, Record, SocketIOEvent


class Undo:
    """What was replaced on which object, to put back: a student's own server stays theirs.

    labkit's hooks go on one object's attributes (never on a library's class); when the
    server stops, :meth:`restore` removes them, so the same ``AsyncServer`` can be served
    again (a re-run cell) without being wrapped twice.
    """

    def __init__(self) -> None:
        self._saved: list[tuple[Any, str, Any, bool]] = []

    def replace(self, owner: Any, name: str, new: Any) -> None:
        """``owner.name = new``, or ``owner[name] = new`` for a dict."""
        if isinstance(owner, dict):
            self._saved.append((owner, name, owner.get(name), name in owner))
            owner[name] = new
        else:
            own = vars(owner)
            self._saved.append((owner, name, own.get(name), name in own))
            setattr(owner, name, new)

    def restore(self) -> None:
        for owner, name, old, had in reversed(self._saved):
            if isinstance(owner, dict):
                if had:
                    owner[name] = old
                else:
                    owner.pop(name, None)
            elif had:
                setattr(owner, name, old)
            else:
                with contextlib.suppress(AttributeError):
                    delattr(owner, name)
        self._saved.clear()


# websockets ------------------------------------------------------------------------------


class GarbageAnswer:
    """websockets closes silently on bytes that are not HTTP; labkit answers 400 first.

    A student who types a malformed request by hand should see why it failed. This
    replaces the protocol's ``send_eof`` on the instance: changing the object's class
    instead would cost every later message about 4 % (CPython rebuilds the instance
    dict on ``__class__`` assignment; ``labkit bench throughput`` shows it).
    Internals used: ``ServerProtocol.send_eof``, ``.state``, ``.handshake_exc``,
    ``.reject``, ``.send_response``.
    """

    def __init__(self, protocol: Any) -> None:
        self.protocol = protocol
        self.send_eof = protocol.send_eof
        self.rejection: Any = None

    def send_eof_after_400(self) -> None:
        from websockets.exceptions import InvalidMessage
        from websockets.protocol import CONNECTING

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


def answer_garbage_with_400(protocol: Any) -> GarbageAnswer:
    """Install :class:`GarbageAnswer` on one websockets ``ServerProtocol``; keep it for its response."""
    garbage = GarbageAnswer(protocol)
    protocol.send_eof = garbage.send_eof_after_400
    return garbage


def record_what_is_sent(protocol: Any, record: Record, conn: int) -> None:
    """Note every message the websockets protocol sends: from ``send``, ``broadcast``, any handler.

    Wrapping the sans-I/O protocol's ``send_text``/``send_binary`` on this instance costs one
    plain call per message, far less than wrapping the connection's ``send`` coroutine
    (``labkit bench throughput`` measured 0.74 against 0.88 of bare websockets). A message
    sent in fragments is noted by its first fragment. Internals used:
    ``ServerProtocol.send_text(data, fin)``, ``send_binary(data, fin)``.
    """
    send_text, send_binary, note = protocol.send_text, protocol.send_binary, record.message

    def text(data: bytes, fin: bool = True) -> None:
        send_text(data, fin)
        note(conn, SERVER_TO_CLIENT, data.decode("utf-8", "replace"))

    def binary(data: bytes, fin: bool = True) -> None:
        send_binary(data, fin)
        note(conn, SERVER_TO_CLIENT, bytes(data))

    protocol.send_text = text
    protocol.send_binary = binary


# python-socketio -------------------------------------------------------------------------


def _args(data: Any) -> tuple[Any, ...]:
    return tuple(data) if isinstance(data, list | tuple) else (data,)


def _target_label(to: Any, skip_sid: Any, numbers: dict[str, int]) -> Text:
    """Who an emit went to, as the record says it: everyone, a room, sessions; minus the skipped."""
    if to is None:
        es, en = "todos", "everyone"
    else:
        targets = to if isinstance(to, list) else [to]
        es = ", ".join(f"sesión {numbers[t]}" if t in numbers else f"sala {t!r}" for t in targets)
        en = ", ".join(f"session {numbers[t]}" if t in numbers else f"room {t!r}" for t in targets)
    skipped = [numbers[s] for s in (skip_sid if isinstance(skip_sid, list) else [skip_sid]) if s in numbers]
    if skipped:
        es += " menos la sesión " + ", ".join(map(str, skipped))
        en += " but session " + ", ".join(map(str, skipped))
    return Text(es, en)


def _other_connect_signature(event: str, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """A connect call's other way when the client sent no ``auth``: (sid, environ) <-> (sid, environ, None)."""
    if event != "connect":
        return None
    if len(args) == 2:
        return (*args, None)
    if len(args) == 3 and args[2] is None:
        return args[:2]
    return None


class SocketIORecorder:
    """Records what one ``socketio.AsyncServer`` sees and sends, numbering its sessions 1, 2, …

    Internals used: ``AsyncServer._trigger_event(event, namespace, *args)`` (every event a
    client causes, ``connect`` and ``disconnect`` included), ``AsyncServer._send_packet``
    (acknowledgements), ``AsyncServer.emit`` (wrapped on the instance), ``.transport(sid)``,
    ``.not_handled`` and ``socketio.packet.ACK``.
    """

    def __init__(self, sio: Any, record: Record, max_rate: float | None = None) -> None:
        self.sio = sio
        self.record = record
        self.max_rate = max_rate
        #: Sessions whose connect was recorded (python-socketio may trigger it twice).
        self.opened: set[str] = set()
        #: Session id -> its token bucket, when sessions are limited to ``max_rate`` events a second.
        self.limits: dict[str, RateLimit] = {}
        #: Socket.IO session id -> session number in the record.
        self.numbers: dict[str, int] = {}
        from socketio.exceptions import ConnectionRefusedError

        #: What a connect handler raises to say no, with a reason the client sees.
        self.refused: type[Exception] = ConnectionRefusedError
        self._trigger_event = sio._trigger_event
        self._send_packet = sio._send_packet
        self._emit = sio.emit

    def allowed(self, sid: str) -> bool:
        limit = self.limits.get(sid)
        if limit is None:
            assert self.max_rate is not None
            limit = self.limits[sid] = RateLimit(self.max_rate)
        return bool(limit.allow())

    def number(self, sid: str) -> int:
        if sid not in self.numbers:
            self.numbers[sid] = self.record.new_connection()
        return self.numbers[sid]

    async def trigger_event(self, event: str, namespace: str, *args: Any) -> Any:
        record = self.record
        sid = args[0] if args and isinstance(args[0], str) else None
        conn = self.number(sid) if sid is not None else None
        shown = event if namespace in (None, "/") else f"{namespace} {event}"
        if event == "connect" and sid in self.opened:
            pass  # a second try python-socketio makes itself: recorded once
        elif event == "connect" and sid is not None and len(args) >= 2 and isinstance(args[1], dict):
            self.opened.add(sid)
            environ = args[1]
            try:
                transport = self.sio.transport(sid, namespace)
            except Exception:
                transport = None
            record.add("open", conn, Opened(str(environ.get("REMOTE_ADDR", "?")), transport))
            headers = tuple((k[5:].replace("_", "-").title(), v) for k, v in environ.items() if k.startswith("HTTP_"))
            record.add("request", conn, HttpHead.of(request_line(environ, cache_buster=True), headers))
        elif event == "disconnect":
            reason = args[1] if len(args) > 1 and isinstance(args[1], str) else None
            record.add("close", conn, Ended(reason or Text("motivo desconocido", "unknown reason")))
        else:
            record.add("recv", conn, SocketIOEvent(shown, tuple(args[1:])), direction=CLIENT_TO_SERVER)
            if self.max_rate is not None and sid is not None and not self.allowed(sid):
                record.error(
                    conn,
                    Text(
                        f"la sesión envía más de {self.max_rate:g} eventos por segundo: desconectada",
                        f"the session sends over {self.max_rate:g} events a second: disconnected",
                    ),
                )
                asyncio.get_running_loop().create_task(self.sio.disconnect(sid, namespace=namespace))
                return self.sio.not_handled
        # python-socketio calls a connect handler with or without ``auth`` and, on a TypeError,
        # tries the other way; which comes first depends on its version (5.14: without). labkit
        # tries both itself, with ``auth`` first, so that every version records the same error.
        first_try, second_try = args, _other_connect_signature(event, args)
        if second_try is not None and len(second_try) > len(first_try):
            first_try, second_try = second_try, first_try
        try:
            try:
                return await self._trigger_event(event, namespace, *first_try)
            except TypeError as first:
                if second_try is None:
                    raise
                try:
                    return await self._trigger_event(event, namespace, *second_try)
                except TypeError:
                    raise first from None
        except Exception as exc:
            if isinstance(exc, self.refused):
                # A connect handler's refusal is its answer, not a failure: python-socketio sends
                # the reason to the client (its connect_error; packet 4, CONNECT_ERROR), so it goes on.
                record.add("close", conn, Ended(Text(f"conexión rechazada: {exc}", f"connection refused: {exc}")))
                if sid is not None:  # a refused session never disconnects: forget it now
                    self.numbers.pop(sid, None)
                    self.limits.pop(sid, None)
                    self.opened.discard(sid)
                raise
            # python-socketio would let this escape into an unawaited task (asyncio prints it to
            # stderr) or fail the connection; labkit records it and keeps serving everyone.
            record.error(
                conn,
                Text(f"el manejador de {shown!r} falló: {exc!r}", f"the {shown!r} handler failed: {exc!r}"),
                traceback.format_exc(),
            )
            if event == "connect":
                return False  # refuse the connection, as a handler that returns False does
            return self.sio.not_handled
        finally:
            if event == "disconnect" and sid is not None:
                self.numbers.pop(sid, None)
                self.limits.pop(sid, None)
                self.opened.discard(sid)

    async def send_packet(self, eio_sid: str, pkt: Any) -> None:
        import socketio.packet

        if pkt.packet_type in (socketio.packet.ACK, socketio.packet.BINARY_ACK):
            sid = self.sio.manager.sid_from_eio_sid(eio_sid, pkt.namespace or "/")
            conn = self.numbers.get(sid) if sid else None
            self.record.add("send", conn, Ack(_args(pkt.data)), direction=SERVER_TO_CLIENT)
        await self._send_packet(eio_sid, pkt)

    async def emit(self, event: str, data: Any = None, to: Any = None, room: Any = None, **kwargs: Any) -> Any:
        target = to if to is not None else room
        conn = self.numbers.get(target) if isinstance(target, str) else None
        label = None if conn is not None else _target_label(target, kwargs.get("skip_sid"), self.numbers)
        args = () if data is None else _args(data) if isinstance(data, tuple) else (data,)
        namespace = kwargs.get("namespace")
        shown = event if namespace in (None, "/") else f"{namespace} {event}"
        self.record.add("send", conn, SocketIOEvent(shown, args, label), direction=SERVER_TO_CLIENT)
        return await self._emit(event, data, to=to, room=room, **kwargs)


def request_line(environ: dict[str, Any], cache_buster: bool = False) -> str:
    """The request line; without ``cache_buster`` it leaves out the ``t=`` stamp polling adds."""
    query = environ.get("QUERY_STRING", "")
    if not cache_buster:
        query = "&".join(part for part in query.split("&") if not part.startswith("t="))
    return f"{environ.get('REQUEST_METHOD', 'GET')} {environ.get('PATH_INFO', '/')}{'?' + query if query else ''}"


def record_socketio(sio: Any, record: Record, undo: Undo, max_rate: float | None = None) -> SocketIORecorder:
    """Install a :class:`SocketIORecorder` on ``sio`` (its own methods, not the class's)."""
    recorder = SocketIORecorder(sio, record, max_rate)
    undo.replace(sio, "_trigger_event", recorder.trigger_event)
    undo.replace(sio, "_send_packet", recorder.send_packet)
    undo.replace(sio, "emit", recorder.emit)
    return recorder


# python-engineio -------------------------------------------------------------------------


def close_polling_sessions_promptly(sio: Any, background: set[asyncio.Task[Any]], undo: Undo) -> Callable[[str], None]:
    """Answer a leaving long-polling client at once instead of after its timeouts.

    Two gaps of python-engineio, both measured in tests/servers/test_socketio.py:

    - its client can stop its write loop before it sends the close packet (``1``) that
      should follow a Socket.IO disconnect (``41``), and then waits for the server's next
      ping (25 s) to end its pending GET; so when a polling client leaves the only
      namespace, the returned function closes its Engine.IO session right away;
    - when a polling session closes, the server leaves the GET the client still has open
      unanswered, and the client's ``disconnect()`` waits for its read timeout (30 s); so
      the session's disconnect handler first queues a no-op packet that answers that GET.

    Internals used: ``eio.handlers["disconnect"]``, ``eio.sockets``, a socket's
    ``upgraded``, ``closing``, ``closed`` and ``queue``, ``manager.eio_sid_from_sid``.
    """
    import engineio.packet

    eio = sio.eio
    socketio_disconnect = eio.handlers["disconnect"]

    async def engineio_disconnect(eio_sid: str, reason: Any = None) -> Any:
        socket = eio.sockets.get(eio_sid)
        if socket is not None and not socket.upgraded:
            socket.queue.put_nowait(engineio.packet.Packet(engineio.packet.NOOP))
        return await socketio_disconnect(eio_sid, reason)

    undo.replace(eio.handlers, "disconnect", engineio_disconnect)

    def end_polling_session(sid: str) -> None:
        eio_sid = sio.manager.eio_sid_from_sid(sid, "/")
        socket = eio.sockets.get(eio_sid) if eio_sid else None
        if socket is not None and not socket.upgraded and not socket.closing and not socket.closed:
            task = asyncio.get_running_loop().create_task(eio.disconnect(eio_sid))
            background.add(task)
            task.add_done_callback(background.discard)

    return end_polling_session


def cap_polling_batches(sio: Any, undo: Undo) -> None:
    """Answer each long-polling GET with no more packets than python-engineio's client decodes.

    python-engineio's server answers a GET with every packet queued for the session, but its
    client refuses a payload of more than ``Payload.max_decode_packets`` (16): it drops the
    connection ("Too many packets in payload", python-engineio issue 142) and the burst is
    lost. Socket.IO's JavaScript client has no such limit. Each new session's ``poll`` here
    takes at most that many packets; the rest wait for the client's next GET.
    Internals used: ``eio.handlers["connect"]``, ``eio.sockets``, a socket's ``poll``,
    ``queue`` and ``server.ping_interval`` / ``ping_timeout`` (python-engineio 4).
    """
    import engineio.exceptions
    import engineio.payload

    eio = sio.eio
    socketio_connect = eio.handlers["connect"]

    def capped_poll(socket: Any) -> Callable[[], Any]:
        async def poll() -> list[Any]:
            try:
                first = await asyncio.wait_for(
                    socket.queue.get(), socket.server.ping_interval + socket.server.ping_timeout
                )
                socket.queue.task_done()
            except (TimeoutError, asyncio.CancelledError):
                raise engineio.exceptions.QueueEmpty() from None
            if first is None:  # the session is closing
                return []
            packets = [first]
            while len(packets) < engineio.payload.Payload.max_decode_packets:
                try:
                    packet = socket.queue.get_nowait()
                except asyncio.QueueEmpty:
                    break
                socket.queue.task_done()
                if packet is None:
                    socket.queue.put_nowait(None)  # keep the end of the session for the next GET
                    break
                packets.append(packet)
            return packets

        return poll

    async def engineio_connect(eio_sid: str, *args: Any) -> Any:
        socket = eio.sockets.get(eio_sid)
        if socket is not None:
            socket.poll = capped_poll(socket)
        return await socketio_connect(eio_sid, *args)

    undo.replace(eio.handlers, "connect", engineio_connect)


def drop_slow_readers(sio: Any, record: Record, numbers: dict[str, int], max_queued: int, undo: Undo) -> None:
    """Disconnect a session whose unsent packets pass ``max_queued`` instead of queueing for ever.

    python-engineio queues every packet for a session without limit, so a client that
    stops reading while a chat floods makes the server's memory grow by the whole flood.
    This wraps ``eio.send_packet`` on one server: past the limit the session is closed
    (its ``disconnect`` handlers run), its queue is emptied, and a WebSocket transport's
    TCP connection is cut (its writer is stuck on a client that never reads).
    Internals used: ``eio.send_packet``, ``eio.sockets``, a socket's ``queue``, ``closed``,
    ``closing`` and ``close(wait, abort, reason)``, ``sio.environ[eio_sid]["aiohttp.request"]``.
    """
    eio = sio.eio
    send_packet = eio.send_packet

    async def guarded_send_packet(eio_sid: str, pkt: Any) -> None:
        socket = eio.sockets.get(eio_sid)
        if socket is not None and socket.queue.qsize() >= max_queued:
            if not socket.closing and not socket.closed:
                sid = sio.manager.sid_from_eio_sid(eio_sid, "/")
                record.error(
                    numbers.get(sid) if sid else None,
                    Text(
                        f"cliente demasiado lento: {max_queued} paquetes sin enviar; desconectado",
                        f"client too slow: {max_queued} packets unsent; disconnected",
                    ),
                )
                await socket.close(wait=False, abort=True, reason="client too slow")
                while not socket.queue.empty():
                    socket.queue.get_nowait()
                    socket.queue.task_done()
                request = sio.environ.get(eio_sid, {}).get("aiohttp.request")
                if request is not None and request.transport is not None:
                    request.transport.abort()
            return
        await send_packet(eio_sid, pkt)

    undo.replace(eio, "send_packet", guarded_send_packet)


# aiohttp ---------------------------------------------------------------------------------


class ConnectionCounter:
    """Numbers the TCP connections of an aiohttp low-level ``web.Server`` and records them.

    aiohttp has no public hook for a connection's start and end; its ``web.Server`` is told
    of both by each connection's request handler (``connection_made(handler, transport)``,
    ``connection_lost(handler, exc)``), which this wraps on one server instance.
    """

    def __init__(self, server: Any, record: Record) -> None:
        self.record = record
        self.numbers: dict[Any, int] = {}
        made, lost = server.connection_made, server.connection_lost

        def connection_made(handler: Any, transport: Any) -> None:
            conn = self.numbers[handler] = record.new_connection()
            peer = transport.get_extra_info("peername")
            record.add("open", conn, Opened(f"{peer[0]}:{peer[1]}" if peer else "?"))
            made(handler, transport)

        def connection_lost(handler: Any, exc: BaseException | None = None) -> None:
            conn = self.numbers.pop(handler, None)
            lost(handler, exc)
            record.add("close", conn, Ended())

        server.connection_made = connection_made
        server.connection_lost = connection_lost

    def number(self, handler: Any) -> int | None:
        return self.numbers.get(handler)
