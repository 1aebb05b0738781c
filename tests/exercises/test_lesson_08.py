"""Lesson 08's check: the notebook's stub fails, a whole chat server passes, each classic mistake is named."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import socketio

import labkit
import labkit.i18n
from labkit.exercises import lesson_08
from tests.exercises.notebook_cells import exercise_function

LESSON = "08-chat-con-socketio.ipynb"


@pytest.fixture(autouse=True)
def spanish_and_nothing_left(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(labkit.i18n, "_chosen", "es")
    yield
    assert labkit.running() == []


def chat_server(
    room_list: str = "sorted",
    leave: bool = True,
    chat_to: str = "room",
    skip_sender: bool = True,
    sign_with: str = "name",
    private_to: str = "one",
    unknown_ack: bool = False,
    online_in: tuple[str, ...] = ("/admin",),
    forget_on_disconnect: bool = True,
    auth_key: str = "name",
) -> socketio.AsyncServer:
    """The exercise's server, right by default; each argument puts in one classic mistake."""
    sio = socketio.AsyncServer(async_mode="aiohttp")
    names: dict[str, str] = {}

    @sio.event  # type: ignore[untyped-decorator]
    async def connect(sid: str, environ: dict[str, Any], auth: dict[str, str]) -> None:
        names[sid] = auth[auth_key]

    @sio.event  # type: ignore[untyped-decorator]
    async def disconnect(sid: str, reason: str) -> None:
        if forget_on_disconnect:
            names.pop(sid, None)

    def rooms(sid: str) -> list[str]:
        if room_list == "with sid":
            return sorted(sio.rooms(sid))
        mine = [room for room in sio.rooms(sid) if room != sid]
        return sorted(mine, reverse=room_list == "reversed")

    @sio.on("join")  # type: ignore[untyped-decorator]
    async def join(sid: str, room: str) -> list[str]:
        await sio.enter_room(sid, room)
        return rooms(sid)

    if leave:

        @sio.on("leave")  # type: ignore[untyped-decorator]
        async def leave_room(sid: str, room: str) -> list[str]:
            await sio.leave_room(sid, room)
            return rooms(sid)

    @sio.on("chat")  # type: ignore[untyped-decorator]
    async def chat(sid: str, message: dict[str, str]) -> None:
        room = message["room"]
        signed = {"from": names[sid] if sign_with == "name" else sid, "room": room, "text": message["text"]}
        await sio.emit("chat", signed, to=room if chat_to == "room" else None, skip_sid=sid if skip_sender else None)

    @sio.on("private")  # type: ignore[untyped-decorator]
    async def private(sid: str, message: dict[str, str]) -> bool:
        for other, name in names.items():
            if name == message["to"]:
                signed = {"from": names[sid], "text": message["text"]}
                await sio.emit("private", signed, to=other if private_to == "one" else None, skip_sid=sid)
                return True
        return unknown_ack

    for namespace in online_in:

        @sio.on("online", namespace=namespace)  # type: ignore[untyped-decorator]
        async def online(sid: str) -> list[str]:
            return sorted(names.values())

    return sio


def verdict(**mistakes: Any) -> str:
    result = lesson_08.check(lambda: chat_server(**mistakes))
    assert not result.passed, "the check let a mistake through"
    return result.message


@pytest.mark.parametrize("language", ["es", "en"])
def test_the_notebook_stub_is_not_yet_correct(language: str) -> None:
    result = lesson_08.check(exercise_function(LESSON, language, "crear_servidor"))
    assert not result.passed
    assert result.message == (
        "Ana emitió 'join' con 'python' y tu servidor no contestó en 2 s: registra @sio.on(\"join\") y devuelve "
        "(return) la lista ordenada de las salas de la sesión."
    )


def test_a_whole_chat_server_passes() -> None:
    result = lesson_08.check(chat_server)
    assert result.passed, result.message
    assert "Ana, Beto, Caro y a una sesión de /admin" in result.message


def test_the_rooms_list_leaves_out_the_sessions_own_room() -> None:
    message = verdict(room_list="with sid")
    assert message.startswith("Ana emitió 'join' con 'python' y el ack fue [")
    assert "se llama como su sid: quítala de la lista" in message


