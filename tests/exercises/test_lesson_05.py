"""Lesson 05's check: the notebook's stub fails, a hand-made encoder passes, classic mistakes get their hint."""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator

import pytest

import labkit
import labkit.i18n
from labkit.exercises import lesson_05
from labkit.protocol.frames import Frame, Opcode, decode, encode
from tests.exercises.notebook_cells import exercise_function

LESSON = "05-tramas-a-mano.ipynb"


@pytest.fixture(autouse=True)
def english_and_nothing_left(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(labkit.i18n, "_chosen", "en")
    yield
    assert labkit.running() == []


def mask(data: bytes, clave: bytes) -> bytes:
    return bytes(b ^ clave[i % 4] for i, b in enumerate(data))


def header(n: int, masked: bool, order: str = "!") -> bytes:
    bit = 0x80 if masked else 0
    if n <= 125:
        return bytes([0x81, bit | n])
    if n <= 0xFFFF:
        return bytes([0x81, bit | 126]) + struct.pack(order + "H", n)
    return bytes([0x81, bit | 127]) + struct.pack(order + "Q", n)


def solution(texto: str, clave: bytes | None = None) -> bytes:
    datos = texto.encode("utf-8")
    if clave is None:
        return header(len(datos), False) + datos
    return header(len(datos), True) + clave + mask(datos, clave)


def test_the_solution_gives_the_rfc_6455_examples() -> None:
    assert solution("Hello") == bytes.fromhex("81 05 48 65 6c 6c 6f")
    assert solution("Hello", bytes.fromhex("37fa213d")) == bytes.fromhex("81 85 37 fa 21 3d 7f 9f 4d 51 58")


@pytest.mark.parametrize(("texto", "clave"), lesson_05.CASES, ids=lambda v: repr(v)[:12])
def test_labkit_and_websockets_agree_on_every_case(texto: str, clave: bytes | None) -> None:
    expected = lesson_05.expected_frame(texto, clave)
    assert expected == lesson_05.websockets_frame(texto, clave) == solution(texto, clave)
    assert decode(expected).payload == texto.encode("utf-8")


def test_the_cases_cover_every_length_form_and_its_edges() -> None:
    sizes = {len(texto.encode("utf-8")) for texto, _ in lesson_05.CASES}
    assert {0, 125, 126, 65535, 65536} <= sizes
    assert any(clave is None for _, clave in lesson_05.CASES) and any(clave for _, clave in lesson_05.CASES)
    assert any(len(texto) != len(texto.encode("utf-8")) for texto, _ in lesson_05.CASES)


@pytest.mark.parametrize("language", ["es", "en"])
def test_the_notebook_stub_fails_with_the_mask_hint(language: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(labkit.i18n, "_chosen", language)
    result = lesson_05.check(exercise_function(LESSON, language, "codificar_texto"))
    assert not result
    assert "MASK" in result.message


def test_a_solution_passes() -> None:
    result = lesson_05.check(solution)
    assert result, result.message
    assert "websockets" in result.message


def test_a_live_server_echoes_a_hand_made_frame() -> None:
    assert lesson_05.live_echo(solution("¡Hola!", bytes.fromhex("01020304"))) == "¡Hola!"


def little_endian(texto: str, clave: bytes | None = None) -> bytes:
    datos = texto.encode("utf-8")
    head = header(len(datos), clave is not None, order="<")
    return head + datos if clave is None else head + clave + mask(datos, clave)


def without_mask_bit(texto: str, clave: bytes | None = None) -> bytes:
    frame = solution(texto, clave)
    return frame[:1] + bytes([frame[1] & 0x7F]) + frame[2:]


def masked_header(texto: str, clave: bytes | None = None) -> bytes:
    if clave is None:
        return solution(texto)
    datos = texto.encode("utf-8")
    return mask(header(len(datos), True), clave) + clave + mask(datos, clave)


def counts_characters(texto: str, clave: bytes | None = None) -> bytes:
    datos = texto.encode("utf-8")
    head = header(len(texto), clave is not None)
    return head + datos if clave is None else head + clave + mask(datos, clave)


def never_64_bits(texto: str, clave: bytes | None = None) -> bytes:
    datos = texto.encode("utf-8")
    n = len(datos)
    bit = 0x80 if clave is not None else 0
    head = bytes([0x81, bit | n]) if n <= 125 else bytes([0x81, bit | 126]) + struct.pack("!H", n & 0xFFFF)
    return head + datos if clave is None else head + clave + mask(datos, clave)


def only_7_bits(texto: str, clave: bytes | None = None) -> bytes:
    datos = texto.encode("utf-8")
    head = bytes([0x81, (0x80 if clave is not None else 0) | len(datos) & 0x7F])
    return head + datos if clave is None else head + clave + mask(datos, clave)


def unmasked_payload(texto: str, clave: bytes | None = None) -> bytes:
    datos = texto.encode("utf-8")
    return header(len(datos), clave is not None) + (clave or b"") + datos


def key_at_the_end(texto: str, clave: bytes | None = None) -> bytes:
    datos = texto.encode("utf-8")
    if clave is None:
        return solution(texto)
    return header(len(datos), True) + mask(datos, clave) + clave


def wrong_opcode(texto: str, clave: bytes | None = None) -> bytes:
    frame = solution(texto, clave)
    return bytes([0x82]) + frame[1:]


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (little_endian, "big-endian"),
        (without_mask_bit, "You forgot the MASK bit"),
        (masked_header, "You masked the header too"),
        (counts_characters, "counts bytes, not characters"),
        (never_64_bits, "do not fit in 16 bits"),
        (only_7_bits, "come 2 bytes holding the payload length"),
        (unmasked_payload, "The payload is not masked"),
        (key_at_the_end, "not at the end"),
        (wrong_opcode, "for text it is 1"),
        (lambda texto, clave=None: solution(texto, clave).decode("latin-1"), "Return `bytes`, not text"),
        (lambda texto, clave=None: None, "does not return anything yet"),
        (lambda texto, clave=None: solution(texto, clave)[:-1], "come exactly the"),
    ],
    ids=lambda v: getattr(v, "__name__", str(v))[:30],
)
def test_classic_mistakes_get_their_hint(wrong: Callable[..., object], hint: str) -> None:
    result = lesson_05.check(wrong)
    assert not result
    assert hint in result.message, result.message


