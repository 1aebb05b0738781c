"""Lesson 09's check: the notebook's stub fails, a solution passes, classic mistakes get their hint."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest

import labkit
import labkit.i18n
from labkit.browser_requests import stored_request
from labkit.exercises import lesson_09
from tests.exercises.notebook_cells import exercise_function

LESSON = "09-http-frente-a-websocket.ipynb"


@pytest.fixture(autouse=True)
def spanish_and_nothing_left(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(labkit.i18n, "_chosen", "es")
    yield
    assert labkit.running() == []


def predicting(
    status: str = "HTTP/1.1 200 OK",
    fields: tuple[str, ...] = ("Server: labkit-http", "Content-Type: application/json", "Content-Length: {length}"),
    date: bool = True,
    newline: str = "\r\n",
    empty_line: bool = True,
    extra: int = 0,
) -> Callable[[bytes, bytes], int]:
    """A ``prever_sondeo`` that builds the response head from these parts (the right one by default)."""

    def prever_sondeo(peticion: bytes, cuerpo: bytes) -> int:
        lines = [status, *(field.format(length=len(cuerpo)) for field in fields)]
        if date:
            lines.append("Date: Mon, 30 Nov 2026 05:32:37 GMT")  # IMF-fixdate: always 29 characters
        cabecera = "".join(line + newline for line in lines) + (newline if empty_line else "")
        return len(peticion) + len(cabecera.encode()) + extra

    return prever_sondeo


solution = predicting()


@pytest.mark.parametrize("language", ["es", "en"])
def test_the_notebook_stub_is_not_yet_correct(language: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(labkit.i18n, "_chosen", language)
    result = lesson_09.check(exercise_function(LESSON, language, "prever_sondeo"))
    assert not result.passed
    assert ("solo la petición" if language == "es" else "the request alone") in result.message


def test_a_solution_passes() -> None:
    result = lesson_09.check(solution)
    assert result.passed, result.message
    assert "Predijiste los 3 sondeos al byte" in result.message


def test_the_three_polls_are_minimal_twice_then_chromium_s_own() -> None:
    minimal, single, browser = lesson_09.polls("127.0.0.1:40000")
    assert minimal == b"GET /app?after=5 HTTP/1.1\r\nHost: 127.0.0.1:40000\r\n\r\n"
    assert single == b"GET /app?after=4 HTTP/1.1\r\nHost: 127.0.0.1:40000\r\n\r\n"
    capture = bytes(stored_request())
    assert capture.startswith(b"GET /app?poll=1 HTTP/1.1\r\n") and capture.count(b"127.0.0.1:") == 2  # Host, Referer
    expected = re.sub(rb"127\.0\.0\.1:\d+", b"127.0.0.1:40000", capture.replace(b"/app?poll=1", b"/app?after=0"))
    assert browser == expected


def test_counting_the_body_is_named() -> None:
    def with_body(peticion: bytes, cuerpo: bytes) -> int:
        return solution(peticion, cuerpo) + len(cuerpo)

    result = lesson_09.check(with_body)
    assert not result.passed
    assert "con el cuerpo incluido (2 bytes)" in result.message


def test_forgetting_the_request_is_named() -> None:
    def head_only(peticion: bytes, cuerpo: bytes) -> int:
        return solution(peticion, cuerpo) - len(peticion)

    result = lesson_09.check(head_only)
    assert not result.passed
    assert "solo la cabecera de la respuesta" in result.message


def test_bare_newlines_are_named() -> None:
    result = lesson_09.check(predicting(newline="\n"))
    assert not result.passed
    assert "uno por línea de la cabecera" in result.message and "`\\r\\n`" in result.message


def test_a_content_length_typed_once_is_named() -> None:
    result = lesson_09.check(
        predicting(fields=("Server: labkit-http", "Content-Type: application/json", "Content-Length: 2"))
    )
    assert not result.passed
    assert "acertaste con un cuerpo de 2 bytes, pero no con uno de" in result.message
    assert "str(len(cuerpo))" in result.message


def test_a_missing_date_is_named_with_its_length() -> None:
    result = lesson_09.check(predicting(date=False))
    assert not result.passed
    assert "te faltan 37 bytes: justo la línea `Date`" in result.message
    assert "siempre mide 29 caracteres (RFC 9110 §5.6.7)" in result.message


def test_a_missing_header_field_is_named() -> None:
    result = lesson_09.check(predicting(fields=("Content-Type: application/json", "Content-Length: {length}")))
    assert not result.passed
    assert "justo la línea `Server`" in result.message


def test_a_missing_empty_line_is_named() -> None:
    result = lesson_09.check(predicting(empty_line=False))
    assert not result.passed
    assert "¿Contaste la línea vacía" in result.message


def test_anything_else_shows_the_head_the_server_sent() -> None:
    result = lesson_09.check(predicting(status="HTTP/1.1 200 Okay, here it is"))
    assert not result.passed
    assert "predijiste" in result.message
    assert (
        "Esta es la cabecera que envió el servidor: `HTTP/1.1 200 OK\\r\\nServer: labkit-http\\r\\n" in result.message
    )


def test_asking_the_server_is_not_predicting() -> None:
    def asks(peticion: bytes, cuerpo: bytes) -> int:
        host, port = peticion.split(b"\r\nHost: ")[1].split(b"\r\n")[0].decode().split(":")
        with labkit.RawSocket((host, int(port))) as raw:
            raw.send(peticion)
            response = raw.recv_http()
        return len(peticion) + len(response) - len(cuerpo)

    result = lesson_09.check(asks)
    assert not result.passed
    assert "abrió una conexión con el servidor" in result.message


@pytest.mark.parametrize("returned", [None, "180", 180.0, True])
def test_a_prediction_must_be_a_whole_number(returned: object) -> None:
    result = lesson_09.check(lambda peticion, cuerpo: returned)
    assert not result.passed
    assert f"prever_sondeo devolvió {returned!r}; devuelve un número entero de bytes" in result.message


def test_an_exception_is_a_verdict_not_a_crash() -> None:
    def broken(peticion: bytes, cuerpo: bytes) -> int:
        raise NotImplementedError("todavía no")

    result = lesson_09.check(broken)
    assert not result.passed
    assert "prever_sondeo lanzó NotImplementedError: todavía no" in result.message


def test_the_verdict_speaks_english_in_english_lessons(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(labkit.i18n, "_chosen", "en")
    assert repr(lesson_09.check(solution)).startswith("✔ Correct! You predicted all 3 polls to the byte:")
    assert repr(lesson_09.check(predicting(date=False))).startswith(
        "✘ Not yet: you are 37 bytes short: exactly the line `Date` with its `\\r\\n`"
    )
