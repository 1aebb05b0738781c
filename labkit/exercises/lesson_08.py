"""Lesson 08's exercise: a whole chat server in one function, judged by real Socket.IO clients.

The student writes ``crear_servidor()``, which returns a ``socketio.AsyncServer`` with the
chat's handlers: names from ``auth``, rooms (``join``, ``leave``) with acknowledgements,
``chat`` to the others in a room, ``private`` to one person, and ``online`` in a second
namespace, ``/admin``. The check serves it with ``labkit.serve`` and talks to it with
python-socketio clients (Ana, Beto and Caro on ``/``, a moderator on ``/admin``), one rule at
a time; it stops at the first rule broken with one sentence saying what happened and what to
change. A handler that raised is quoted from the server's record (``record.errors()``).
"""

from __future__ import annotations

__all__ = ["ACK_WAIT", "ADMIN", "NAMES", "QUIET", "check"]

import contextlib
import time
from collections.abc import Callable
from typing import Any

import socketio

from ..clients import sio_connect
from ..record import Problem
from ..servers import Server, serve
from . import Result, failed, passed

#: The people the check connects to ``/``, by the name each sends in ``auth``.
NAMES = ("Ana", "Beto", "Caro")
#: The second namespace.
ADMIN = "/admin"
#: Seconds an acknowledgement or an awaited event may take.
ACK_WAIT = 2.0
#: Seconds the check listens to make sure that nothing arrives where nothing should.
QUIET = 0.3


class _Wrong(Exception):
    """The first rule the server broke: what to tell the student, in both languages."""

    def __init__(self, es: str, en: str) -> None:
        super().__init__(en)
        self.es = es
        self.en = en


def check(crear_servidor: Callable[[], object]) -> Result:
    """Serve ``crear_servidor()`` and judge it with real clients, rule by rule."""
    try:
        sio = crear_servidor()
    except Exception as exc:
        return failed(
            f"crear_servidor() lanzó {type(exc).__name__}: {exc}.",
            f"crear_servidor() raised {type(exc).__name__}: {exc}.",
        )
    if not isinstance(sio, socketio.AsyncServer):
        return failed(
            f"crear_servidor() devolvió {sio!r}; devuelve el servidor que creaste: `return sio`, "
            'con `sio = socketio.AsyncServer(async_mode="aiohttp")`.',
            f"crear_servidor() returned {sio!r}; return the server you created: `return sio`, "
            'with `sio = socketio.AsyncServer(async_mode="aiohttp")`.',
        )
    if sio.async_mode != "aiohttp":
        return failed(
            f'tu servidor usa async_mode={sio.async_mode!r}; créalo con socketio.AsyncServer(async_mode="aiohttp").',
            f"your server uses async_mode={sio.async_mode!r}; "
            'create it with socketio.AsyncServer(async_mode="aiohttp").',
        )
    server = serve(sio, over="socketio", name="exercise-08")
    clients: list[socketio.SimpleClient] = []
    try:
        _judge(server, clients)
    except _Wrong as wrong:
        return failed(wrong.es + _handler_error(server, "es"), wrong.en + _handler_error(server, "en"))
    finally:
        for client in clients:
            with contextlib.suppress(Exception):
                client.disconnect()
        server.stop()
    return passed(
        "Tu servidor atendió a Ana, Beto, Caro y a una sesión de /admin: salas con sus acks, el chat a los "
        "demás de la sala, un mensaje privado y la lista de /admin, todo como se pedía.",
        "Your server served Ana, Beto, Caro and a session on /admin: rooms with their acks, the chat to the "
        "others in the room, a private message and /admin's list, all as asked.",
    )


def _handler_error(server: Server, lang: str) -> str:
    """The first exception one of the student's handlers raised, as the server recorded it, or nothing."""
    failures = [e for e in server.record.entries("error") if isinstance(e.data, Problem) and e.data.traceback]
    if not failures:
        return ""
    detail = failures[0].detail
    return f" (tu servidor anotó: {detail})" if lang == "es" else f" (your server recorded: {detail})"


class _Person:
    """One of the check's clients and how a verdict names it."""

    def __init__(self, client: socketio.SimpleClient, es: str, en: str) -> None:
        self.client = client
        self.es = es
        self.en = en


