"""Lesson 00's check: the notebook's stub fails, a solution passes, classic mistakes get their hint."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import labkit
import labkit.i18n
from labkit.exercises import lesson_00
from tests.exercises.notebook_cells import exercise_function

LESSON = "00-bienvenida.ipynb"


@pytest.fixture(autouse=True)
def nothing_left_running() -> Iterator[None]:
    yield
    assert labkit.running() == []


def solution(url: str, texto: str) -> str:
    with labkit.ws_connect(url) as ws:
        ws.send(texto)
        answer = ws.recv()
    assert isinstance(answer, str)
    return answer


@pytest.mark.parametrize("language", ["es", "en"])
def test_the_notebook_stub_fails_with_a_hint(language: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(labkit.i18n, "_chosen", language)
    result = lesson_00.check(exercise_function(LESSON, language, "ida_y_vuelta"))
    assert not result
    assert "ws.send(texto)" in result.message
    assert repr(result).startswith("✘ Todavía no:" if language == "es" else "✘ Not yet:")


def test_a_solution_passes() -> None:
    result = lesson_00.check(solution)
    assert result, result.message


def test_returning_the_text_without_sending_it_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(labkit.i18n, "_chosen", "en")
    result = lesson_00.check(lambda url, texto: texto)
    assert not result
    assert "opened no connection" in result.message


def test_connecting_without_sending_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(labkit.i18n, "_chosen", "en")

    def sends_nothing(url: str, texto: str) -> None:
        with labkit.ws_connect(url):
            pass

    def returns_texto_unsent(url: str, texto: str) -> str:
        with labkit.ws_connect(url):
            return texto

    result = lesson_00.check(sends_nothing)
    assert not result
    assert "received no message" in result.message
    result = lesson_00.check(returns_texto_unsent)
    assert not result
    assert "without sending it" in result.message


def test_sending_bytes_gets_the_binary_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(labkit.i18n, "_chosen", "en")

    def sends_bytes(url: str, texto: str) -> object:
        with labkit.ws_connect(url) as ws:
            ws.send(texto.encode())
            return ws.recv()

    result = lesson_00.check(sends_bytes)
    assert not result
    assert "binary message" in result.message


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_a_connection_left_open_gets_the_with_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(labkit.i18n, "_chosen", "en")
    leaked: list[Any] = []

    def leaves_it_open(url: str, texto: str) -> object:
        ws = labkit.ws_connect(url)
        leaked.append(ws)
        ws.send(texto)
        return ws.recv()

    try:
        result = lesson_00.check(leaves_it_open)
    finally:
        for ws in leaked:
            ws.close()
    assert not result
    assert "left the connection open" in result.message


def test_an_exception_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(labkit.i18n, "_chosen", "en")

    def breaks(url: str, texto: str) -> str:
        raise RuntimeError("boom")

    result = lesson_00.check(breaks)
    assert not result
    assert "RuntimeError: boom" in result.message
