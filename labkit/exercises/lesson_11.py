"""Lesson 11's exercise: a Socket.IO chat that loses nothing and repeats nothing across a broken network.

The student writes ``chat_sin_perdidas()``, which builds a ``socketio.AsyncServer``: the
stub stores each message in a list (its offset is its position, from 1) and acknowledges
it; the student adds the two pieces the lesson measured. The check serves it and drives
real clients through three faults, one after another, each bounded in time:

1. *A retried message.* The way back to the sender is cut (``tap.cut("S→C")``), so its
   acknowledgements never come and its at-least-once client sends the same message again,
   with the same idempotency key: the chat must pass it on once.
2. *A client away.* A listener's connection is reset and its cable cut while two messages
   are sent; it comes back with ``auth={"serverOffset": n}`` (the last offset it saw, as
   the Socket.IO tutorial's client does), and ``connect`` must send it what it missed, to it
   alone, in order, with their offsets.
3. *A newcomer* that sends no ``auth`` (python-socketio then passes ``auth=None``) gets the
   whole log.

It says exactly which messages each client lost or got twice, and stops at the first fault
that shows a mistake, so the stub's verdict is always the same sentence.
"""

from __future__ import annotations

__all__ = ["ACK_TIMEOUT", "EVENT", "SETTLE", "WAIT", "check"]

import threading
import time
from collections.abc import Callable
from typing import Any

import socketio

from ..delivery import ChatClient, chat_client
from ..errors import LabkitError
from ..i18n import say
from ..loop import LoopThread
from ..network import SHORT_SOCKETIO_RECONNECTION
from ..record import SERVER_TO_CLIENT
from ..servers import Server, serve
from ..wiretap import Tap, tap
from . import Result, failed, passed

#: The Socket.IO tutorial's event: ``(text, key)`` from a sender, ``(text, offset)`` from the server.
EVENT = "chat message"
#: Seconds the sender waits for an acknowledgement before it sends the message again.
ACK_TIMEOUT = 0.3
#: Seconds any one step may take (a connection, an acknowledgement, a message) before the check gives up on it.
WAIT = 5.0
#: Seconds the check keeps listening after the last expected message, so that a late duplicate shows.
SETTLE = 0.3

#: What the sender writes, in order (the first before any fault, the last after all of them).
FIRST, RETRIED, AWAY, AFTER = "uno", "dos", ("tres", "cuatro"), "cinco"
LOG = (FIRST, RETRIED, *AWAY, AFTER)


def check(chat_sin_perdidas: Callable[[], object]) -> Result:
    """Serve ``chat_sin_perdidas()`` and drive real clients through a lost acknowledgement, a client
    away and a newcomer; say exactly what each client lost or got twice."""
    try:
        sio = chat_sin_perdidas()
    except Exception as exc:
        return failed(
            f"chat_sin_perdidas() lanzó {type(exc).__name__}: {exc}",
            f"chat_sin_perdidas() raised {type(exc).__name__}: {exc}",
        )
    if not isinstance(sio, socketio.AsyncServer):
        return failed(
            f"chat_sin_perdidas() devolvió {sio!r}; debe devolver el `socketio.AsyncServer` que crea (`return sio`).",
            f"chat_sin_perdidas() returned {sio!r}; it must return the `socketio.AsyncServer` it creates "
            "(`return sio`).",
        )
    try:
        server = serve(sio, over="socketio", name="exercise-11")
    except LabkitError as exc:
        return failed(str(exc), str(exc))
    run = _Run(server)
    try:
        return run.faults()
    except LabkitError as exc:  # a step that never happened: a connection, an acknowledgement
        error = run.handler_error()  # a Result is falsy when it did not pass: compare with None
        return error if error is not None else failed(str(exc), str(exc))
    except Exception as exc:  # a check never raises into the student's cell
        return failed(
            f"la comprobación no pudo terminar ({type(exc).__name__}: {exc}); vuelve a ejecutar la celda.",
            f"the check could not finish ({type(exc).__name__}: {exc}); run the cell again.",
        )
    finally:
        run.stop()


