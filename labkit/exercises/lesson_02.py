"""Lesson 02's exercise: compute ``Sec-WebSocket-Accept`` from ``Sec-WebSocket-Key``.

The student writes ``calcular_accept(clave)``. The check tries the example of RFC 6455
§1.3, then a live handshake with a random key against an echo server of its own, and
recognises the classic wrong answers (hex digest, forgotten GUID, …) to give a precise hint.
"""

from __future__ import annotations

__all__ = ["RFC_ACCEPT", "RFC_KEY", "check", "diagnose", "live_accept"]

import base64
import binascii
import hashlib
import os
from collections.abc import Callable

from ..clients import RawSocket
from ..protocol.handshake import GUID, accept_value
from ..servers import serve
from . import Result, failed, passed

#: RFC 6455 §1.3: the example key and the accept value it must give.
RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
RFC_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def check(calcular_accept: Callable[[str], object]) -> Result:
    """The RFC example first (a hint names the mistake), then a live server with a random key."""
    verdict = _judge(calcular_accept, RFC_KEY, RFC_ACCEPT, live=False)
    if verdict is not None:
        return verdict
    key = base64.b64encode(os.urandom(16)).decode("ascii")
    try:
        expected = live_accept(key)
    except OSError as exc:
        return failed(
            f"no pude hablar con el servidor de prueba ({exc}); vuelve a ejecutar la celda.",
            f"could not talk to the check's server ({exc}); run the cell again.",
        )
    verdict = _judge(calcular_accept, key, expected, live=True)
    if verdict is not None:
        return verdict
    return passed(
        "Tu valor coincide con el ejemplo de la RFC 6455 (§1.3) y con el `Sec-WebSocket-Accept` "
        "que un servidor real respondió a una clave al azar.",
        "Your value matches the example of RFC 6455 (§1.3) and the `Sec-WebSocket-Accept` "
        "a real server answered to a random key.",
    )


def live_accept(key: str) -> str:
    """Send a handshake with ``key`` to a fresh echo server and return its Sec-WebSocket-Accept."""
    server = serve("echo", over="websocket", name="exercise-02")
    try:
        with RawSocket(server.url) as raw:
            raw.send(
                "GET / HTTP/1.1\r\n"
                f"Host: {server.host}:{server.port}\r\n"
                "Upgrade: websocket\r\n"
                "Connection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n"
                "\r\n"
            )
            head = raw.recv_until(b"\r\n\r\n").decode("latin-1")
    finally:
        server.stop()
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "sec-websocket-accept":
            return value.strip()
    raise OSError(f"no Sec-WebSocket-Accept in the answer: {head.splitlines()[0] if head else 'nothing'}")


def _judge(calcular_accept: Callable[[str], object], key: str, expected: str, live: bool) -> Result | None:
    try:
        answer = calcular_accept(key)
    except Exception as exc:
        return failed(
            f"con la clave {key!r} tu función lanzó {type(exc).__name__}: {exc}",
            f"with the key {key!r} your function raised {type(exc).__name__}: {exc}",
        )
    if answer == expected:
        return None
    hint_es, hint_en = diagnose(key, answer)
    where_es = "el servidor respondió" if live else "la RFC 6455 (§1.3) da"
    where_en = "the server answered" if live else "RFC 6455 (§1.3) gives"
    return failed(
        f"con la clave {key!r} devolviste {answer!r}, pero {where_es} {expected!r}. {hint_es}",
        f"with the key {key!r} you returned {answer!r}, but {where_en} {expected!r}. {hint_en}",
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def diagnose(key: str, answer: object) -> tuple[str, str]:
    """A hint (Spanish, English) naming the classic mistake that produces ``answer`` for ``key``."""
    right = hashlib.sha1((key + GUID).encode("ascii"))
    if answer is None or answer == "":
        return (
            "Tu función aún no calcula nada: une la clave y el GUID, aplica SHA-1 y codifica en base64.",
            "Your function does not compute anything yet: join the key and the GUID, apply SHA-1, encode in base64.",
        )
    if isinstance(answer, bytes):
        if answer == right.digest():
            return (
                "Eso es el digest SHA-1 en bruto (20 bytes): falta codificarlo en base64.",
                "That is the raw SHA-1 digest (20 bytes): it still needs base64.",
            )
        if answer.decode("latin-1") == accept_value(key):
            return (
                "El valor es correcto pero es `bytes`: devuelve texto con `.decode()`.",
                "The value is right but it is `bytes`: return text with `.decode()`.",
            )
        return (
            "Devuelve texto (`str`), el que iría en la cabecera.",
            "Return text (a `str`), what would go in the header.",
        )
    if not isinstance(answer, str):
        return (
            f"Devuelve texto (`str`), no {type(answer).__name__}.",
            f"Return text (a `str`), not {type(answer).__name__}.",
        )
    if answer == _b64(right.hexdigest().encode("ascii")):
        return (
            "Codificaste en base64 el digest en hexadecimal (`.hexdigest()`, 40 caracteres); "
            "hay que codificar el digest en bruto, sus 20 bytes: `.digest()`.",
            "You base64-encoded the hex digest (`.hexdigest()`, 40 characters); "
            "base64 the raw digest, its 20 bytes: `.digest()`.",
        )
    if answer == right.hexdigest():
        return (
            "Eso es el digest en hexadecimal: codifica en base64 el digest en bruto (`.digest()`).",
            "That is the hex digest: base64-encode the raw digest (`.digest()`).",
        )
    if answer == _b64(hashlib.sha1(key.encode("ascii")).digest()):
        return (
            f"Olvidaste el GUID: el SHA-1 se calcula sobre la clave seguida de {GUID!r} (RFC 6455 §1.3).",
            f"You forgot the GUID: SHA-1 is computed over the key followed by {GUID!r} (RFC 6455 §1.3).",
        )
    if answer == _b64(hashlib.sha1((GUID + key).encode("ascii")).digest()):
        return (
            "Pusiste el GUID antes de la clave: va después, `clave + GUID`.",
            "You put the GUID before the key: it goes after, `clave + GUID`.",
        )
    try:
        decoded = base64.b64decode(key)
    except binascii.Error:
        decoded = b""
    if decoded and answer == _b64(hashlib.sha1(decoded + GUID.encode("ascii")).digest()):
        return (
            "Decodificaste la clave antes de usarla: se usa tal cual llega, como texto en base64.",
            "You decoded the key before using it: use it as it arrives, as base64 text.",
        )
    if answer.strip() == accept_value(key):
        return (
            "Sobran espacios o saltos de línea alrededor del valor.",
            "There are extra spaces or line breaks around the value.",
        )
    if answer == _b64(hashlib.sha1((key + GUID.lower()).encode("ascii")).digest()):
        return (
            "El GUID va en mayúsculas, tal como lo escribe la RFC 6455.",
            "The GUID is written in capitals, exactly as RFC 6455 writes it.",
        )
    return (
        f"Recuerda: base64( SHA-1( clave + {GUID!r} ) ), con el digest en bruto (`.digest()`).",
        f"Remember: base64( SHA-1( key + {GUID!r} ) ), with the raw digest (`.digest()`).",
    )
