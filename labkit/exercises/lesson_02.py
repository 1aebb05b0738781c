"""Lesson 02's exercise: the client's side of the handshake, checking the server's answer.

The lesson computes ``Sec-WebSocket-Accept`` and compares it with the server's. The
exercise asks for what a client does with the whole answer (RFC 6455 §4.1): the student
writes ``verificar_101(clave, respuesta)``, which says whether ``respuesta`` (the bytes of
the server's answer, up to the empty line) turns the connection into a WebSocket
connection for a request sent with ``Sec-WebSocket-Key: clave``.

The check feeds it a live server's ``101`` first, then answers that must be accepted
(header names and values in another case, ``Connection`` as a list) and answers a client
must refuse, each with a hint that names the rule. The point is to write the checks, so a
function that calls labkit's or websockets' own handshake code is turned down. No message
shows a random key, so the lesson's stored output is the same on every run.

:func:`diagnose` names the classic mistakes in computing ``Sec-WebSocket-Accept``; lesson
06's check uses it on a server's answer written by the student.
"""

from __future__ import annotations

__all__ = ["CASES", "FORBIDDEN", "Case", "check", "diagnose", "live_answer"]

import base64
import binascii
import hashlib
import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from types import CodeType
from typing import Any
from unittest import mock

import websockets.client
import websockets.utils

from ..clients import RawSocket
from ..i18n import say
from ..protocol import handshake
from ..protocol.handshake import GUID, accept_value
from ..servers import serve
from . import Result, failed, passed

#: Code that already does what the exercise asks: (where it lives, its name, how to name it).
FORBIDDEN: tuple[tuple[Any, str, str], ...] = (
    (handshake, "validate_response", "labkit.protocol.handshake.validate_response"),
    (handshake, "accept_value", "labkit.protocol.handshake.accept_value"),
    (websockets.utils, "accept_key", "websockets.utils.accept_key"),
    (websockets.client.ClientProtocol, "process_response", "websockets.client.ClientProtocol.process_response"),
)

SWITCHING = "101 Switching Protocols"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _hex_accept(key: str) -> str:
    return _b64(hashlib.sha1((key + GUID).encode("ascii")).hexdigest().encode("ascii"))


def _other_key() -> str:
    return _b64(os.urandom(16))


