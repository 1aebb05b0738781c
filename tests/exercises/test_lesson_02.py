"""Lesson 02's check: the notebook's stub fails, a solution passes, classic mistakes get their hint."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable, Iterator

import pytest

import labkit
import labkit.i18n
from labkit.exercises import lesson_02
from tests.exercises.notebook_cells import exercise_function

LESSON = "02-handshake-websocket.ipynb"
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


@pytest.fixture(autouse=True)
def nothing_left_running() -> Iterator[None]:
    yield
    assert labkit.running() == []


def solution(clave: str) -> str:
    return base64.b64encode(hashlib.sha1((clave + GUID).encode()).digest()).decode()


def test_the_solution_matches_rfc_6455_section_1_3() -> None:
    assert solution("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert (lesson_02.RFC_KEY, lesson_02.RFC_ACCEPT) == ("dGhlIHNhbXBsZSBub25jZQ==", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")


@pytest.mark.parametrize("language", ["es", "en"])
def test_the_notebook_stub_fails_with_a_hint(language: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(labkit.i18n, "_chosen", language)
    result = lesson_02.check(exercise_function(LESSON, language, "calcular_accept"))
    assert not result
    assert "SHA-1" in result.message


def test_a_solution_passes() -> None:
    result = lesson_02.check(solution)
    assert result, result.message


def test_a_live_server_agrees_with_the_solution() -> None:
    key = base64.b64encode(os.urandom(16)).decode()
    assert lesson_02.live_accept(key) == solution(key)


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
        (lambda k: solution(k) + "\n", "extra spaces or line breaks"),
        (lambda k: None, "does not compute anything yet"),
    ],
)
def test_classic_mistakes_get_their_hint(
    wrong: Callable[[str], object], hint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(labkit.i18n, "_chosen", "en")
    result = lesson_02.check(wrong)
    assert not result
    assert hint in result.message


def test_a_function_right_only_for_the_rfc_key_fails_live(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(labkit.i18n, "_chosen", "en")
    result = lesson_02.check(lambda clave: "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    assert not result
    assert "the server answered" in result.message


def test_an_exception_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(labkit.i18n, "_chosen", "en")

    def breaks(clave: str) -> str:
        raise ValueError("boom")

    result = lesson_02.check(breaks)
    assert not result
    assert "ValueError: boom" in result.message
