"""Lesson 03's check: the notebook's stub fails, a solution passes, classic mistakes get their hint."""

from __future__ import annotations

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


def solution(url: str, n: int) -> list[str]:
    with labkit.ws_connect(url) as ws:
        return [ws.recv() for _ in range(n)]


@pytest.mark.parametrize("language", ["es", "en"])
def test_the_notebook_stub_is_not_yet_correct(language: str) -> None:
    result = lesson_03.check(exercise_function(LESSON, language, "recoger_ticks"))
    assert not result.passed
    assert "no abrió ninguna conexión" in result.message


def test_a_solution_passes() -> None:
    result = lesson_03.check(solution)
    assert result.passed, result.message


def test_one_connection_per_tick_is_polling_thinking() -> None:
    def polling(url: str, n: int) -> list[str]:
        ticks = []
        for _ in range(n):
            with labkit.ws_connect(url) as ws:
                ticks.append(ws.recv())
        return ticks

    result = lesson_03.check(polling)
    assert not result.passed
    assert "abriste 3 conexiones" in result.message and "polling" in result.message


def test_asking_first_is_not_needed() -> None:
    def asking(url: str, n: int) -> list[str]:
        with labkit.ws_connect(url) as ws:
            ws.send("¿qué hora es?")
            return [ws.recv() for _ in range(n)]

    result = lesson_03.check(asking)
    assert not result.passed
    assert "le enviaste '¿qué hora es?'" in result.message


def test_the_wrong_number_of_ticks_is_reported() -> None:
    def always_two(url: str, n: int) -> list[str]:
        with labkit.ws_connect(url) as ws:
            return [ws.recv() for _ in range(2)]

    result = lesson_03.check(always_two)
    assert not result.passed
    assert "pedí 3 ticks y recoger_ticks devolvió 2" in result.message


def test_a_connection_left_open_gets_the_with_hint() -> None:
    def leaky(url: str, n: int) -> list[str]:
        ws = labkit.ws_connect(url).__enter__()
        return [ws.recv() for _ in range(n)]

    result = lesson_03.check(leaky)
    assert not result.passed
    assert "quedó abierta" in result.message


def test_an_exception_is_a_verdict_not_a_crash() -> None:
    def broken(url: str, n: int) -> list[str]:
        raise NotImplementedError("todavía no")

    result = lesson_03.check(broken)
    assert not result.passed
    assert "lanzó NotImplementedError: todavía no" in result.message


def test_the_verdict_speaks_english_in_english_lessons(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(labkit.i18n, "_chosen", "en")
    result = lesson_03.check(exercise_function(LESSON, "en", "recoger_ticks"))
    assert repr(result).startswith("✘ Not yet: recoger_ticks(url, 3) opened no connection")
