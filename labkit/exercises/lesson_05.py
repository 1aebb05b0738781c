"""Lesson 05's exercise: encode a WebSocket text frame by hand (RFC 6455 §5.2, §5.3).

The student writes ``codificar_texto(texto, clave=None)``: a text frame with FIN set,
masked with the 4-byte ``clave`` when one is given. The check compares its bytes with
labkit's own encoder and with the ``websockets`` library, on the RFC 6455 §5.7 examples
and on every length form (7, 16 and 64 bits), masked and not. A wrong frame is read back
field by field so that the hint names the mistake (MASK bit, length form, byte order,
masked header...). Last, a real ``websockets`` echo server must understand one frame.

The frame must be made by hand: a function that calls ``labkit.protocol.frames`` or
``websockets``' frame code (directly or not) fails, whatever it returns, because those are
what it is compared with. :func:`watching` sees such calls at run time, so no alias hides them.
"""

from __future__ import annotations

__all__ = [
    "CASES",
    "FORBIDDEN",
    "check",
    "diagnose",
    "expected_frame",
    "forbidden_use",
    "live_echo",
    "watching",
    "websockets_frame",
]

import contextlib
import gc
import inspect
import os
import struct
import sys
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any
from unittest import mock

from websockets.frames import Frame as WsFrame
from websockets.frames import Opcode as WsOpcode

from ..clients import RawSocket
from ..protocol.frames import DecodedFrame, Frame, FrameParser, Opcode, encode
from ..protocol.handshake import build_client_request, make_key, validate_response
from ..protocol.http11 import ResponseParser
from ..servers import serve
from . import Result, failed, passed

#: Modules whose code the student's function must not run: the encoders it is compared with.
FORBIDDEN = frozenset(
    {"labkit.protocol.frames", "labkit.protocol.connection", "websockets.frames", "websockets.protocol"}
)

#: Code flags of generators and coroutines, which resume (a "call" event) without being called.
_RESUMABLE = inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR

_RFC_KEY = bytes.fromhex("37fa213d")
_KEY = bytes.fromhex("a1b2c3d4")


