"""Lesson 07's check: the notebook's stub fails, a handler that counts and says goodbye passes, mistakes are named."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest

import labkit
import labkit.i18n
from labkit.exercises import lesson_07
from tests.exercises.notebook_cells import exercise_function

LESSON = "07-la-interfaz-del-navegador.ipynb"


@pytest.fixture(autouse=True)
def spanish_and_nothing_left(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(labkit.i18n, "_chosen", "es")
    yield
    assert labkit.running() == []


async def solution(websocket: Any) -> None:
    async for mensaje in websocket:
        if mensaje == "fin":
            await websocket.close(4000, "adiós")
        else:
            await websocket.send(str(len(mensaje)))


@pytest.mark.parametrize("language", ["es", "en"])
def test_the_notebook_stub_is_not_yet_correct(language: str) -> None:
    result = lesson_07.check(exercise_function(LESSON, language, "contar"))
    assert not result.passed
    assert result.message.startswith("tu manejador no contestó a 'hola' en 2 s.")


def test_a_solution_passes() -> None:
    result = lesson_07.check(solution)
    assert result.passed, result.message
    assert result.message.startswith("tu servidor contestó 5 mensajes con su largo y se despidió con 4000 'adiós'")


@pytest.mark.skipif(shutil.which("node") is None, reason="no Node.js here: the check uses the Python client only")
def test_a_solution_passes_with_node_s_websocket_too() -> None:
    assert lesson_07.node_command() is not None, "Node.js is installed, so its WHATWG WebSocket must be found"
    result = lesson_07.check(solution)
    assert result.passed, result.message
    assert "con el WebSocket de Node.js" in result.message and "wasClean true" in result.message


def test_without_node_the_verdict_says_which_client_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lesson_07, "node_command", lambda: None)
    result = lesson_07.check(solution)
    assert result.passed, result.message
    assert "Lo comprobé con el cliente de Python" in result.message


def test_a_node_that_cannot_run_the_client_does_not_fail_a_right_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    false = shutil.which("false")
    assert false is not None
    monkeypatch.setattr(lesson_07, "node_command", lambda: (false,))  # runs, prints nothing
    result = lesson_07.check(solution)
    assert result.passed, result.message
    assert "Lo comprobé con el cliente de Python" in result.message


@pytest.mark.skipif(shutil.which("node") is None, reason="no Node.js here: the check uses the Python client only")
def test_what_only_a_page_like_client_would_see_is_judged_too() -> None:
    async def python_only(websocket: Any) -> None:
        """Right for labkit's Python client (its User-Agent), wrong for everyone else: a page would notice."""
        python = "labkit" in websocket.request.headers.get("User-Agent", "")
        async for mensaje in websocket:
            if mensaje == "fin":
                await websocket.close(4000 if python else 1000, "adiós")
            else:
                await websocket.send(str(len(mensaje)))

    result = lesson_07.check(python_only)
    assert not result.passed
    assert result.message.startswith(
        "con el cliente de Python todo fue bien, pero el WebSocket de Node.js (la interfaz de las páginas) recibió"
    )
    assert "su evento close dijo code 1000, reason 'adiós', wasClean True" in result.message


def test_every_message_is_answered_with_its_length_and_one_is_random() -> None:
    messages = lesson_07.plan()
    assert [lesson_07.expected_answer(m) for m in messages[:4]] == ["4", "5", "0", "3"]
    assert isinstance(messages[3], bytes)
    lengths = {len(lesson_07.plan()[-1]) for _ in range(50)}
    assert len(lengths) > 1 and all(10 <= n <= 99 for n in lengths)


def test_an_answer_that_is_not_text_crashes_the_handler_and_the_error_is_shown() -> None:
    async def as_int(websocket: Any) -> None:
        async for mensaje in websocket:
            await websocket.send(len(mensaje))

    result = lesson_07.check(as_int)
    assert not result.passed
    assert result.message.startswith(
        "tu manejador lanzó una excepción al recibir 'hola' y el servidor cerró con 1011 (error interno): TypeError"
    )


def test_counting_bytes_instead_of_characters_is_named() -> None:
    async def bytes_counted(websocket: Any) -> None:
        async for mensaje in websocket:
            data = mensaje.encode() if isinstance(mensaje, str) else mensaje
            await websocket.send(str(len(data)))

    result = lesson_07.check(bytes_counted)
    assert not result.passed
    assert "a 'ñandú' contestaste '7': contaste los bytes de su UTF-8. Tiene 5 caracteres" in result.message


def test_answering_with_bytes_is_named() -> None:
    async def binary(websocket: Any) -> None:
        async for mensaje in websocket:
            await websocket.send(str(len(mensaje)).encode())

    result = lesson_07.check(binary)
    assert not result.passed
    assert result.message.startswith("a 'hola' contestaste con bytes, b'4': un mensaje binario.")


def test_an_echo_is_named() -> None:
    async def echo(websocket: Any) -> None:
        async for mensaje in websocket:
            await websocket.send(mensaje)

    result = lesson_07.check(echo)
    assert not result.passed
    assert result.message.startswith("a 'hola' contestaste con el mismo mensaje: eso es un eco.")


def test_a_handler_that_returns_after_one_message_is_named() -> None:
    async def once(websocket: Any) -> None:
        mensaje = await websocket.recv()
        await websocket.send(str(len(mensaje)))

    result = lesson_07.check(once)
    assert not result.passed
    assert result.message.startswith("la conexión se cerró (1000) antes de contestar a 'ñandú': tu manejador terminó.")


def test_counting_fin_is_named() -> None:
    async def counts_fin(websocket: Any) -> None:
        async for mensaje in websocket:
            await websocket.send(str(len(mensaje)))

    result = lesson_07.check(counts_fin)
    assert not result.passed
    assert result.message.startswith("a 'fin' contestaste '3'. 'fin' no se cuenta")


@pytest.mark.parametrize(
    ("code", "reason", "expected"),
    [
        (1000, "", "después de 'fin' cerraste con el código 1000; se esperaba 4000"),
        (4000, "bye", "el código 4000 está bien, pero el motivo fue 'bye'; se esperaba 'adiós'."),
    ],
)
def test_a_wrong_close_is_named(code: int, reason: str, expected: str) -> None:
    async def closes(websocket: Any) -> None:
        async for mensaje in websocket:
            if mensaje == "fin":
                await websocket.close(code, reason)
            else:
                await websocket.send(str(len(mensaje)))

    result = lesson_07.check(closes)
    assert not result.passed
    assert result.message.startswith(expected), result.message


def test_staying_open_after_fin_is_named_and_bounded() -> None:
    async def stays(websocket: Any) -> None:
        async for mensaje in websocket:
            if mensaje != "fin":
                await websocket.send(str(len(mensaje)))

    result = lesson_07.check(stays)
    assert not result.passed
    assert result.message.startswith("después de 'fin' la conexión siguió abierta.")


def test_a_plain_function_is_not_a_handler() -> None:
    def not_async(websocket: Any) -> None:
        pass

    result = lesson_07.check(not_async)
    assert not result.passed
    assert result.message == "contar debe ser un manejador: una función `async def contar(websocket):`, no function."


def test_the_verdict_speaks_english_in_english_lessons(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(labkit.i18n, "_chosen", "en")
    result = lesson_07.check(exercise_function(LESSON, "en", "contar"))
    assert repr(result).startswith("✘ Not yet: your handler did not answer 'hola' within 2 s.")