def _judge(server: Server, clients: list[socketio.SimpleClient]) -> None:
    """Raise :class:`_Wrong` at the first rule broken; return if every rule holds."""
    ana, beto, caro = (_connect(server, clients, name) for name in NAMES)

    _expect_ack(ana, "join", "python", ["python"])
    _expect_ack(ana, "join", "js", ["js", "python"])
    _expect_ack(ana, "leave", "js", ["python"])
    _expect_ack(beto, "join", "python", ["python"])
    _expect_ack(caro, "join", "js", ["js"])

    message = {"room": "python", "text": "hola, python"}
    ana.client.emit("chat", message)
    _expect_event(beto, "chat", {"from": "Ana", "room": "python", "text": "hola, python"}, ana, message)
    _expect_nothing(
        ana,
        "chat",
        QUIET,
        "a Ana le volvió su propio mensaje: el chat es para los demás de la sala; emite con skip_sid=sid.",
        "Ana got her own message back: the chat is for the others in the room; emit with skip_sid=sid.",
    )
    _expect_nothing(
        caro,
        "chat",
        0.05,
        "a Caro le llegó el chat de la sala python, y no está en ella: emite solo a la sala, con to=sala.",
        "Caro got the chat of room python, and she is not in it: emit only to the room, with to=room.",
    )

    secret = {"to": "Caro", "text": "psst"}
    _expect_ack(ana, "private", secret, True)
    _expect_event(caro, "private", {"from": "Ana", "text": "psst"}, ana, secret)
    _expect_nothing(
        beto,
        "private",
        QUIET,
        "a Beto le llegó el mensaje privado de Ana para Caro: emite solo al sid de Caro, con to=ese_sid.",
        "Beto got Ana's private message for Caro: emit only to Caro's sid, with to=that_sid.",
    )
    _expect_ack(ana, "private", {"to": "Zoe", "text": "¿hola?"}, False)

    admin = _connect(server, clients, None)
    _expect_ack(admin, "online", None, ["Ana", "Beto", "Caro"])
    _expect_no_ack_in_root(ana)
    caro.client.disconnect()
    _expect_online_without_caro(admin)


def _connect(server: Server, clients: list[socketio.SimpleClient], name: str | None) -> _Person:
    """Ana, Beto or Caro on ``/`` with their name in ``auth``; ``None``: a moderator on ``/admin``."""
    try:
        if name is None:
            client = sio_connect(server.url, namespace=ADMIN, wait_timeout=ACK_WAIT)
        else:
            client = sio_connect(server.url, auth={"name": name}, wait_timeout=ACK_WAIT)
    except Exception as exc:
        if name is None:
            raise _Wrong(
                "una sesión no pudo conectarse a /admin: registra sus manejadores con "
                f'namespace="/admin" (la conexión falló con {type(exc).__name__}).',
                'a session could not connect to /admin: register its handlers with namespace="/admin" '
                f"(the connection failed with {type(exc).__name__}).",
            ) from None
        raise _Wrong(
            f"tu servidor rechazó a {name}, que se conectó con auth={{'name': {name!r}}}: en connect, "
            "guarda el nombre y no devuelvas False.",
            f"your server refused {name}, who connected with auth={{'name': {name!r}}}: in connect, "
            "keep the name and do not return False.",
        ) from None
    clients.append(client)
    if name is None:
        return _Person(client, "la sesión de /admin", "the session on /admin")
    return _Person(client, name, name)


def _call(person: _Person, event: str, data: Any) -> tuple[bool, Any]:
    """``(True, answer)``, or ``(False, None)`` when no acknowledgement came in time."""
    try:
        if data is None:
            return True, person.client.call(event, timeout=ACK_WAIT)
        return True, person.client.call(event, data, timeout=ACK_WAIT)
    except socketio.exceptions.TimeoutError:
        return False, None


def _emitted(event: str, data: Any, lang: str) -> str:
    """ "'join' con 'python'": an emit as the verdict tells it."""
    if data is None:
        return repr(event)
    return f"{event!r} con {data!r}" if lang == "es" else f"{event!r} with {data!r}"


def _expect_ack(person: _Person, event: str, data: Any, expected: Any) -> None:
    answered, got = _call(person, event, data)
    if not answered:
        es_fix, en_fix = _no_ack_fix(event)
        raise _Wrong(
            f"{person.es} emitió {_emitted(event, data, 'es')} y tu servidor no contestó en {ACK_WAIT:g} s: {es_fix}",
            f"{person.en} emitted {_emitted(event, data, 'en')} and your server did not answer within "
            f"{ACK_WAIT:g} s: {en_fix}",
        )
    if got != expected:
        es_hint, en_hint = _ack_hint(event, got, expected)
        raise _Wrong(
            f"{person.es} emitió {_emitted(event, data, 'es')} y el ack fue {got!r}; se esperaba {expected!r}."
            + es_hint,
            f"{person.en} emitted {_emitted(event, data, 'en')} and the ack was {got!r}; expected {expected!r}."
            + en_hint,
        )


def _no_ack_fix(event: str) -> tuple[str, str]:
    if event == "online":
        return (
            f'registra @sio.on("online", namespace="{ADMIN}") y devuelve (return) la lista ordenada de nombres.',
            f'register @sio.on("online", namespace="{ADMIN}") and return the sorted list of names.',
        )
    if event == "private":
        return (
            'registra @sio.on("private") y devuelve (return) True si encontraste a esa persona, False si no.',
            'register @sio.on("private") and return True if you found that person, False if not.',
        )
    return (
        f'registra @sio.on("{event}") y devuelve (return) la lista ordenada de las salas de la sesión.',
        f'register @sio.on("{event}") and return the sorted list of the session\'s rooms.',
    )


