"""Lesson 11's check: the notebook's stub fails, a chat that loses nothing passes, and each classic
mistake (no idempotency, no replay, a replay to everyone, one too many, auth taken for granted)
gets the sentence that names it.

Every run drives real clients through real taps (a lost acknowledgement, a reset connection):
bounded by the check's own waits, a few seconds each.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import socketio

import labkit
import labkit.i18n
from labkit.exercises import lesson_11
from tests.exercises.notebook_cells import exercise_function

LESSON = "11-redes-rotas-y-muchos-procesos.ipynb"


@pytest.fixture(autouse=True)
def spanish_and_nothing_left(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(labkit.i18n, "_chosen", "es")
    yield
    assert labkit.running() == []


def chat(
    idempotent: bool = True,
    replay: Callable[[list[str], int], list[tuple[str, int]]] | None = None,
    to_everyone: bool = False,
    careless_auth: bool = False,
) -> Callable[[], socketio.AsyncServer]:
    """A chat_sin_perdidas() as a student may write it; the defaults are a right answer."""

    def everything_after(log: list[str], last: int) -> list[tuple[str, int]]:
        return [(text, offset) for offset, text in enumerate(log, 1) if offset > last]

    send_missed = replay or everything_after

    def chat_sin_perdidas() -> socketio.AsyncServer:
        sio = socketio.AsyncServer(async_mode="aiohttp", always_connect=True)
        mensajes: list[str] = []
        claves: set[str] = set()

        async def connect(sid: str, environ: dict[str, Any], auth: dict[str, Any] | None = None) -> None:
            last = auth["serverOffset"] if careless_auth else (auth or {}).get("serverOffset", 0)  # type: ignore[index]
            for text, offset in send_missed(mensajes, last):
                await sio.emit("chat message", (text, offset), to=None if to_everyone else sid)

        async def chat_message(sid: str, texto: str, clave: str) -> str:
            if idempotent and clave in claves:
                return "duplicate"
            claves.add(clave)
            mensajes.append(texto)
            await sio.emit("chat message", (texto, len(mensajes)))
            return "stored"

        sio.on("connect", connect)
        sio.on("chat message", chat_message)
        return sio

    return chat_sin_perdidas


@pytest.mark.parametrize("language", ["es", "en"])
def test_the_notebook_stub_is_not_yet_correct_and_says_why(language: str) -> None:
    result = lesson_11.check(exercise_function(LESSON, language, "chat_sin_perdidas"))
    assert not result.passed
    assert result.message.startswith("«dos» llegó repetido a los demás."), result.message


def test_a_chat_that_loses_nothing_passes() -> None:
    result = lesson_11.check(chat())
    assert result.passed, result.message
    assert "serverOffset 2" in result.message


def test_without_idempotency_the_retried_message_is_named() -> None:
    result = lesson_11.check(chat(idempotent=False))
    assert not result.passed
    assert result.message.startswith("«dos» llegó repetido") and "misma clave" in result.message


def test_without_a_replay_the_messages_missed_are_named() -> None:
    result = lesson_11.check(chat(replay=lambda log, last: []))
    assert not result.passed
    assert result.message.startswith("el cliente que estuvo desconectado perdió «tres», «cuatro»"), result.message
    assert "offset mayor que 2" in result.message


def test_a_replay_from_the_offset_itself_repeats_one() -> None:
    def one_too_many(log: list[str], last: int) -> list[tuple[str, int]]:
        return [(text, offset) for offset, text in enumerate(log, 1) if offset >= max(last, 1)]

    result = lesson_11.check(chat(replay=one_too_many))
    assert not result.passed
    assert "recibió otra vez «dos»" in result.message, result.message


def test_a_replay_to_everyone_is_seen_by_the_sender() -> None:
    result = lesson_11.check(chat(to_everyone=True))
    assert not result.passed
    assert "el emisor, que nunca se desconectó, recibió dos veces «tres», «cuatro»" in result.message, result.message
    assert "to=sid" in result.message


def test_auth_taken_for_granted_fails_on_a_client_without_auth() -> None:
    result = lesson_11.check(chat(careless_auth=True))
    assert not result.passed
    assert result.message.startswith("tu servidor falló:") and "`auth` llega como `None`" in result.message, (
        result.message
    )


def test_wrong_offsets_are_named() -> None:
    def from_zero(log: list[str], last: int) -> list[tuple[str, int]]:
        return [(text, offset - 1) for offset, text in enumerate(log, 1) if offset > last]

    result = lesson_11.check(chat(replay=from_zero))
    assert not result.passed
    assert "con offset 2; su offset es 3" in result.message, result.message


def test_a_function_that_returns_nothing_is_told_to_return_the_server() -> None:
    result = lesson_11.check(lambda: None)
    assert not result.passed
    assert "return sio" in result.message


def test_the_verdict_speaks_english_in_english_lessons(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(labkit.i18n, "_chosen", "en")
    result = lesson_11.check(chat(replay=lambda log, last: []))
    assert repr(result).startswith("✘ Not yet: the client that was away lost «tres», «cuatro»"), repr(result)
