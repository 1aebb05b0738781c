"""Lesson 01's check: the notebook's stub fails, a solution passes, classic mistakes get their hint."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

import labkit
import labkit.i18n
from labkit.exercises import lesson_01
from tests.exercises.notebook_cells import exercise_function

LESSON = "01-http-peticion-respuesta.ipynb"


@pytest.fixture(autouse=True)
def nothing_left_running() -> Iterator[None]:
    yield
    assert labkit.running() == []
    assert not [t for t in threading.enumerate() if t.name == "labkit-exercise-01"]


def sending(template: str, whole: bool = False) -> Callable[[str, int], object]:
    """A ``pedir_hora`` that sends ``template`` (formatted with host and port) and returns the body."""

    def pedir_hora(host: str, port: int) -> object:
        with labkit.RawSocket((host, port)) as raw:
            raw.send(template.format(host=host, port=port))
            response = raw.recv_http()
        return response if whole else response.split(b"\r\n\r\n", 1)[1].decode()

    return pedir_hora


solution = sending("GET / HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n")


@pytest.mark.parametrize("language", ["es", "en"])
def test_the_notebook_stub_fails_with_a_hint(language: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(labkit.i18n, "_chosen", language)
    result = lesson_01.check(exercise_function(LESSON, language, "pedir_hora"))
    assert not result
    assert ("no enviaste ningún byte" if language == "es" else "sent no bytes") in result.message


def test_a_solution_passes() -> None:
    result = lesson_01.check(solution)
    assert result, result.message


def test_extra_headers_are_fine() -> None:
    result = lesson_01.check(sending("GET / HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: test\r\n\r\n"))
    assert result, result.message


@pytest.mark.parametrize(
    ("template", "hint"),
    [
        ("GET / HTTP/1.1\nHost: {host}:{port}\n\n", "bare `\\n`"),
        ("GET / HTTP/1.1\r\nHost: {host}:{port}\r\n", "does not end with an empty line"),
        ("GET / HTTP/1.1\r\n\r\n", "the `Host` header is missing"),
        ("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n", "unless it is 80, the port"),
        ("GET / HTTP/1.0\r\nHost: {host}:{port}\r\n\r\n", "this exercise is about HTTP/1.1"),
        ("GET /HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n", "method, path and version"),
    ],
)
def test_classic_mistakes_get_their_hint(template: str, hint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(labkit.i18n, "_chosen", "en")
    result = lesson_01.check(sending(template))
    assert not result
    assert hint in result.message


def test_returning_the_whole_response_gets_the_body_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(labkit.i18n, "_chosen", "en")
    result = lesson_01.check(sending("GET / HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n", whole=True))
    assert not result
    assert "return only the body" in result.message


def test_returning_bytes_gets_the_decode_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(labkit.i18n, "_chosen", "en")

    def returns_bytes(host: str, port: int) -> bytes:
        body = solution(host, port)
        assert isinstance(body, str)
        return body.encode()

    result = lesson_01.check(returns_bytes)
    assert not result
    assert ".decode()" in result.message


def test_a_made_up_time_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(labkit.i18n, "_chosen", "en")

    def makes_it_up(host: str, port: int) -> str:
        solution(host, port)
        return "2000-01-01T00:00:00.000+00:00\n"

    result = lesson_01.check(makes_it_up)
    assert not result
    assert "Return the body as text" in result.message


def test_not_connecting_and_raising_are_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(labkit.i18n, "_chosen", "en")
    assert "opened no connection" in lesson_01.check(lambda host, port: "").message

    def breaks(host: str, port: int) -> str:
        raise RuntimeError("boom")

    assert "RuntimeError" in lesson_01.check(breaks).message


def test_request_problem_accepts_a_minimal_request() -> None:
    assert lesson_01.request_problem(b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n\r\n", "127.0.0.1", 8000) is None