def _ack_hint(event: str, got: Any, expected: Any) -> tuple[str, str]:
    """One precise hint for a wrong acknowledgement (with its leading space), or nothing."""
    if event in ("join", "leave") and isinstance(got, list | tuple):
        if any(room not in ("python", "js") for room in got):
            return (
                " La sesión también está en una sala que se llama como su sid: quítala de la lista.",
                " The session is also in a room named after its sid: leave it out of the list.",
            )
        if event == "leave" and "js" in got:
            return (" Sal de la sala con sio.leave_room(sid, sala).", " Leave the room with sio.leave_room(sid, room).")
        if sorted(got) == expected:
            return (" Ordena la lista con sorted().", " Sort the list with sorted().")
    if event == "online" and isinstance(got, list | tuple) and sorted(got) == expected:
        return (" Ordena la lista con sorted().", " Sort the list with sorted().")
    if event == "private" and expected is False:
        return (
            " Nadie se llama Zoe: si no encuentras a la persona, devuelve False.",
            " Nobody is called Zoe: when you do not find the person, return False.",
        )
    if event == "private":
        return (
            " Caro está conectada: cuando encuentres su sid y le emitas el mensaje, devuelve True.",
            " Caro is connected: once you find her sid and emit the message to it, return True.",
        )
    return ("", "")


def _next_event(person: _Person, event: str, seconds: float) -> tuple[bool, Any]:
    """The next event named ``event`` within ``seconds`` (other events are skipped): ``(True, data)``."""
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False, None
        try:
            received = person.client.receive(timeout=left)
        except socketio.exceptions.TimeoutError:
            return False, None
        if received and received[0] == event:
            args = received[1:]
            return True, args[0] if len(args) == 1 else (list(args) if args else None)


def _expect_event(person: _Person, event: str, expected: Any, sender: _Person, data: Any) -> None:
    arrived, got = _next_event(person, event, ACK_WAIT)
    if not arrived:
        if event == "chat":
            raise _Wrong(
                f"{sender.es} emitió 'chat' con {data!r} y a {person.es}, que está en la sala python, no le llegó "
                f'ningún "chat" en {ACK_WAIT:g} s: emite "chat" a la sala (to=sala) menos a quien lo envió '
                "(skip_sid=sid).",
                f"{sender.en} emitted 'chat' with {data!r} and {person.en}, who is in room python, got no "
                f'"chat" within {ACK_WAIT:g} s: emit "chat" to the room (to=room) but not to the sender '
                "(skip_sid=sid).",
            )
        raise _Wrong(
            f"{sender.es} emitió 'private' con {data!r} y a {person.es} no le llegó ningún \"private\" en "
            f'{ACK_WAIT:g} s: busca el sid que tiene ese nombre y emite "private" con to=ese_sid.',
            f"{sender.en} emitted 'private' with {data!r} and {person.en} got no \"private\" within "
            f'{ACK_WAIT:g} s: find the sid with that name and emit "private" with to=that_sid.',
        )
    if got != expected:
        es_hint, en_hint = ("", "")
        if isinstance(got, dict) and got.get("from") != expected["from"]:
            es_hint = " Pon en 'from' el nombre que esa sesión mandó en auth al conectarse."
            en_hint = " Put in 'from' the name that session sent in auth when it connected."
        raise _Wrong(
            f"{sender.es} emitió {event!r} con {data!r} y a {person.es} le llegó {got!r}; se esperaba "
            f"{expected!r}." + es_hint,
            f"{sender.en} emitted {event!r} with {data!r} and {person.en} got {got!r}; expected {expected!r}."
            + en_hint,
        )


def _expect_nothing(person: _Person, event: str, seconds: float, es: str, en: str) -> None:
    arrived, _ = _next_event(person, event, seconds)
    if arrived:
        raise _Wrong(es, en)


def _expect_no_ack_in_root(ana: _Person) -> None:
    """``online`` belongs to ``/admin``: on ``/`` nobody should answer it."""
    answered, got = _call(ana, "online", None)
    if answered:
        raise _Wrong(
            f"Ana, en el espacio de nombres /, emitió 'online' y tu servidor contestó {got!r}: la lista es solo "
            f'para /admin; registra "online" solo con namespace="{ADMIN}".',
            f"Ana, on namespace /, emitted 'online' and your server answered {got!r}: the list is for /admin "
            f'only; register "online" only with namespace="{ADMIN}".',
        )


def _expect_online_without_caro(admin: _Person) -> None:
    """Once Caro has left, ``online`` no longer names her (the server notices a moment later)."""
    deadline = time.monotonic() + ACK_WAIT
    got: Any = None
    while time.monotonic() < deadline:
        answered, got = _call(admin, "online", None)
        if answered and got == ["Ana", "Beto"]:
            return
        time.sleep(0.05)
    raise _Wrong(
        f"Caro se desconectó y 'online' en /admin sigue contestando {got!r}; se esperaba ['Ana', 'Beto']: "
        "en disconnect, borra el nombre de esa sesión.",
        f"Caro disconnected and 'online' on /admin still answers {got!r}; expected ['Ana', 'Beto']: "
        "in disconnect, delete that session's name.",
    )
