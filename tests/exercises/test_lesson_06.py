"""Lesson 06's check: the notebook's stub fails, solutions pass, classic mistakes get their hint."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterator

import pytest

import labkit
import labkit.i18n
from labkit.exercises import lesson_06
from labkit.protocol import (
    HandshakeError,
    RequestParser,
    build_accept_response,
    build_reject_response,
    validate_request,
)
from tests.exercises.notebook_cells import exercise_function

LESSON = "06-servidor-desde-cero.ipynb"
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


@pytest.fixture(autouse=True)
def english_and_nothing_left(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(labkit.i18n, "_chosen", "en")
    yield
    assert labkit.running() == []


def accept(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def by_hand(peticion: bytes) -> bytes:
    """A solution with nothing but str methods, hashlib and base64."""
    lines = peticion.decode("latin-1").split("\r\n\r\n")[0].split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("sec-websocket-version") != "13":
        return b"HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\n\r\n"
    upgrade = headers.get("upgrade", "").lower() == "websocket"
    connection = "upgrade" in [token.strip().lower() for token in headers.get("connection", "").split(",")]
    key = headers.get("sec-websocket-key")
    if not (lines[0].startswith("GET ") and upgrade and connection and key):
        return b"HTTP/1.1 400 Bad Request\r\n\r\n"
    return (
        "HTTP/1.1 101 Switching Protocols\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept(key)}\r\n"
        "\r\n"
    ).encode()


def with_protocol(peticion: bytes) -> bytes:
    """Right, but with the pieces of labkit.protocol, as the scratch server does it: forbidden."""
    try:
        request = RequestParser().feed(peticion)
        assert request is not None, "a complete request head"
        key = validate_request(request)
    except HandshakeError as exc:
        return build_reject_response(exc).serialize()
    return build_accept_response(key).serialize()


@pytest.mark.parametrize("language", ["es", "en"])
def test_the_notebook_stub_fails_with_a_hint(language: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(labkit.i18n, "_chosen", language)
    result = lesson_06.check(exercise_function(LESSON, language, "responder_handshake"))
    assert not result
    assert "HTTP/1.1 101 Switching Protocols" in result.message


def test_a_solution_passes() -> None:
    result = lesson_06.check(by_hand)
    assert result, result.message
    assert "real client" in result.message


def only_the_accept_value(peticion: bytes) -> bytes:
    """By hand, except the accept value, imported under another name from labkit."""
    from labkit.protocol.handshake import accept_value as computed

    answer = by_hand(peticion)
    key = key_of(peticion)
    return answer.replace(accept(key).encode(), computed(key).encode()) if key else answer


def websockets_accept_key(peticion: bytes) -> bytes:
    from websockets.utils import accept_key

    answer = by_hand(peticion)
    key = key_of(peticion)
    return answer.replace(accept(key).encode(), accept_key(key).encode()) if key else answer


@pytest.mark.parametrize(
    ("shortcut", "named"),
    [
        (
            with_protocol,
            "`labkit.protocol.handshake.validate_request`, `labkit.protocol.handshake.build_accept_response`",
        ),
        (only_the_accept_value, "`labkit.protocol.handshake.accept_value`"),
        (websockets_accept_key, "`websockets.utils.accept_key`"),
    ],
    ids=lambda v: getattr(v, "__name__", str(v)),
)
def test_the_handshake_it_imitates_is_forbidden(shortcut: Callable[[bytes], bytes], named: str) -> None:
    """Their answers are right, but the exercise is to write the answer by hand: the check says so."""
    case, _ = lesson_06.good_requests()[0]
    assert shortcut(case.request) == by_hand(case.request)
    result = lesson_06.check(shortcut)
    assert not result
    assert result.message.startswith(f"your function uses {named}:"), result.message
    assert "by hand" in result.message


def test_the_rfc_example_gives_the_rfc_accept_value() -> None:
    case, key = lesson_06.good_requests()[0]
    assert key == lesson_06.RFC_KEY and accept(key) == lesson_06.RFC_ACCEPT
    assert f"Sec-WebSocket-Accept: {lesson_06.RFC_ACCEPT}".encode() in by_hand(case.request)


def key_of(peticion: bytes) -> str:
    request = RequestParser().feed(peticion)
    assert request is not None
    return request.headers.get("Sec-WebSocket-Key") or ""


def exact_names(peticion: bytes) -> bytes:
    """Looks headers up with their exact case: breaks on lower-case names."""
    lines = peticion.decode().split("\r\n\r\n")[0].split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    key = headers["Sec-WebSocket-Key"]
    if headers["Sec-WebSocket-Version"] != "13":
        return b"HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\n\r\n"
    return by_hand(peticion) if key else b""


def exact_connection(peticion: bytes) -> bytes:
    """Requires ``Connection: Upgrade`` exactly: refuses Firefox's ``keep-alive, Upgrade``."""
    if b"Connection: keep-alive, Upgrade" in peticion:
        return b"HTTP/1.1 400 Bad Request\r\n\r\n"
    return by_hand(peticion)