class _Listener:
    """A client as the Socket.IO tutorial writes it: it keeps every message as it comes (a duplicate
    too) and, with ``offsets``, sends the last offset it saw as ``auth={"serverOffset": n}`` on every
    (re)connection; without, it sends no ``auth``."""

    def __init__(self, url: str, offsets: bool) -> None:
        self.got: list[tuple[Any, ...]] = []
        self.offset = 0
        self.connections = 0
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self._loop = LoopThread("labkit-exercise-11-listener")
        self._sio = socketio.AsyncClient(**SHORT_SOCKETIO_RECONNECTION)
        self._sio.on("connect", self._on_connect)
        self._sio.on("disconnect", self._on_disconnect)
        self._sio.on(EVENT, self._on_message)
        auth = (lambda: {"serverOffset": self.offset}) if offsets else None
        try:
            self._loop.run(self._sio.connect(url, transports=["websocket"], auth=auth), timeout=WAIT)
        except Exception:
            self.stop()
            raise LabkitError(
                say(
                    "un cliente de la comprobación no pudo conectarse a tu chat",
                    "one of the check's clients could not connect to your chat",
                )
            ) from None

    async def _on_connect(self) -> None:
        with self._lock:
            self.connections += 1
        self._connected.set()

    async def _on_disconnect(self, reason: Any = None) -> None:
        self._connected.clear()

    async def _on_message(self, *args: Any) -> None:
        with self._lock:
            self.got.append(args)
            if len(args) >= 2 and isinstance(args[1], int) and not isinstance(args[1], bool):
                self.offset = args[1]  # the tutorial's client: socket.auth.serverOffset = serverOffset

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def texts(self) -> list[Any]:
        with self._lock:
            return [args[0] if args else None for args in self.got]

    def messages(self) -> list[tuple[Any, ...]]:
        with self._lock:
            return list(self.got)

    def stop(self) -> None:
        try:
            self._loop.run(self._sio.shutdown(), timeout=WAIT)
        except Exception:
            pass
        finally:
            self._loop.close()


def _wait(condition: Callable[[], bool], seconds: float = WAIT) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() >= deadline:
            return condition()
        time.sleep(0.01)
    return True


def _step(done: bool, es: str, en: str) -> None:
    if not done:
        raise LabkitError(say(es, en))


def _quoted(texts: list[str] | tuple[str, ...]) -> str:
    return ", ".join(f"«{text}»" for text in texts)


