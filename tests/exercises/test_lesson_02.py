"""Lesson 02's check: the notebook's stub fails, a solution passes, each partial check gets its hint."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable, Iterator

import pytest

import labkit
import labkit.i18n
import labkit.protocol.handshake
from labkit.exercises import lesson_02
from labkit.protocol.handshake import validate_response
from labkit.protocol.http11 import ResponseParser
from tests.exercises.notebook_cells import exercise_function

LESSON = "02-handshake-websocket.ipynb"
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


@pytest.fixture(autouse=True)
def english_and_nothing_left(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(labkit.i18n, "_chosen", "en")
    yield
    assert labkit.running() == []


def accept(clave: str) -> str:
    return base64.b64encode(hashlib.sha1((clave + GUID).encode()).digest()).decode()


def headers_of(respuesta: bytes) -> tuple[str, dict[str, str]]:
    """The status line and the headers, names in lower case (RFC 9110 §5.1)."""
    status, *lines = respuesta.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return status, headers


def solution(clave: str, respuesta: bytes) -> bool:
    status, headers = headers_of(respuesta)
    connection = [token.strip().lower() for token in headers.get("connection", "").split(",")]
    return (
        status.split(" ")[1:2] == ["101"]
        and headers.get("upgrade", "").lower() == "websocket"
        and "upgrade" in connection
        and headers.get("sec-websocket-accept") == accept(clave)
    )


@pytest.mark.parametrize("language", ["es", "en"])
def test_the_notebook_stub_fails_with_a_hint(language: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(labkit.i18n, "_chosen", language)
    result = lesson_02.check(exercise_function(LESSON, language, "verificar_101"))
    assert not result
    assert "`101 Switching Protocols`" in result.message and "RFC 6455 §4.1" in result.message


def test_a_solution_passes() -> None:
    result = lesson_02.check(solution)
    assert result, result.message


def test_the_live_answer_is_a_real_101_for_the_key() -> None:
    key = base64.b64encode(os.urandom(16)).decode()
    answer = lesson_02.live_answer(key)
    assert answer.startswith(b"HTTP/1.1 101 Switching Protocols\r\n") and answer.endswith(b"\r\n\r\n")
    assert solution(key, answer)


def test_every_case_is_judged_by_the_rfc_as_labkit_implements_it() -> None:
    key = base64.b64encode(os.urandom(16)).decode()
    for case in lesson_02.CASES:
        response = ResponseParser().feed(case.build(key))
        assert response is not None
        try:
            validate_response(response, key)
        except labkit.protocol.HandshakeError:
            verdict = False
        else:
            verdict = True
        assert verdict == case.accept, case.what_en


def status_only(clave: str, respuesta: bytes) -> bool:
    return respuesta.startswith(b"HTTP/1.1 101 ")


def exact_names(clave: str, respuesta: bytes) -> bool:
    lines = respuesta.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if line)
    return (
        lines[0].startswith("HTTP/1.1 101")
        and headers.get("Upgrade") == "websocket"
        and headers.get("Connection") == "Upgrade"
        and headers.get("Sec-WebSocket-Accept") == accept(clave)
    )


def whole_connection(clave: str, respuesta: bytes) -> bool:
    status, headers = headers_of(respuesta)
    return (
        status.startswith("HTTP/1.1 101")
        and headers.get("upgrade", "").lower() == "websocket"
        and headers.get("connection", "").lower() == "upgrade"
        and headers.get("sec-websocket-accept") == accept(clave)
    )


def headers_present(clave: str, respuesta: bytes) -> bool:
    status, headers = headers_of(respuesta)
    return (
        status.startswith("HTTP/1.1 101")
        and "upgrade" in headers
        and "connection" in headers
        and headers.get("sec-websocket-accept") == accept(clave)
    )


def upgrade_present(clave: str, respuesta: bytes) -> bool:
    status, headers = headers_of(respuesta)
    connection = [token.strip().lower() for token in headers.get("connection", "").split(",")]
    return (
        status.startswith("HTTP/1.1 101")
        and "upgrade" in headers
        and "upgrade" in connection
        and headers.get("sec-websocket-accept") == accept(clave)
    )


def accept_when_present(clave: str, respuesta: bytes) -> bool:
    status, headers = headers_of(respuesta)
    connection = [token.strip().lower() for token in headers.get("connection", "").split(",")]
    return (
        status.startswith("HTTP/1.1 101")
        and headers.get("upgrade", "").lower() == "websocket"
        and "upgrade" in connection
        and headers.get("sec-websocket-accept", accept(clave)) == accept(clave)
    )


@pytest.mark.parametrize(
    ("partial", "hint"),
    [
        (lambda clave, respuesta: False, "a real server, with everything right"),
        (lambda clave, respuesta: True, "Without the `101` status"),
        (status_only, "must be the one **your** key gives"),
        (exact_names, "Header names are case-insensitive"),
        (whole_connection, "`Connection` is a comma-separated list"),
        (headers_present, "`Upgrade` must say `websocket`"),
        (upgrade_present, "Look at the value, not only whether the header is there"),
        (accept_when_present, "Without `Sec-WebSocket-Accept`"),
    ],
)
def test_a_partial_check_gets_the_hint_of_the_rule_it_misses(partial: Callable[[str, bytes], bool], hint: str) -> None:
    result = lesson_02.check(partial)
    assert not result
    assert hint in result.message


def test_connection_close_is_refused_by_its_own_case() -> None:
    def connection_present(clave: str, respuesta: bytes) -> bool:
        status, headers = headers_of(respuesta)
        return (
            status.startswith("HTTP/1.1 101")
            and headers.get("upgrade", "").lower() == "websocket"
            and "connection" in headers
            and headers.get("sec-websocket-accept") == accept(clave)
        )

    result = lesson_02.check(connection_present)
    assert not result
    assert "a `101` with `Connection: close`" in result.message


def test_validate_response_imported_beforehand_is_turned_down() -> None:
    def with_labkit(clave: str, respuesta: bytes) -> bool:
        response = ResponseParser().feed(respuesta)
        try:
            validate_response(response, clave)  # type: ignore[arg-type]
        except Exception:
            return False
        return True

    result = lesson_02.check(with_labkit)
    assert not result
    assert "labkit.protocol.handshake.validate_response" in result.message


def test_a_forbidden_function_reached_through_a_module_is_turned_down() -> None:
    def through_the_module(clave: str, respuesta: bytes) -> bool:
        expected = labkit.protocol.handshake.accept_value(clave)
        return solution(clave, respuesta) and expected.encode() in respuesta

    result = lesson_02.check(through_the_module)
    assert not result
    assert "labkit.protocol.handshake.accept_value" in result.message


def test_websockets_own_accept_key_is_turned_down_even_if_the_error_is_swallowed() -> None:
    def with_websockets(clave: str, respuesta: bytes) -> bool:
        import websockets.utils

        try:
            websockets.utils.accept_key(clave)
        except Exception:
            pass
        return solution(clave, respuesta)

    result = lesson_02.check(with_websockets)
    assert not result
    assert "websockets.utils.accept_key" in result.message


def test_the_forbidden_functions_are_back_after_the_check() -> None:
    before = labkit.protocol.handshake.accept_value
    lesson_02.check(solution)
    assert labkit.protocol.handshake.accept_value is before
    assert before("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_an_answer_that_is_not_a_bool_is_named() -> None:
    result = lesson_02.check(lambda clave, respuesta: "yes")
    assert not result
    assert "returned 'yes': return `True` or `False`" in result.message


def test_an_exception_is_reported_not_raised() -> None:
    def breaks(clave: str, respuesta: bytes) -> bool:
        raise ValueError("boom")

    result = lesson_02.check(breaks)
    assert not result
    assert "raised ValueError: boom" in result.message


def test_no_message_shows_the_random_key() -> None:
    key_seen = []

    def remembers(clave: str, respuesta: bytes) -> bool:
        key_seen.append(clave)
        return status_only(clave, respuesta)

    result = lesson_02.check(remembers)
    assert key_seen and all(key not in result.message for key in key_seen)


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (lambda k: base64.b64encode(hashlib.sha1((k + GUID).encode()).hexdigest().encode()).decode(), "hex digest"),
        (lambda k: hashlib.sha1((k + GUID).encode()).hexdigest(), "That is the hex digest"),
        (lambda k: base64.b64encode(hashlib.sha1(k.encode()).digest()).decode(), "You forgot the GUID"),
        (lambda k: base64.b64encode(hashlib.sha1((GUID + k).encode()).digest()).decode(), "GUID before the key"),
        (
            lambda k: base64.b64encode(hashlib.sha1(base64.b64decode(k) + GUID.encode()).digest()).decode(),
            "You decoded the key",
        ),
        (lambda k: base64.b64encode(hashlib.sha1((k + GUID).encode()).digest()), "return text with `.decode()`"),
        (lambda k: hashlib.sha1((k + GUID).encode()).digest(), "raw SHA-1 digest"),
        (lambda k: accept(k) + "\n", "extra spaces or line breaks"),
        (lambda k: None, "does not compute anything yet"),
    ],
)
def test_diagnose_names_the_classic_mistakes_of_an_accept_value(wrong: Callable[[str], object], hint: str) -> None:
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    hint_es, hint_en = lesson_02.diagnose(key, wrong(key))
    assert hint in hint_en and hint_es