def labkit_encoder(texto: str, clave: bytes | None = None) -> bytes:
    return encode(Frame(True, Opcode.TEXT, texto.encode("utf-8")), clave)


def renamed_import(texto: str, clave: bytes | None = None) -> bytes:
    from labkit.protocol.frames import encode as make

    return make(Frame(True, Opcode.TEXT, texto.encode("utf-8")), clave)


def websockets_encoder(texto: str, clave: bytes | None = None) -> bytes:
    return lesson_05.websockets_frame(texto, clave)


def through_a_helper(texto: str, clave: bytes | None = None) -> bytes:
    return solution(texto, clave) if clave is None else labkit_encoder(texto, clave)


@pytest.mark.parametrize(
    ("shortcut", "named"),
    [
        (labkit_encoder, "`labkit.protocol.frames.encode`:"),
        (renamed_import, "`labkit.protocol.frames.encode`:"),
        (websockets_encoder, "`websockets.frames.Frame.serialize`:"),
        (through_a_helper, "`labkit.protocol.frames.encode`:"),
    ],
    ids=lambda v: getattr(v, "__name__", str(v)),
)
def test_the_encoders_it_is_compared_with_are_forbidden(shortcut: Callable[..., bytes], named: str) -> None:
    """Their frames are right, but the exercise is to build them by hand: the check says so."""
    assert shortcut("Hello", bytes.fromhex("37fa213d")) == solution("Hello", bytes.fromhex("37fa213d"))
    result = lesson_05.check(shortcut)
    assert not result
    assert result.message.startswith(f"your function uses {named}"), result.message
    assert "by hand" in result.message


def test_a_forbidden_call_that_raises_is_still_named() -> None:
    def half_way(texto: str, clave: bytes | None = None) -> bytes:
        encode(Frame(True, Opcode.TEXT, texto.encode("utf-8")), clave)
        raise RuntimeError("then gave up")

    result = lesson_05.check(half_way)
    assert not result and "`labkit.protocol.frames.encode`" in result.message


def test_watching_restores_the_previous_profiler() -> None:
    import sys

    def profiler(frame: object, event: str, arg: object) -> None:
        return None

    sys.setprofile(profiler)
    try:
        with lesson_05.watching(lesson_05.FORBIDDEN) as used:
            encode(Frame(True, Opcode.TEXT, b"x"))
        assert used == ["labkit.protocol.frames.encode"]
        assert sys.getprofile() is profiler
    finally:
        sys.setprofile(None)


def test_an_overflowing_length_gets_the_64_bit_hint() -> None:
    def packs_16_bits(texto: str, clave: bytes | None = None) -> bytes:
        datos = texto.encode("utf-8")
        n = len(datos)
        bit = 0x80 if clave is not None else 0
        head = bytes([0x81, bit | n]) if n <= 125 else bytes([0x81, bit | 126]) + struct.pack("!H", n)
        return head + datos if clave is None else head + clave + mask(datos, clave)

    result = lesson_05.check(packs_16_bits)
    assert not result
    assert "struct.error" in result.message and "the 7-bit field holds 127" in result.message


def test_an_exception_is_reported_not_raised() -> None:
    def breaks(texto: str, clave: bytes | None = None) -> bytes:
        raise ValueError("boom")

    result = lesson_05.check(breaks)
    assert not result
    assert "ValueError: boom" in result.message


def test_spanish_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(labkit.i18n, "_chosen", "es")
    assert "Olvidaste el bit MASK" in lesson_05.check(without_mask_bit).message
    assert "¡Correcto!" in repr(lesson_05.check(solution))


@pytest.mark.parametrize(
    ("size", "wrong_header", "hint"),
    [
        (200, bytes([0x81, 200 & 0x7F]), "do not fit in 7 bits"),
        (100, bytes([0x81, 126, 0, 100]), "always the shortest form"),
        (300, bytes([0x81, 127]) + (300).to_bytes(8, "big"), "127 (8 bytes) is only for more than 65535"),
    ],
)
def test_length_form_hints(size: int, wrong_header: bytes, hint: str) -> None:
    texto = "x" * size
    _, english = lesson_05.diagnose(texto, None, wrong_header + texto.encode())
    assert hint in english