def _answer(status: str, *headers: tuple[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status}", *(f"{name}: {value}" for name, value in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


@dataclass(frozen=True)
class Case:
    """One answer to judge: how to build it for a key, the right verdict, and what to say if missed."""

    build: Callable[[str], bytes]
    accept: bool
    what_es: str
    what_en: str
    hint_es: str
    hint_en: str


#: In order: answers a client accepts, then answers it must refuse (RFC 6455 §4.1).
CASES: tuple[Case, ...] = (
    Case(
        lambda key: _answer(
            SWITCHING, ("upgrade", "WebSocket"), ("connection", "upgrade"), ("sec-websocket-accept", accept_value(key))
        ),
        True,
        "un `101` con los nombres de las cabeceras en minúsculas y `Upgrade: WebSocket`",
        "a `101` with the header names in lower case and `Upgrade: WebSocket`",
        "Los nombres de las cabeceras no distinguen mayúsculas de minúsculas (RFC 9110 §5.1), y los valores de "
        "`Upgrade` y `Connection` tampoco (RFC 6455 §4.1): compáralos con `.lower()`.",
        "Header names are case-insensitive (RFC 9110 §5.1), and so are the values of `Upgrade` and "
        "`Connection` (RFC 6455 §4.1): compare them with `.lower()`.",
    ),
    Case(
        lambda key: _answer(
            SWITCHING,
            ("Upgrade", "websocket"),
            ("Connection", "keep-alive, Upgrade"),
            ("Sec-WebSocket-Accept", accept_value(key)),
        ),
        True,
        "un `101` con `Connection: keep-alive, Upgrade`",
        "a `101` with `Connection: keep-alive, Upgrade`",
        "`Connection` es una lista de opciones separadas por comas (RFC 9110 §7.6.1): basta con que una de ellas "
        "sea `Upgrade` (RFC 6455 §4.1).",
        "`Connection` is a comma-separated list of options (RFC 9110 §7.6.1): it is enough that one of them is "
        "`Upgrade` (RFC 6455 §4.1).",
    ),
    Case(
        lambda key: _answer(
            "200 OK", ("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Accept", accept_value(key))
        ),
        False,
        "`HTTP/1.1 200 OK` (con las demás cabeceras en regla)",
        "`HTTP/1.1 200 OK` (with every other header right)",
        "Sin el código `101` no hay cambio de protocolo: un `200` es una respuesta HTTP normal (RFC 6455 §4.1). "
        "Mira el código de la línea de estado.",
        "Without the `101` status there is no switch: a `200` is a plain HTTP answer (RFC 6455 §4.1). "
        "Look at the status code in the status line.",
    ),
    Case(
        lambda key: _answer("426 Upgrade Required", ("Upgrade", "websocket"), ("Connection", "Upgrade")),
        False,
        "`HTTP/1.1 426 Upgrade Required`",
        "`HTTP/1.1 426 Upgrade Required`",
        "`426` es un rechazo: el servidor pide otro protocolo, pero no ha cambiado. Solo `101` vale.",
        "`426` is a refusal: the server asks for another protocol but has not switched. Only `101` will do.",
    ),
    Case(
        lambda key: _answer(
            SWITCHING,
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Accept", accept_value(_other_key())),
        ),
        False,
        "un `101` cuyo `Sec-WebSocket-Accept` corresponde a otra clave",
        "a `101` whose `Sec-WebSocket-Accept` belongs to another key",
        "`Sec-WebSocket-Accept` tiene que ser el que sale de **tu** clave, base64(SHA-1(clave + GUID)): es la "
        "prueba de que el servidor leyó tu petición (RFC 6455 §1.3, §4.1).",
        "`Sec-WebSocket-Accept` must be the one **your** key gives, base64(SHA-1(key + GUID)): it proves that "
        "the server read your request (RFC 6455 §1.3, §4.1).",
    ),
    Case(
        lambda key: _answer(
            SWITCHING,
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Accept", _hex_accept(key)),
        ),
        False,
        "un `101` cuyo `Sec-WebSocket-Accept` es el base64 del digest en hexadecimal",
        "a `101` whose `Sec-WebSocket-Accept` is the base64 of the hex digest",
        "Ese valor es el error clásico de la lección (`.hexdigest()`): compara el valor exacto con el que "
        "calculas a partir de la clave con `.digest()`.",
        "That value is the lesson's classic mistake (`.hexdigest()`): compare the exact value with the one "
        "you compute from the key with `.digest()`.",
    ),
    Case(
        lambda key: _answer(SWITCHING, ("Connection", "Upgrade"), ("Sec-WebSocket-Accept", accept_value(key))),
        False,
        "un `101` sin la cabecera `Upgrade`",
        "a `101` without the `Upgrade` header",
        "Sin `Upgrade: websocket`, el cliente debe abandonar la conexión (RFC 6455 §4.1).",
        "Without `Upgrade: websocket`, the client must fail the connection (RFC 6455 §4.1).",
    ),
    Case(
        lambda key: _answer(
            SWITCHING, ("Upgrade", "h2c"), ("Connection", "Upgrade"), ("Sec-WebSocket-Accept", accept_value(key))
        ),
        False,
        "un `101` con `Upgrade: h2c`",
        "a `101` with `Upgrade: h2c`",
        "El servidor cambió, pero a otro protocolo (`h2c`): `Upgrade` tiene que decir `websocket` "
        "(RFC 6455 §4.1). Mira el valor, no solo si la cabecera está.",
        "The server switched, but to another protocol (`h2c`): `Upgrade` must say `websocket` "
        "(RFC 6455 §4.1). Look at the value, not only whether the header is there.",
    ),
    Case(
        lambda key: _answer(SWITCHING, ("Upgrade", "websocket"), ("Sec-WebSocket-Accept", accept_value(key))),
        False,
        "un `101` sin la cabecera `Connection`",
        "a `101` without the `Connection` header",
        "Sin `Connection: Upgrade`, el cliente debe abandonar la conexión (RFC 6455 §4.1).",
        "Without `Connection: Upgrade`, the client must fail the connection (RFC 6455 §4.1).",
    ),
    Case(
        lambda key: _answer(
            SWITCHING, ("Upgrade", "websocket"), ("Connection", "close"), ("Sec-WebSocket-Accept", accept_value(key))
        ),
        False,
        "un `101` con `Connection: close`",
        "a `101` with `Connection: close`",
        "`Connection` tiene que incluir `Upgrade` (RFC 6455 §4.1): mira sus valores, no solo si la cabecera está.",
        "`Connection` must include `Upgrade` (RFC 6455 §4.1): look at its values, not only whether the header "
        "is there.",
    ),
    Case(
        lambda key: _answer(SWITCHING, ("Upgrade", "websocket"), ("Connection", "Upgrade")),
        False,
        "un `101` sin `Sec-WebSocket-Accept`",
        "a `101` without `Sec-WebSocket-Accept`",
        "Sin `Sec-WebSocket-Accept` no hay prueba de que el servidor leyera tu clave: el cliente debe abandonar "
        "la conexión (RFC 6455 §4.1).",
        "Without `Sec-WebSocket-Accept` there is no proof that the server read your key: the client must fail "
        "the connection (RFC 6455 §4.1).",
    ),
)


def check(verificar_101: Callable[[str, bytes], object]) -> Result:
    """A live ``101`` first, then every case of :data:`CASES` in order; the first miss gets its hint."""
    used = _forbidden_references(verificar_101)
    if used:
        return _forbidden_verdict(used[0])
    key = _b64(os.urandom(16))
    try:
        live = live_answer(key)
    except OSError as exc:
        return failed(
            f"no pude hablar con el servidor de prueba ({exc}); vuelve a ejecutar la celda.",
            f"could not talk to the check's server ({exc}); run the cell again.",
        )
    real = Case(
        lambda _key: live,
        True,
        "el `101 Switching Protocols` de un servidor de verdad, con todo en regla",
        "the `101 Switching Protocols` of a real server, with everything right",
        "Un cliente acepta el handshake cuando el código es `101`, `Upgrade` dice `websocket`, `Connection` "
        "incluye `Upgrade` y `Sec-WebSocket-Accept` es el que sale de su clave (RFC 6455 §4.1).",
        "A client accepts the handshake when the status is `101`, `Upgrade` says `websocket`, `Connection` "
        "includes `Upgrade` and `Sec-WebSocket-Accept` is the one its key gives (RFC 6455 §4.1).",
    )
    for case in (real, *CASES):
        verdict = _judge(verificar_101, case, key)
        if verdict is not None:
            return verdict
    refused = sum(not case.accept for case in CASES)
    return passed(
        "Tu función acepta el `101` de un servidor de verdad, también con otras mayúsculas y con `Connection` "
        f"como lista, y rechaza las {refused} respuestas que un cliente debe rechazar (RFC 6455 §4.1).",
        "Your function accepts a real server's `101`, also in other letter cases and with `Connection` as a "
        f"list, and refuses the {refused} answers a client must refuse (RFC 6455 §4.1).",
    )


def live_answer(key: str) -> bytes:
    """A fresh echo server's answer to a handshake sent with ``key``, up to the empty line."""
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
            answer = bytes(raw.recv_until(b"\r\n\r\n"))
    finally:
        server.stop()
    if not answer.startswith(b"HTTP/1.1 101 "):
        status = answer.split(b"\r\n", 1)[0]
        raise OSError(f"the server did not switch: {status!r}")
    return answer


def _judge(verificar_101: Callable[[str, bytes], object], case: Case, key: str) -> Result | None:
    what = say(case.what_es, case.what_en)
    respuesta = case.build(key)
    try:
        with _forbidding() as called:
            answer = verificar_101(key, respuesta)
    except _Forbidden as exc:
        return _forbidden_verdict(exc.name)
    except Exception as exc:
        return failed(
            f"con {what}, tu función lanzó {type(exc).__name__}: {exc}",
            f"with {what}, your function raised {type(exc).__name__}: {exc}",
        )
    if called:  # the function caught _Forbidden itself
        return _forbidden_verdict(called[0])
    if not isinstance(answer, bool):
        return failed(
            f"con {what}, tu función devolvió {answer!r}: devuelve `True` o `False`.",
            f"with {what}, your function returned {answer!r}: return `True` or `False`.",
        )
    if answer == case.accept:
        return None
    should_es = "aceptar esa respuesta (`True`)" if case.accept else "rechazar esa respuesta (`False`)"
    should_en = "accept that answer (`True`)" if case.accept else "refuse that answer (`False`)"
    return failed(
        f"con {what}, tu función devolvió `{answer}`, pero un cliente debe {should_es}. {case.hint_es}",
        f"with {what}, your function returned `{answer}`, but a client must {should_en}. {case.hint_en}",
    )


class _Forbidden(Exception):
    """Raised inside the student's function when it calls code that already does the exercise."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


@contextmanager
def _forbidding() -> Iterator[list[str]]:
    """Stand-ins for the forbidden functions while the student's function runs; lists those it called."""
    called: list[str] = []

    def stand_in(shown: str) -> Callable[..., Any]:
        def refuse(*args: Any, **kwargs: Any) -> Any:
            called.append(shown)
            raise _Forbidden(shown)

        return refuse

    with ExitStack() as stack:
        for owner, name, shown in FORBIDDEN:
            stack.enter_context(mock.patch.object(owner, name, stand_in(shown)))
        yield called


def _code_names(code: CodeType) -> set[str]:
    names = set(code.co_names) | set(code.co_freevars)
    for const in code.co_consts:
        if isinstance(const, CodeType):
            names |= _code_names(const)
    return names


def _forbidden_references(function: Callable[..., object]) -> list[str]:
    """Forbidden functions the student's function names through its globals or its closure.

    A name imported before the call (``from labkit.protocol.handshake import accept_value``)
    escapes the stand-ins of :func:`_forbidding`, so it is looked for here.
    """
    code = getattr(function, "__code__", None)
    if not isinstance(code, CodeType):
        return []
    reachable: dict[str, Any] = dict(getattr(function, "__globals__", {}))
    for name, cell in zip(code.co_freevars, getattr(function, "__closure__", None) or (), strict=False):
        try:
            reachable[name] = cell.cell_contents
        except ValueError:  # a cell not filled yet
            continue
    targets = {id(getattr(owner, name)): shown for owner, name, shown in FORBIDDEN}
    return [
        targets[id(reachable[name])]
        for name in sorted(_code_names(code))
        if name in reachable and id(reachable[name]) in targets
    ]


def _forbidden_verdict(shown: str) -> Result:
    return failed(
        f"tu función usa `{shown}`, que ya hace esta comprobación. Aquí se trata de escribirla tú: el código de "
        "estado, `Upgrade`, `Connection` y `Sec-WebSocket-Accept`, este con `hashlib` y `base64` como en la "
        "lección.",
        f"your function uses `{shown}`, which already does this check. The point is to write it yourself: the "
        "status code, `Upgrade`, `Connection` and `Sec-WebSocket-Accept`, the last with `hashlib` and `base64` "
        "as in the lesson.",
    )


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