def _text(size: int) -> str:
    """ASCII text of exactly ``size`` bytes that is not all one byte (masking errors show)."""
    pattern = "websocket frames by hand. "
    return (pattern * (size // len(pattern) + 1))[:size]


#: (texto, clave): the RFC 6455 §5.7 examples first, then each length form and its edges.
CASES: tuple[tuple[str, bytes | None], ...] = (
    ("Hello", None),
    ("Hello", _RFC_KEY),
    ("", None),
    ("¡olé!", _KEY),
    (_text(125), None),
    (_text(125), _KEY),
    (_text(126), None),
    (_text(126), _KEY),
    ("é" * 70, None),
    (_text(65535), _KEY),
    (_text(65536), None),
    (_text(65536), _KEY),
    (_text(70000), _RFC_KEY),
)


def expected_frame(texto: str, clave: bytes | None) -> bytes:
    """labkit's own encoder: the frame ``codificar_texto(texto, clave)`` must return."""
    return encode(Frame(True, Opcode.TEXT, texto.encode("utf-8")), clave)


def websockets_frame(texto: str, clave: bytes | None) -> bytes:
    """The same frame from the ``websockets`` library, its random key replaced by ``clave``."""
    frame = WsFrame(WsOpcode.TEXT, texto.encode("utf-8"))
    with mock.patch("secrets.token_bytes", return_value=clave):
        return frame.serialize(mask=clave is not None)


@contextlib.contextmanager
def watching(modules: frozenset[str]) -> Iterator[list[str]]:
    """Collect, in this thread, the functions of ``modules`` that the block calls from other code.

    A profile hook sees every Python call at run time, however the function was imported
    (``from labkit.protocol.frames import encode as e`` included); calls the forbidden code
    makes inside itself, special methods (``__init__``…) and generators are not listed, and
    garbage collection waits, so that another object's finalizer cannot be taken for a use.
    """
    used: list[str] = []

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event != "call":
            return
        module = frame.f_globals.get("__name__", "")
        if module not in modules or frame.f_code.co_name.startswith("__") or frame.f_code.co_flags & _RESUMABLE:
            return  # building a Frame is harmless; a generator may be another object's finalizer
        caller = frame.f_back.f_globals.get("__name__", "") if frame.f_back is not None else ""
        name = f"{module}.{frame.f_code.co_qualname}"
        if caller not in modules and name not in used:
            used.append(name)

    previous = sys.getprofile()
    collecting = gc.isenabled()
    gc.disable()  # no garbage collection, whose finalizers could run forbidden code, during the block
    sys.setprofile(profile)
    try:
        yield used
    finally:
        sys.setprofile(previous)
        if collecting:
            gc.enable()


def forbidden_use(used: list[str], es: str, en: str) -> Result:
    """The verdict for a function that ran code it must write itself; ``es``/``en`` say what to use."""
    names = ", ".join(f"`{name}`" for name in used)
    return failed(
        f"tu función usa {names}: {es}",
        f"your function uses {names}: {en}",
    )


def check(codificar_texto: Callable[[str, bytes | None], object]) -> Result:
    """Every case byte for byte against labkit and websockets, then one frame to a live server."""
    for texto, clave in CASES:
        verdict = _judge(codificar_texto, texto, clave)
        if verdict is not None:
            return verdict
    clave = os.urandom(4)
    texto = "¡Hola, servidor!"
    try:
        frame = bytes(_as_bytes(codificar_texto(texto, clave)) or b"")
        echoed = live_echo(frame)
    except Exception as exc:
        return failed(
            f"no pude hablar con el servidor de prueba ({type(exc).__name__}: {exc}); vuelve a ejecutar la celda.",
            f"I could not talk to the test server ({type(exc).__name__}: {exc}); run the cell again.",
        )
    if echoed != texto:
        return failed(
            f"un servidor `websockets` de eco recibió tu trama de {texto!r} y devolvió {echoed!r}.",
            f"a `websockets` echo server received your frame of {texto!r} and sent back {echoed!r}.",
        )
    return passed(
        f"tus {len(CASES)} tramas son idénticas, byte a byte, a las de `labkit.protocol.frames.encode` y "
        "a las de `websockets.frames` (los ejemplos de la RFC 6455 §5.7 y las tres formas de la longitud), "
        "y un servidor `websockets` de eco entendió tu trama con una clave al azar.",
        f"your {len(CASES)} frames are identical, byte for byte, to those of `labkit.protocol.frames.encode` "
        "and of `websockets.frames` (the RFC 6455 §5.7 examples and all three length forms), and a "
        "`websockets` echo server understood your frame with a random key.",
    )


def _as_bytes(answer: object) -> bytes | None:
    if isinstance(answer, bytes | bytearray | memoryview):
        return bytes(answer)
    return None


def _describe(texto: str, clave: bytes | None) -> tuple[str, str]:
    size = len(texto.encode("utf-8"))
    shown = repr(texto) if len(texto) <= 12 else f"{texto[:10]!r}…"
    key = clave.hex(" ") if clave is not None else None
    return (
        f"codificar_texto({shown}, {'clave=' + key if key else 'sin clave'}) ({size} bytes de UTF-8)",
        f"codificar_texto({shown}, {'clave=' + key if key else 'no key'}) ({size} bytes of UTF-8)",
    )


def _hex(data: bytes, limit: int = 14) -> str:
    shown = data[:limit].hex(" ")
    return f"`{shown} …` ({len(data)} bytes)" if len(data) > limit else f"`{shown}` ({len(data)} bytes)"


def _judge(codificar_texto: Callable[[str, bytes | None], object], texto: str, clave: bytes | None) -> Result | None:
    want = expected_frame(texto, clave)
    theirs = websockets_frame(texto, clave)
    if want != theirs:  # pragma: no cover - labkit and websockets agree (tests/protocol)
        raise AssertionError(f"labkit and websockets disagree on {texto[:10]!r}")
    call_es, call_en = _describe(texto, clave)
    answer: object = None
    error: Exception | None = None
    with watching(FORBIDDEN) as used:
        try:
            answer = codificar_texto(texto, clave)
        except Exception as exc:
            error = exc
    if used:
        return _by_hand(used)
    if error is not None:
        hint_es, hint_en = _exception_hint(error, texto)
        module = type(error).__module__
        kind = type(error).__name__ if module == "builtins" else f"{module}.{type(error).__name__}"
        return failed(
            f"{call_es} lanzó {kind}: {error}. {hint_es}",
            f"{call_en} raised {kind}: {error}. {hint_en}",
        )
    got = _as_bytes(answer)
    if got == want:
        return None
    try:
        hint_es, hint_en = diagnose(texto, clave, answer)
    except Exception:  # pragma: no cover - a hint must never hide the verdict
        hint_es, hint_en = "", ""
    if got is None:
        return failed(f"{call_es} devolvió {answer!r}. {hint_es}", f"{call_en} returned {answer!r}. {hint_en}")
    return failed(
        f"{call_es} devolvió {_hex(got)}; `labkit.protocol.frames.encode` y `websockets` dan {_hex(want)}. {hint_es}",
        f"{call_en} returned {_hex(got)}; `labkit.protocol.frames.encode` and `websockets` give {_hex(want)}. "
        f"{hint_en}",
    )


def _by_hand(used: list[str]) -> Result:
    return forbidden_use(
        used,
        "aquí la trama la construyes tú, a mano, con operaciones de bits, `bytes` y `struct`; "
        "`labkit.protocol` y `websockets` son justo con lo que te comparamos.",
        "here you build the frame yourself, by hand, with bit operations, `bytes` and `struct`; "
        "`labkit.protocol` and `websockets` are exactly what you are compared with.",
    )


def _exception_hint(exc: Exception, texto: str) -> tuple[str, str]:
    size = len(texto.encode("utf-8"))
    if isinstance(exc, ValueError) and "range(0, 256)" in str(exc) and size > 125:
        return (
            "Un byte solo guarda de 0 a 255: con más de 125 bytes, el campo de 7 bits lleva 126 (y la longitud en "
            "2 bytes) o 127 (y la longitud en 8 bytes) (RFC 6455 §5.2).",
            "A byte only holds 0 to 255: above 125 bytes, the 7-bit field holds 126 (then the length in 2 bytes) "
            "or 127 (then the length in 8 bytes) (RFC 6455 §5.2).",
        )
    if isinstance(exc, OverflowError | struct.error) and size > 0xFFFF:
        return (
            f"{size} bytes no caben en los 2 bytes de la forma de 16 bits (como mucho 65535): el campo de 7 bits "
            "vale 127 y detrás van 8 bytes con la longitud (RFC 6455 §5.2).",
            f"{size} bytes do not fit in the 2 bytes of the 16-bit form (65535 at most): the 7-bit field holds 127, "
            "followed by 8 bytes of length (RFC 6455 §5.2).",
        )
    if isinstance(exc, TypeError) and "NoneType" in str(exc):
        return (
            "¿Usaste `clave` sin comprobar antes si es `None`? Sin clave, la trama no se enmascara.",
            "Did you use `clave` without checking first whether it is `None`? Without a key, the frame is not masked.",
        )
    return ("", "")


def _length_form(size: int) -> tuple[int, int]:
    """(value of the 7-bit field, bytes of extended length) for a payload of ``size`` bytes (§5.2)."""
    if size <= 125:
        return size, 0
    if size <= 0xFFFF:
        return 126, 2
    return 127, 8


def diagnose(texto: str, clave: bytes | None, answer: object) -> tuple[str, str]:
    """A hint (Spanish, English) naming the first field of ``answer`` that is wrong, read as §5.2 lays it out."""
    data = texto.encode("utf-8")
    size = len(data)
    got = _as_bytes(answer)
    if answer is None:
        return (
            "Tu función aún no devuelve nada: devuelve los bytes de la trama.",
            "Your function does not return anything yet: return the frame's bytes.",
        )
    if isinstance(answer, str):
        return (
            "Devuelve `bytes`, no texto: una trama son bytes (`bytes([...])`, `.encode()`).",
            "Return `bytes`, not text: a frame is bytes (`bytes([...])`, `.encode()`).",
        )
    if got is None:
        return (f"Devuelve `bytes`, no {type(answer).__name__}.", f"Return `bytes`, not {type(answer).__name__}.")
    if len(got) < 2:
        return (
            "Una trama tiene al menos 2 bytes de cabecera (RFC 6455 §5.2).",
            "A frame has at least 2 bytes of header (RFC 6455 §5.2).",
        )
    b0, b1 = got[0], got[1]
    if clave is not None and b0 != 0x81 and b0 ^ clave[0] == 0x81:
        return (
            "Enmascaraste también la cabecera: la clave solo se aplica a los datos (*payload*) que van detrás de "
            "ella; la cabecera y la propia clave viajan tal cual (RFC 6455 §5.3).",
            "You masked the header too: the key only applies to the payload that follows it; the header and the "
            "key itself travel as they are (RFC 6455 §5.3).",
        )
    if not b0 & 0x80:
        return (
            "Falta el bit FIN (0x80 del primer byte): el mensaje cabe entero en esta trama, así que es la última.",
            "The FIN bit (0x80 of the first byte) is missing: the whole message fits in this frame, so it is the "
            "last one.",
        )
    if b0 & 0x70:
        return (
            "Los bits RSV1-3 (0x70 del primer byte) deben ser 0 si no se negoció una extensión (RFC 6455 §5.2).",
            "The RSV1-3 bits (0x70 of the first byte) must be 0 unless an extension was negotiated (RFC 6455 §5.2).",
        )
    if b0 & 0x0F != Opcode.TEXT:
        return (
            f"El *opcode* (los 4 bits bajos del primer byte) es {b0 & 0x0F}; para texto es 1. "
            "El primer byte completo es 0x81.",
            f"The opcode (the low 4 bits of the first byte) is {b0 & 0x0F}; for text it is 1. "
            "The whole first byte is 0x81.",
        )
    if clave is not None and not b1 & 0x80:
        return (
            "Olvidaste el bit MASK (0x80 del segundo byte): con clave, la trama va enmascarada, el segundo byte "
            "lleva MASK = 1, y detrás de la longitud van los 4 bytes de la clave y los datos enmascarados "
            "(RFC 6455 §5.2, §5.3).",
            "You forgot the MASK bit (0x80 of the second byte): with a key, the frame is masked, the second byte "
            "has MASK = 1, and after the length come the 4 bytes of the key and the masked payload "
            "(RFC 6455 §5.2, §5.3).",
        )
    if clave is None and b1 & 0x80:
        return (
            "Sin clave la trama no va enmascarada (así envía un servidor): el bit MASK (0x80 del segundo byte) "
            "debe ser 0 (RFC 6455 §5.1).",
            "Without a key the frame is not masked (that is how a server sends): the MASK bit (0x80 of the second "
            "byte) must be 0 (RFC 6455 §5.1).",
        )
    field, extra = _length_form(size)
    got_field = b1 & 0x7F
    chars = len(texto)
    if got_field != field:
        if chars != size and got_field == _length_form(chars)[0]:
            return _characters_hint(size, chars)
        if size <= 125:
            return (
                f"Con {size} bytes de datos la longitud cabe en los 7 bits del segundo byte: el campo vale {size}. "
                "126 y 127 solo se usan a partir de 126 bytes (RFC 6455 §5.2: siempre la forma más corta).",
                f"With {size} bytes of payload the length fits in the 7 bits of the second byte: the field holds "
                f"{size}. 126 and 127 are only used from 126 bytes on (RFC 6455 §5.2: always the shortest form).",
            )
        if size <= 0xFFFF:
            return (
                f"{size} bytes no caben en 7 bits (como mucho 125): el campo de 7 bits vale 126 y detrás van 2 bytes "
                f"con la longitud. 127 (8 bytes) es solo para más de 65535 (RFC 6455 §5.2).",
                f"{size} bytes do not fit in 7 bits (125 at most): the 7-bit field holds 126, followed by 2 bytes of "
                "length. 127 (8 bytes) is only for more than 65535 (RFC 6455 §5.2).",
            )
        return (
            f"{size} bytes no caben en 16 bits (como mucho 65535): el campo de 7 bits vale 127 y detrás van 8 bytes "
            "con la longitud (RFC 6455 §5.2).",
            f"{size} bytes do not fit in 16 bits (65535 at most): the 7-bit field holds 127, followed by 8 bytes of "
            "length (RFC 6455 §5.2).",
        )
    want_ext = size.to_bytes(extra, "big") if extra else b""
    got_ext = got[2 : 2 + extra]
    if extra and got_ext != want_ext:
        if got_ext == size.to_bytes(extra, "little"):
            return (
                f"Los {extra} bytes de la longitud van en orden de red, *big-endian*: el byte más significativo "
                f"primero (`{want_ext.hex(' ')}`), no `{got_ext.hex(' ')}` (RFC 6455 §5.2). "
                f"`struct.pack('!{'H' if extra == 2 else 'Q'}', n)` o `n.to_bytes({extra}, 'big')`.",
                f"The {extra} length bytes go in network byte order, big-endian: most significant byte first "
                f"(`{want_ext.hex(' ')}`), not `{got_ext.hex(' ')}` (RFC 6455 §5.2). "
                f"`struct.pack('!{'H' if extra == 2 else 'Q'}', n)` or `n.to_bytes({extra}, 'big')`.",
            )
        if chars != size and got_ext == chars.to_bytes(extra, "big"):
            return _characters_hint(size, chars)
        return (
            f"Detrás del 126/127 van {extra} bytes con la longitud de los datos, {size}: `{want_ext.hex(' ')}` "
            "(RFC 6455 §5.2).",
            f"After the 126/127 come {extra} bytes holding the payload length, {size}: `{want_ext.hex(' ')}` "
            "(RFC 6455 §5.2).",
        )
    start = 2 + extra
    if clave is not None:
        if got[start : start + 4] != clave:
            if got[-4:] == clave:
                return (
                    "La clave va justo después de la longitud, antes de los datos, no al final (RFC 6455 §5.2).",
                    "The key goes right after the length, before the payload, not at the end (RFC 6455 §5.2).",
                )
            return (
                f"Justo después de la longitud van los 4 bytes de la clave, `{clave.hex(' ')}` (RFC 6455 §5.2).",
                f"Right after the length come the 4 bytes of the key, `{clave.hex(' ')}` (RFC 6455 §5.2).",
            )
        start += 4
    payload = got[start:]
    if len(payload) != size:
        where_es, where_en = ("la clave", "the key") if clave is not None else ("la cabecera", "the header")
        return (
            f"Detrás de {where_es} van exactamente los {size} bytes de datos; hay {len(payload)}.",
            f"After {where_en} come exactly the {size} bytes of payload; there are {len(payload)}.",
        )
    if clave is None:
        return (
            f"Detrás de la cabecera van los {size} bytes del texto en UTF-8, tal cual (`texto.encode()`).",
            f"After the header come the {size} bytes of the text in UTF-8, as they are (`texto.encode()`).",
        )
    if payload == data:
        return (
            "Los datos van sin enmascarar: cada byte i se combina con `clave[i % 4]` con XOR (`^`) (RFC 6455 §5.3).",
            "The payload is not masked: each byte i is combined with `clave[i % 4]` by XOR (`^`) (RFC 6455 §5.3).",
        )
    return (
        "Los datos enmascarados no coinciden: el byte i de los datos (contando desde 0 en el primer byte de datos, "
        "no desde el principio de la trama) se combina con `clave[i % 4]` con XOR (`^`) (RFC 6455 §5.3).",
        "The masked payload does not match: byte i of the payload (counting from 0 at the first payload byte, not "
        "at the start of the frame) is combined with `clave[i % 4]` by XOR (`^`) (RFC 6455 §5.3).",
    )


def _characters_hint(size: int, chars: int) -> tuple[str, str]:
    return (
        f"La longitud se cuenta en bytes, no en caracteres: este texto tiene {chars} caracteres pero {size} bytes "
        "en UTF-8. Usa `len(texto.encode())`.",
        f"The length counts bytes, not characters: this text has {chars} characters but {size} bytes of UTF-8. "
        "Use `len(texto.encode())`.",
    )


def live_echo(frame: bytes) -> str:
    """Open a WebSocket to a fresh ``websockets`` echo server by hand, send ``frame``, return the echoed text."""
    server = serve("echo", over="websocket", name="exercise-05")
    try:
        with RawSocket(server.url) as raw:
            key = make_key()
            raw.send(build_client_request(f"{server.host}:{server.port}", "/", key).serialize())
            response = ResponseParser().feed(raw.recv_until(b"\r\n\r\n"))
            if response is None:
                raise OSError("no handshake response")
            validate_response(response, key)
            raw.send(frame)
            parser = FrameParser(expect_masked=False)
            replies: list[DecodedFrame] = []
            while not replies and not raw.closed:
                replies = parser.feed(raw.recv(quiet=0.02))
            raw.send(encode(Frame(True, Opcode.CLOSE, b"\x03\xe8"), os.urandom(4)))
            raw.peer_closed()
    finally:
        server.stop()
    if not replies:
        return "(nothing: the server closed the connection)"
    reply = replies[0]
    if reply.opcode is Opcode.CLOSE:
        return f"(a close frame: {reply.payload[:2].hex(' ')} {reply.payload[2:].decode('utf-8', 'replace')})"
    return reply.payload.decode("utf-8", "replace")
