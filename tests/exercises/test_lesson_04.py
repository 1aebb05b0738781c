"""Lesson 04's check: the notebook's stub fails, a decoder passes, classic mistakes get their hint."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

import labkit
import labkit.i18n
from labkit.exercises import lesson_04
from tests.exercises.notebook_cells import exercise_function

LESSON = "04-socketio.ipynb"

ENGINEIO = ["open", "close", "ping", "pong", "message", "upgrade", "noop"]
SOCKETIO = ["connect", "disconnect", "event", "ack", "connect_error", "binary_event", "binary_ack"]


@pytest.fixture(autouse=True)
def spanish_and_nothing_left(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(labkit.i18n, "_chosen", "es")
    yield
    assert labkit.running() == []


def solution(packet: str) -> tuple[str, str | None, int | None, Any]:
    engineio, rest = ENGINEIO[int(packet[0])], packet[1:]
    socketio = ack = None
    if engineio == "message":
        socketio, rest = SOCKETIO[int(rest[0])], rest[1:]
        digits = ""
        while rest[:1].isdigit():
            digits, rest = digits + rest[0], rest[1:]
        ack = int(digits) if digits else None
    return engineio, socketio, ack, json.loads(rest) if rest else None


@pytest.mark.parametrize("language", ["es", "en"])
def test_the_notebook_stub_is_not_yet_correct(language: str) -> None:
    result = lesson_04.check(exercise_function(LESSON, language, "decodificar"))
    assert not result.passed
    assert result.message.startswith("decodificar('2') devolvió (None, None, None, None)")


def test_a_decoder_passes() -> None:
    result = lesson_04.check(solution)
    assert result.passed, result.message


def test_a_one_digit_ack_id_gets_the_several_digits_hint() -> None:
    def one_digit(packet: str) -> tuple[str, str | None, int | None, Any]:
        if packet[:1] == "4" and packet[2:3].isdigit():
            return "message", SOCKETIO[int(packet[1])], int(packet[2]), json.loads(packet[3:] or "null")
        return solution(packet)

    result = lesson_04.check(one_digit)
    assert not result.passed
    assert "4212" in result.message or "4312" in result.message
    assert "varias cifras" in result.message


def test_an_ack_id_kept_as_text_gets_the_int_hint() -> None:
    def text_id(packet: str) -> tuple[str, str | None, Any, Any]:
        engineio, socketio, ack, data = solution(packet)
        return engineio, socketio, None if ack is None else str(ack), data

    result = lesson_04.check(text_id)
    assert not result.passed
    assert "int()" in result.message


def test_type_digits_instead_of_names_get_the_names_hint() -> None:
    def digits(packet: str) -> tuple[str, str | None, int | None, Any]:
        _, socketio, ack, data = solution(packet)
        return packet[0], socketio, ack, data

    result = lesson_04.check(digits)
    assert not result.passed
    assert "devuélvelo por su nombre" in result.message


def test_unparsed_json_gets_the_json_loads_hint() -> None:
    def raw_data(packet: str) -> tuple[str, str | None, int | None, Any]:
        engineio, socketio, ack, _ = solution(packet)
        rest = packet.lstrip("0123456789")
        return engineio, socketio, ack, rest or None

    result = lesson_04.check(raw_data)
    assert not result.passed
    assert "json.loads" in result.message


def test_a_socketio_type_outside_message_packets_is_explained() -> None:
    def everything_is_socketio(packet: str) -> tuple[str, str | None, int | None, Any]:
        engineio, socketio, ack, data = solution(packet)
        return engineio, socketio or "connect", ack, data

    result = lesson_04.check(everything_is_socketio)
    assert not result.passed
    assert "Solo los paquetes 'message' (4)" in result.message


def test_a_json_error_on_ack_packets_points_at_the_ack_id() -> None:
    def ignores_ack_ids(packet: str) -> tuple[str, str | None, int | None, Any]:
        if packet[:1] == "4":
            return "message", SOCKETIO[int(packet[1])], None, json.loads(packet[2:] or "null")
        return solution(packet)

    result = lesson_04.check(ignores_ack_ids)
    assert not result.passed
    assert "lanzó JSONDecodeError" in result.message and "id del ack" in result.message


def test_the_verdict_speaks_english_in_english_lessons(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(labkit.i18n, "_chosen", "en")
    result = lesson_04.check(exercise_function(LESSON, "en", "decodificar"))
    assert repr(result).startswith("✘ Not yet: decodificar('2') returned (None, None, None, None); expected")
