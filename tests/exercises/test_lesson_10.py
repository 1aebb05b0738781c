"""Lesson 10's check: the notebook's stub fails, a solution passes, classic mistakes get their hint.

Every client the check uses is real and every token is signed by PyJWT; so are the mistakes here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import jwt
import pytest

import labkit
import labkit.i18n
from labkit.exercises import lesson_10
from tests.exercises.notebook_cells import exercise_function

LESSON = "10-quien-puede-conectarse.ipynb"
SECRETO = "clave-de-la-leccion-10-con-32-bytes-o-mas"  # the lesson's


@pytest.fixture(autouse=True)
def spanish_and_nothing_left(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(labkit.i18n, "_chosen", "es")
    yield
    assert labkit.running() == []


async def solution(websocket: Any) -> None:
    try:
        token = await asyncio.wait_for(websocket.recv(), timeout=2)
    except TimeoutError:
        await websocket.close(1008, "sin token")
        return
    try:
        quien = jwt.decode(token, SECRETO, algorithms=["HS256"])["sub"]
    except jwt.InvalidTokenError:
        await websocket.close(1008, "token no valido")
        return
    await websocket.send(f"hola, {quien}")
    async for mensaje in websocket:
        await websocket.send(mensaje)


def test_the_lesson_uses_the_secret_these_tests_sign_with() -> None:
    import json

    from labkit.notebooks import LESSONS_DIR

    cells = json.loads((LESSONS_DIR / "es" / LESSON).read_text(encoding="utf-8"))["cells"]
    assert any(f'SECRETO = "{SECRETO}"' in "".join(cell["source"]) for cell in cells)


@pytest.mark.parametrize("language", ["es", "en"])
def test_the_notebook_stub_is_not_yet_correct(language: str) -> None:
    result = lesson_10.check(exercise_function(LESSON, language, "con_token"), SECRETO)
    assert not result.passed
    assert "con un token válido de ana, tu manejador cerró la conexión (1000) sin saludar" in result.message


def test_a_solution_passes() -> None:
    result = lesson_10.check(solution, SECRETO)
    assert result.passed, result.message


def test_the_check_signs_with_the_secret_it_is_given() -> None:
    result = lesson_10.check(solution, "another-secret-of-at-least-32-bytes!!")
    assert not result.passed  # the solution checks with the lesson's SECRETO: the check's tokens fail there
    assert "con un token válido de ana, tu manejador cerró la conexión (1008 'token no valido')" in result.message


def test_a_greeting_without_the_user_is_named() -> None:
    async def greets_anyone(websocket: Any) -> None:
        token = await asyncio.wait_for(websocket.recv(), timeout=2)
        jwt.decode(token, SECRETO, algorithms=["HS256"])
        await websocket.send("hola, ana")
        async for mensaje in websocket:
            await websocket.send(mensaje)

    result = lesson_10.check(greets_anyone, SECRETO)
    assert not result.passed
    assert "con un token válido de beto enviado 1 s después de conectarse, tu manejador contestó 'hola, ana'" in (
        result.message
    )


def test_no_echo_after_the_greeting_is_named() -> None:
    async def greets_and_leaves(websocket: Any) -> None:
        token = await websocket.recv()
        await websocket.send(f"hola, {jwt.decode(token, SECRETO, algorithms=['HS256'])['sub']}")

    result = lesson_10.check(greets_and_leaves, SECRETO)
    assert not result.passed
    assert "saludaste a ana y cerraste la conexión (1000) en vez de devolver '¿me oyes?'" in result.message


def test_an_uncaught_bad_token_is_named_with_the_exception() -> None:
    async def trusts_decode(websocket: Any) -> None:
        token = await asyncio.wait_for(websocket.recv(), timeout=2)
        await websocket.send(f"hola, {jwt.decode(token, SECRETO, algorithms=['HS256'])['sub']}")
        async for mensaje in websocket:
            await websocket.send(mensaje)

    result = lesson_10.check(trusts_decode, SECRETO)
    assert not result.passed
    assert "el servidor cerró con 1011 (error interno): jwt.exceptions.ExpiredSignatureError" in result.message
    assert "atrapa `jwt.InvalidTokenError`" in result.message


def test_a_handler_that_skips_the_signature_lets_the_forged_token_in() -> None:
    async def reads_without_checking(websocket: Any) -> None:
        token = await asyncio.wait_for(websocket.recv(), timeout=2)
        try:
            datos = jwt.decode(token, options={"verify_signature": False, "verify_exp": True})
        except jwt.InvalidTokenError:
            await websocket.close(1008, "token no valido")
            return
        await websocket.send(f"hola, {datos['sub']}")
        async for mensaje in websocket:
            await websocket.send(mensaje)

    result = lesson_10.check(reads_without_checking, SECRETO)
    assert not result.passed
    assert "el token firmado con otra clave" in result.message and "le enviaste 'hola, admin'" in result.message


@pytest.mark.parametrize(
    ("code", "reason", "hint"),
    [(1000, "token no valido", "cerraste con 1000"), (1008, "", "cerraste con 1008, bien, pero sin motivo")],
)
def test_the_wrong_close_for_a_bad_token_is_named(code: int, reason: str, hint: str) -> None:
    async def closes_badly(websocket: Any) -> None:
        try:
            token = await asyncio.wait_for(websocket.recv(), timeout=2)
            quien = jwt.decode(token, SECRETO, algorithms=["HS256"])["sub"]
        except (TimeoutError, jwt.InvalidTokenError):
            await websocket.close(code, reason)
            return
        await websocket.send(f"hola, {quien}")
        async for mensaje in websocket:
            await websocket.send(mensaje)

    result = lesson_10.check(closes_badly, SECRETO)
    assert not result.passed
    assert "el token vencido" in result.message and hint in result.message


def test_waiting_for_ever_for_the_token_is_bounded_and_named() -> None:
    async def waits_for_ever(websocket: Any) -> None:
        token = await websocket.recv()
        try:
            quien = jwt.decode(token, SECRETO, algorithms=["HS256"])["sub"]
        except jwt.InvalidTokenError:
            await websocket.close(1008, "token no valido")
            return
        await websocket.send(f"hola, {quien}")
        async for mensaje in websocket:
            await websocket.send(mensaje)

    result = lesson_10.check(waits_for_ever, SECRETO)
    assert not result.passed
    assert "un cliente que no envía ningún token: la conexión seguía abierta" in result.message
    assert "asyncio.wait_for(websocket.recv(), timeout=2)" in result.message


def test_a_window_too_short_for_a_slow_client_is_named() -> None:
    async def impatient(websocket: Any) -> None:
        try:
            token = await asyncio.wait_for(websocket.recv(), timeout=0.2)
            quien = jwt.decode(token, SECRETO, algorithms=["HS256"])["sub"]
        except (TimeoutError, jwt.InvalidTokenError):
            await websocket.close(1008, "sin token")
            return
        await websocket.send(f"hola, {quien}")
        async for mensaje in websocket:
            await websocket.send(mensaje)

    result = lesson_10.check(impatient, SECRETO)
    assert not result.passed
    assert "con un token válido de beto enviado 1 s después de conectarse, tu manejador cerró la conexión" in (
        result.message
    )


def test_not_a_handler_gets_one_sentence() -> None:
    result = lesson_10.check(lambda websocket: None, SECRETO)
    assert not result.passed
    assert "con_token debe ser un manejador" in result.message


def test_the_verdict_speaks_english_in_english_lessons(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(labkit.i18n, "_chosen", "en")
    result = lesson_10.check(exercise_function(LESSON, "en", "con_token"), SECRETO)
    assert repr(result).startswith("✘ Not yet: with a valid token of ana, your handler closed the connection (1000)")