def accepts_everything(peticion: bytes) -> bytes:
    """Never refuses: answers 101 to a version 8 request too."""
    key = key_of(peticion) or lesson_06.RFC_KEY
    return (
        "HTTP/1.1 101 Switching Protocols\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept(key)}\r\n\r\n"
    ).encode()


def rfc_accept_always(peticion: bytes) -> bytes:
    """Copies the RFC's accept value instead of computing it."""
    answer = by_hand(peticion)
    if answer.startswith(b"HTTP/1.1 101"):
        return (
            answer.split(b"Sec-WebSocket-Accept: ")[0]
            + f"Sec-WebSocket-Accept: {lesson_06.RFC_ACCEPT}\r\n\r\n".encode()
        )
    return answer


def hex_digest(peticion: bytes) -> bytes:
    key = key_of(peticion)
    wrong = base64.b64encode(hashlib.sha1((key + GUID).encode()).hexdigest().encode()).decode()
    return by_hand(peticion).replace(accept(key).encode(), wrong.encode())


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (lambda p: by_hand(p).decode(), "end with `.encode()`"),
        (lambda p: by_hand(p).replace(b"\r\n", b"\n"), "ends in `\\r\\n`, not just `\\n`"),
        (lambda p: by_hand(p)[:-2], "does not end with the empty line"),
        (hex_digest, "You base64-encoded the hex digest"),
        (exact_names, "Header names are case-insensitive"),
        (exact_connection, "`Connection` is a comma-separated list"),
        (rfc_accept_always, "not from the RFC example's"),
        (accepts_everything, "you answered 101 and accepted the connection"),
        (
            lambda p: by_hand(p).replace(b"Sec-WebSocket-Version: 13\r\n", b""),
            "without the header `Sec-WebSocket-Version: 13`",
        ),
        (
            lambda p: by_hand(p).replace(b"\r\n\r\n", b"\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"),
            "extension",
        ),
        (
            lambda p: by_hand(p).replace(b"\r\n\r\n", b"\r\nContent-Length: 0\r\n\r\n"),
            "has a body or a `Content-Length`",
        ),
        (lambda p: by_hand(p).replace(b"Upgrade: websocket\r\n", b""), "lacks the header `Upgrade: websocket`"),
        (lambda p: b"HTTP/1.1 200 OK\r\n\r\n", "accept it with `101 Switching Protocols`"),
        (lambda p: None, "you returned NoneType"),
    ],
)
def test_classic_mistakes_get_their_hint(wrong: Callable[[bytes], object], hint: str) -> None:
    result = lesson_06.check(wrong)
    assert not result
    assert hint in result.message, result.message


def test_a_missing_key_must_not_crash_the_function() -> None:
    def crashes(peticion: bytes) -> bytes:
        if b"Sec-WebSocket-Key" not in peticion and b"sec-websocket-key" not in peticion:
            raise KeyError("Sec-WebSocket-Key")
        return by_hand(peticion)

    result = lesson_06.check(crashes)
    assert not result
    assert "raised KeyError" in result.message and "400 Bad Request" in result.message


def test_an_answer_only_right_offline_fails_live() -> None:
    """The live part uses the student's function for real: a server that never echoes fails there."""

    calls: list[bytes] = []

    def flaky(peticion: bytes) -> bytes:
        calls.append(peticion)
        if b"websockets" in peticion:  # the real websockets client names itself in its User-Agent
            raise RuntimeError("boom")
        return by_hand(peticion)

    result = lesson_06.check(flaky)
    assert not result
    assert "real client" in result.message and "RuntimeError: boom" in result.message
    assert len(calls) >= 7
