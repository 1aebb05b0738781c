"""Lesson 03's check: the notebook's stub fails, a solution passes, classic mistakes get their hint."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

import labkit
import labkit.i18n
from labkit.exercises import lesson_03
from tests.exercises.notebook_cells import exercise_function

LESSON = "03-dos-direcciones.ipynb"


@pytest.fixture(autouse=True)
def spanish_and_nothing_left(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(labkit.i18n, "_chosen", "es")
    yield
    assert labkit.running() == []


def solution(url: str, respuesta: str) -> str:
    with labkit.ws_connect(url) as ws:
        mensaje = json.loads(ws.recv())
        ws.send(respuesta)
    text: str = mensaje["text"]
    return text


@pytest.mark.parametrize("language", ["es", "en"])
def test_the_notebook_stub_is_not_yet_correct(language: str) -> None:
    result = lesson_03.check(exercise_function(LESSON, language, "contestar"))
    assert not result.passed
    assert "no abrió ninguna conexión" in result.message


def test_a_solution_passes() -> None:
    result = lesson_03.check(solution)
    assert result.passed, result.message


def test_speaking_first_is_not_needed() -> None:
    def asks_first(url: str, respuesta: str) -> str:
        with labkit.ws_connect(url) as ws:
            ws.send(respuesta)
            text: str = json.loads(ws.recv())["text"]
        return text

    result = lesson_03.check(asks_first)
    assert not result.passed
    assert "enviaste 'aquí estoy' antes de que llegara el mensaje de Ana" in result.message


def test_a_second_connection_to_answer_is_named() -> None:
    def two_connections(url: str, respuesta: str) -> str:
        with labkit.ws_connect(url) as listening:
            text: str = json.loads(listening.recv())["text"]
        with labkit.ws_connect(url) as speaking:
            speaking.send(respuesta)
        return text

    result = lesson_03.check(two_connections)
    assert not result.passed
    assert "abriste 2 conexiones" in result.message


def test_listening_without_answering_is_named() -> None:
    def only_listens(url: str, respuesta: str) -> str:
        with labkit.ws_connect(url) as ws:
            text: str = json.loads(ws.recv())["text"]
        return text

    result = lesson_03.check(only_listens)
    assert not result.passed
    assert "pero no le contestaste" in result.message


def test_closing_before_ana_writes_is_named() -> None:
    def leaves_at_once(url: str, respuesta: str) -> None:
        with labkit.ws_connect(url):
            pass

    result = lesson_03.check(leaves_at_once)
    assert not result.passed
    assert "la conexión se cerró antes de que Ana escribiera" in result.message


def test_an_answer_changed_is_named() -> None:
    def shouts(url: str, respuesta: str) -> str:
        with labkit.ws_connect(url) as ws:
            text: str = json.loads(ws.recv())["text"]
            ws.send(respuesta.upper())
        return text

    result = lesson_03.check(shouts)
    assert not result.passed
    assert "contestaste 'AQUÍ ESTOY', pero la respuesta era 'aquí estoy'" in result.message


@pytest.mark.parametrize("parse", [False, True])
def test_returning_the_whole_message_asks_for_its_text(parse: bool) -> None:
    def whole(url: str, respuesta: str) -> object:
        with labkit.ws_connect(url) as ws:
            message = ws.recv()
            ws.send(respuesta)
        return json.loads(message) if parse else message

    result = lesson_03.check(whole)
    assert not result.passed
    assert "devolviste el mensaje entero" in result.message and 'json.loads(mensaje)["text"]' in result.message


def test_waiting_for_a_message_that_never_comes_is_bounded_and_named() -> None:
    def waits_twice(url: str, respuesta: str) -> str:
        with labkit.ws_connect(url) as ws:
            text: str = json.loads(ws.recv())["text"]
            ws.send(respuesta)
            ws.recv()
        return text

    result = lesson_03.check(waits_twice)
    assert not result.passed
    assert "tu función no terminó" in result.message


def test_a_connection_left_open_gets_the_with_hint() -> None:
    def leaky(url: str, respuesta: str) -> str:
        ws = labkit.ws_connect(url).__enter__()
        text: str = json.loads(ws.recv())["text"]
        ws.send(respuesta)
        return text

    result = lesson_03.check(leaky)
    assert not result.passed
    assert "quedó abierta" in result.message


def test_an_exception_is_a_verdict_not_a_crash() -> None:
    def broken(url: str, respuesta: str) -> str:
        raise NotImplementedError("todavía no")

    result = lesson_03.check(broken)
    assert not result.passed
    assert "lanzó NotImplementedError: todavía no" in result.message


def test_the_verdict_speaks_english_in_english_lessons(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(labkit.i18n, "_chosen", "en")
    result = lesson_03.check(exercise_function(LESSON, "en", "contestar"))
    assert repr(result).startswith("✘ Not yet: contestar(url, 'aquí estoy') opened no connection")