class _Run:
    """One server, a sender and a listener through taps of their own, and the three faults in turn."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.cables: list[Tap] = []
        self.listeners: list[_Listener] = []
        self.sender: ChatClient | None = None

    def cable(self, name: str) -> Tap:
        cable = tap(self.server.url, name=f"exercise-11-{name}-cable")
        self.cables.append(cable)
        return cable

    def listener(self, url: str, offsets: bool) -> _Listener:
        listener = _Listener(url, offsets)
        self.listeners.append(listener)
        return listener

    def stop(self) -> None:
        for listener in self.listeners:
            listener.stop()
        if self.sender is not None:
            self.sender.stop()
        for cable in self.cables:
            cable.stop()
        self.server.stop()

    def handler_error(self) -> Result | None:
        """The first error the server recorded (a handler that raised), as the verdict."""
        errors = self.server.record.errors()
        if not len(errors):
            return None
        detail = str(errors.entries[0].detail)
        hint = say(
            " Recuerda: `auth` llega como `None` cuando el cliente no manda nada.",
            " Remember: `auth` is `None` when the client sends nothing.",
        )
        return failed(
            f"tu servidor falló: {detail}.{hint if 'None' in detail else ''} "
            "Los detalles, con la línea exacta, en `server.record.errors()` si lo sirves tú.",
            f"your server failed: {detail}.{hint if 'None' in detail else ''} "
            "The details, with the exact line, in `server.record.errors()` if you serve it yourself.",
        )

    def faults(self) -> Result:
        sender_cable, listener_cable = self.cable("sender"), self.cable("listener")
        self.sender = sender = chat_client(sender_cable.url, name="exercise-11-sender", ack_timeout=ACK_TIMEOUT)
        listener = self.listener(listener_cable.url, offsets=True)
        _wait(lambda: len(self.server.record.errors()) > 0, SETTLE)  # a connect handler that failed
        if (error := self.handler_error()) is not None:
            return error
        _step(
            sender.send_reliably(FIRST, timeout=WAIT) and _wait(lambda: FIRST in listener.texts()),
            f"tu chat no pasó «{FIRST}» a los demás: ¿emite cada mensaje a todos con `sio.emit`?",
            f"your chat did not pass «{FIRST}» on to the others: does it emit each message to everyone with "
            "`sio.emit`?",
        )

        # 1. A retried message: the acknowledgements are lost, the message is not.
        sender_cable.cut(SERVER_TO_CLIENT)
        sender.send_reliably(RETRIED, wait=False)
        retried = _wait(lambda: sender.retries >= 2)
        sender_cable.restore()
        _step(
            retried and sender.wait_sent(WAIT),
            f"el emisor no recibió la confirmación de «{RETRIED}»: ¿devuelve algo tu manejador (`return`)?",
            f"the sender never got the acknowledgement of «{RETRIED}»: does your handler return something (`return`)?",
        )
        _wait(lambda: RETRIED in listener.texts())
        time.sleep(SETTLE)
        if (error := self.handler_error()) is not None:
            return error
        if listener.texts().count(RETRIED) > 1 or sender.texts().count(RETRIED) > 1:
            return failed(
                f"«{RETRIED}» llegó repetido a los demás. Sus confirmaciones no volvían, así que el emisor lo "
                "reintentó con la misma clave: si la clave ya está en `claves`, no lo guardes ni lo difundas otra "
                "vez (confirma igual, para que deje de reintentar).",
                f"«{RETRIED}» reached the others more than once. Its acknowledgements never came back, so the sender "
                "retried it with the same key: if the key is already in `claves`, neither store nor broadcast it again "
                "(acknowledge it all the same, so that it stops retrying).",
            )

        if (verdict := _judge_offsets(listener.messages(), say("un cliente", "a client"))) is not None:
            return verdict

        # 2. A client away: its connection reset (both ends notice at once) and its cable cut meanwhile.
        seen_before = listener.offset  # what it sends as serverOffset when it comes back: 2, if offsets are right
        listener_cable.cut()
        listener_cable.reset_connections()
        _step(
            _wait(lambda: not listener.connected),
            "el cliente desconectado no notó el corte",
            "the disconnected client never noticed the cut",
        )
        _step(
            sender.send_reliably(*AWAY, timeout=WAIT),
            f"el emisor no recibió la confirmación de {_quoted(AWAY)}",
            f"the sender never got the acknowledgement of {_quoted(AWAY)}",
        )
        listener_cable.restore()
        _step(
            _wait(lambda: listener.connected and listener.connections >= 2),
            "el cliente desconectado no pudo volver a conectarse",
            "the disconnected client could not connect again",
        )
        _wait(lambda: len(listener.texts()) >= len(LOG) - 1, 1.0)  # the replay, if there is one
        _step(
            sender.send_reliably(AFTER, timeout=WAIT) and _wait(lambda: AFTER in sender.texts()),
            f"el emisor no recibió la confirmación de «{AFTER}»",
            f"the sender never got the acknowledgement of «{AFTER}»",
        )
        _wait(lambda: AFTER in listener.texts())
        time.sleep(SETTLE)
        if (error := self.handler_error()) is not None:
            return error
        if (verdict := self._judge_away(listener, sender, seen_before)) is not None:
            return verdict

        # 3. A newcomer without auth: the whole log.
        newcomer = self.listener(self.server.url, offsets=False)
        _wait(lambda: len(newcomer.texts()) >= len(LOG), 1.0)
        time.sleep(SETTLE)
        if (error := self.handler_error()) is not None:
            return error
        if (verdict := self._judge_newcomer(newcomer, listener, sender)) is not None:
            return verdict
        return passed(
            f"nada perdido ni repetido: «{RETRIED}», reintentado con la misma clave, pasó una sola vez; el "
            f"cliente que volvió con serverOffset {seen_before} recibió solo {_quoted(AWAY)}, en orden y con sus "
            f"offsets; y uno nuevo, sin `auth`, recibió los {len(LOG)} mensajes del registro.",
            f"nothing lost, nothing repeated: «{RETRIED}», retried with the same key, went through once; the client "
            f"that came back with serverOffset {seen_before} got only {_quoted(AWAY)}, in order and with their "
            f"offsets; and a newcomer without `auth` got the log's {len(LOG)} messages.",
        )

    def _judge_away(self, listener: _Listener, sender: ChatClient, seen_before: int) -> Result | None:
        got = listener.texts()
        lost = [text for text in AWAY if text not in got]
        if lost:
            return failed(
                f"el cliente que estuvo desconectado perdió {_quoted(lost)}: volvió con "
                f"`auth={{'serverOffset': {seen_before}}}`, y `connect` debe enviarle (a su sid, en orden) cada "
                f"mensaje con offset mayor que {seen_before}.",
                f"the client that was away lost {_quoted(lost)}: it came back with "
                f"`auth={{'serverOffset': {seen_before}}}`, and `connect` must send it (to its sid, in order) every "
                f"message with an offset greater than {seen_before}.",
            )
        repeated = [text for text in LOG if got.count(text) > 1]
        if repeated:
            return failed(
                f"el cliente que volvió con serverOffset {seen_before} recibió otra vez {_quoted(repeated)}, que ya "
                f"tenía: envíale solo los mensajes con offset mayor que {seen_before}.",
                f"the client that came back with serverOffset {seen_before} got {_quoted(repeated)} again, which it "
                f"had already: send it only the messages with an offset greater than {seen_before}.",
            )
        twice = [text for text in LOG if sender.texts().count(text) > 1]
        if twice:
            return failed(
                f"el emisor, que nunca se desconectó, recibió dos veces {_quoted(twice)}: envía lo que se perdió "
                "solo a quien vuelve (`to=sid`), no a todos.",
                f"the sender, which never disconnected, got {_quoted(twice)} twice: send what was missed only to "
                "the client coming back (`to=sid`), not to everyone.",
            )
        if got != list(LOG):
            return failed(
                f"el cliente que volvió recibió {got}, en ese orden; se esperaba {list(LOG)}: envía lo que se perdió "
                "en el orden del registro, de offset menor a mayor.",
                f"the client that came back got {got}, in that order; expected {list(LOG)}: send what it missed in "
                "the log's order, from the lowest offset up.",
            )
        return _judge_offsets(listener.messages(), say("el cliente que volvió", "the client that came back"))

    def _judge_newcomer(self, newcomer: _Listener, listener: _Listener, sender: ChatClient) -> Result | None:
        got = newcomer.texts()
        if not got:
            return failed(
                "un cliente nuevo, que no manda `auth`, no recibió nada del registro: para tu `connect`, `auth` es "
                "`None`; trátalo como serverOffset 0 y envíale todo.",
                "a newcomer, which sends no `auth`, got nothing from the log: your `connect` gets `auth=None`; treat "
                "it as serverOffset 0 and send it everything.",
            )
        if got != list(LOG):
            return failed(
                f"un cliente nuevo, sin `auth`, recibió {got}; se esperaba todo el registro, en orden: {list(LOG)}.",
                f"a newcomer without `auth` got {got}; expected the whole log, in order: {list(LOG)}.",
            )
        for someone, words in ((listener, ("el cliente que volvió", "the client that came back")), (sender, None)):
            texts = someone.texts()
            if len(texts) > len(LOG):
                who = say(*words) if words else say("el emisor", "the sender")
                return failed(
                    f"cuando llegó un cliente nuevo, {who} recibió otra vez {_quoted(texts[len(LOG) :])}: "
                    "el historial va solo al que llega (`to=sid`).",
                    f"when a newcomer arrived, {who} got {_quoted(texts[len(LOG) :])} again: the history goes "
                    "only to the client arriving (`to=sid`).",
                )
        return _judge_offsets(newcomer.messages(), say("el cliente nuevo", "the newcomer"))


def _judge_offsets(messages: list[tuple[Any, ...]], who: str) -> Result | None:
    """Each message must come with its offset, its position in the log counting from 1."""
    for expected, args in enumerate(messages, 1):
        offset = args[1] if len(args) >= 2 else None
        if offset != expected:
            text = args[0] if args else None
            return failed(
                f"{who} recibió «{text}» con offset {offset!r}; su offset es {expected}, su posición en el registro "
                "contando desde 1: emítelo como `(texto, offset)`.",
                f"{who} got «{text}» with offset {offset!r}; its offset is {expected}, its position in the log "
                "counting from 1: emit it as `(texto, offset)`.",
            )
    return None