def test_the_rooms_list_is_sorted() -> None:
    message = verdict(room_list="reversed")
    assert message == (
        "Ana emitió 'join' con 'js' y el ack fue ['python', 'js']; se esperaba ['js', 'python']. "
        "Ordena la lista con sorted()."
    )


def test_a_missing_leave_is_named() -> None:
    assert verdict(leave=False) == (
        "Ana emitió 'leave' con 'js' y tu servidor no contestó en 2 s: registra @sio.on(\"leave\") y devuelve "
        "(return) la lista ordenada de las salas de la sesión."
    )


def test_the_sender_does_not_get_her_own_chat_back() -> None:
    assert verdict(skip_sender=False) == (
        "a Ana le volvió su propio mensaje: el chat es para los demás de la sala; emite con skip_sid=sid."
    )


def test_the_chat_stays_in_its_room() -> None:
    assert verdict(chat_to="everyone") == (
        "a Caro le llegó el chat de la sala python, y no está en ella: emite solo a la sala, con to=sala."
    )


def test_the_chat_is_signed_with_the_name_from_auth() -> None:
    message = verdict(sign_with="sid")
    assert message.startswith("Ana emitió 'chat' con {'room': 'python', 'text': 'hola, python'} y a Beto le llegó")
    assert message.endswith("Pon en 'from' el nombre que esa sesión mandó en auth al conectarse.")


def test_a_private_message_reaches_only_its_person() -> None:
    assert verdict(private_to="everyone") == (
        "a Beto le llegó el mensaje privado de Ana para Caro: emite solo al sid de Caro, con to=ese_sid."
    )


def test_a_private_message_to_nobody_is_acknowledged_false() -> None:
    assert verdict(unknown_ack=True) == (
        "Ana emitió 'private' con {'to': 'Zoe', 'text': '¿hola?'} y el ack fue True; se esperaba False. "
        "Nadie se llama Zoe: si no encuentras a la persona, devuelve False."
    )


def test_without_handlers_on_admin_the_namespace_is_refused() -> None:
    assert verdict(online_in=("/",)).startswith(
        'una sesión no pudo conectarse a /admin: registra sus manejadores con namespace="/admin"'
    )


def test_online_answers_only_on_admin() -> None:
    assert verdict(online_in=("/", "/admin")) == (
        "Ana, en el espacio de nombres /, emitió 'online' y tu servidor contestó ['Ana', 'Beto', 'Caro']: la "
        'lista es solo para /admin; registra "online" solo con namespace="/admin".'
    )


def test_disconnect_forgets_the_name() -> None:
    assert verdict(forget_on_disconnect=False) == (
        "Caro se desconectó y 'online' en /admin sigue contestando ['Ana', 'Beto', 'Caro']; se esperaba "
        "['Ana', 'Beto']: en disconnect, borra el nombre de esa sesión."
    )


def test_a_failing_handler_is_quoted_from_the_servers_record() -> None:
    assert verdict(auth_key="nombre") == (
        "tu servidor rechazó a Ana, que se conectó con auth={'name': 'Ana'}: en connect, guarda el nombre y no "
        "devuelvas False. (tu servidor anotó: el manejador de 'connect' falló: KeyError('nombre'))"
    )


@pytest.mark.parametrize(
    ("crear_servidor", "expected"),
    [
        (lambda: None, "crear_servidor() devolvió None; devuelve el servidor que creaste: `return sio`"),
        (
            lambda: socketio.AsyncServer(async_mode="asgi"),
            "tu servidor usa async_mode='asgi'; créalo con socketio.AsyncServer(async_mode=\"aiohttp\").",
        ),
        (lambda: dict[str, object]()["sio"], "crear_servidor() lanzó KeyError: 'sio'."),
    ],
    ids=["returns nothing", "another async mode", "raises"],
)
def test_what_crear_servidor_returns_is_checked_first(crear_servidor: Any, expected: str) -> None:
    result = lesson_08.check(crear_servidor)
    assert not result.passed
    assert result.message.startswith(expected)


def test_the_verdict_speaks_english_in_english_lessons(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(labkit.i18n, "_chosen", "en")
    result = lesson_08.check(exercise_function(LESSON, "en", "crear_servidor"))
    assert repr(result) == (
        "✘ Not yet: Ana emitted 'join' with 'python' and your server did not answer within 2 s: register "
        '@sio.on("join") and return the sorted list of the session\'s rooms.'
    )
