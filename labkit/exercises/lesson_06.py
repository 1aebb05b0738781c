"""Lesson 06's exercise: answer the opening handshake from the raw request bytes.

The student writes ``responder_handshake(peticion)``: the request as it came off the
socket in, the server's answer out (``101 Switching Protocols``, or an HTTP error). The
check first calls it on requests it builds itself, each with one feature a careless
parser trips on (header names in lower case, ``Connection: keep-alive, Upgrade`` as
Firefox sends it, a wrong version, a missing key), so that a hint can name the mistake.
Then it serves a real ``websockets`` client with the function: a tiny asyncio server on
a :class:`~labkit.loop.LoopThread` answers each handshake with it and then echoes
frames with :class:`~labkit.protocol.connection.Connection`, as the scratch stack does.

The answer must be written by hand: a function that runs ``labkit.protocol.handshake``
(``validate_request``, ``build_accept_response``…) or ``websockets``' handshake code fails,
whatever it returns (seen at run time, as lesson 05's check does for its encoders).
"""

from __future__ import annotations

__all__ = [
    "FORBIDDEN",
    "RFC_ACCEPT",
    "RFC_KEY",
    "Case",
    "bad_requests",
    "check",
    "good_requests",
    "judge_rejection",
    "judge_upgrade",
]

import asyncio
import base64
import contextlib
import os
from collections.abc import Callable
from typing import NamedTuple

from websockets.exceptions import WebSocketException

from ..clients import RawSocket, ws_connect
from ..loop import LoopThread, stop_accepting
from ..protocol import (
    BinaryMessage,
    HTTPParseError,
    ProtocolError,
    Response,
    ResponseParser,
    Role,
    TextMessage,
    accept_value,
)
from ..protocol.connection import Connection
from . import Result, failed, passed
from .lesson_02 import diagnose
from .lesson_05 import forbidden_use, watching

#: RFC 6455 §1.2/§4.1: the example key; §1.3 gives the accept value it must produce.
RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
RFC_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

#: Seconds the live client waits for the handshake, and the server for a request.
TIMEOUT = 3.0
#: Seconds the server waits for the client to close TCP once it is expected to (§7.1.1).
CLOSE_TIMEOUT = 1.0

Responder = Callable[[bytes], object]

#: Modules whose code the student's function must not run: the handshake it imitates, ready-made.
FORBIDDEN = frozenset(
    {
        "labkit.protocol.handshake",
        "websockets.utils",
        "websockets.server",
        "websockets.asyncio.server",
        "websockets.sync.server",
        "websockets.legacy.handshake",
        "websockets.legacy.server",
    }
)


class Case(NamedTuple):
    """A request for the function, and what makes it special (a hint in each language)."""

    es: str
    en: str
    request: bytes
    hint_es: str = ""
    hint_en: str = ""


def _request(lines: list[str]) -> bytes:
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _random_key() -> str:
    return base64.b64encode(os.urandom(16)).decode("ascii")


def good_requests() -> list[tuple[Case, str]]:
    """Valid handshakes, each with its key: the RFC's example first, then fresh keys."""
    lower, firefox = _random_key(), _random_key()
    return [
        (
            Case(
                "la petición de ejemplo de la RFC 6455 (§1.2, sin sus subprotocolos)",
                "the example request of RFC 6455 (§1.2, without its subprotocols)",
                _request(
                    [
                        "GET /chat HTTP/1.1",
                        "Host: server.example.com",
                        "Upgrade: websocket",
                        "Connection: Upgrade",
                        f"Sec-WebSocket-Key: {RFC_KEY}",
                        "Origin: http://example.com",
                        "Sec-WebSocket-Version: 13",
                    ]
                ),
            ),
            RFC_KEY,
        ),
        (
            Case(
                "una petición con los nombres de las cabeceras en minúsculas (`sec-websocket-key: …`)",
                "a request with its header names in lower case (`sec-websocket-key: …`)",
                _request(
                    [
                        "GET / HTTP/1.1",
                        "host: 127.0.0.1:8000",
                        "upgrade: websocket",
                        "connection: Upgrade",
                        f"sec-websocket-key: {lower}",
                        "sec-websocket-version: 13",
                    ]
                ),
                "Los nombres de las cabeceras no distinguen mayúsculas de minúsculas (RFC 9110 §5.1): "
                "compáralos con `.lower()`.",
                "Header names are case-insensitive (RFC 9110 §5.1): compare them with `.lower()`.",
            ),
            lower,
        ),
        (
            Case(
                "una petición como la de Firefox, con `Connection: keep-alive, Upgrade`",
                "a request like Firefox's, with `Connection: keep-alive, Upgrade`",
                _request(
                    [
                        "GET / HTTP/1.1",
                        "Host: 127.0.0.1:8000",
                        "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0",
                        "Accept: */*",
                        "Sec-WebSocket-Version: 13",
                        "Origin: http://127.0.0.1:8000",
                        "Sec-WebSocket-Extensions: permessage-deflate",
                        f"Sec-WebSocket-Key: {firefox}",
                        "Connection: keep-alive, Upgrade",
                        "Pragma: no-cache",
                        "Cache-Control: no-cache",
                        "Upgrade: websocket",
                    ]
                ),
                "`Connection` es una lista separada por comas (RFC 9110 §7.6.1): busca en ella el elemento `upgrade`, "
                "sin distinguir mayúsculas, en vez de exigir que la cabecera sea exactamente `Upgrade`.",
                "`Connection` is a comma-separated list (RFC 9110 §7.6.1): look for the element `upgrade` in it, "
                "case-insensitively, instead of requiring the header to be exactly `Upgrade`.",
            ),
            firefox,
        ),
    ]


def bad_requests() -> list[Case]:
    """Requests a server must refuse with an HTTP error (RFC 6455 §4.2.1, §4.2.2)."""
    return [
        Case(
            "una petición con `Sec-WebSocket-Version: 8`",
            "a request with `Sec-WebSocket-Version: 8`",
            _request(
                [
                    "GET / HTTP/1.1",
                    "Host: 127.0.0.1:8000",
                    "Upgrade: websocket",
                    "Connection: Upgrade",
                    f"Sec-WebSocket-Key: {_random_key()}",
                    "Sec-WebSocket-Version: 8",
                ]
            ),
            "Solo hablas la versión 13: para cualquier otra, la RFC 6455 (§4.2.2) pide un error como "
            "`426 Upgrade Required` con la cabecera `Sec-WebSocket-Version: 13`.",
            "You only speak version 13: for any other, RFC 6455 (§4.2.2) asks for an error such as "
            "`426 Upgrade Required` with the header `Sec-WebSocket-Version: 13`.",
        ),
        Case(
            "una petición sin `Sec-WebSocket-Key`",
            "a request without `Sec-WebSocket-Key`",
            _request(
                [
                    "GET / HTTP/1.1",
                    "Host: 127.0.0.1:8000",
                    "Upgrade: websocket",
                    "Connection: Upgrade",
                    "Sec-WebSocket-Version: 13",
                ]
            ),
            "Sin clave no hay `Sec-WebSocket-Accept` posible: responde `400 Bad Request` (RFC 6455 §4.2.1).",
            "Without a key no `Sec-WebSocket-Accept` is possible: answer `400 Bad Request` (RFC 6455 §4.2.1).",
        ),
        Case(
            "una petición HTTP normal, sin `Upgrade: websocket`",
            "a plain HTTP request, without `Upgrade: websocket`",
            _request(["GET / HTTP/1.1", "Host: 127.0.0.1:8000"]),
            "Si no pide `Upgrade: websocket`, no es un handshake: responde un error como `400 Bad Request` "
            "(RFC 6455 §4.2.1).",
            "If it does not ask for `Upgrade: websocket`, it is not a handshake: answer an error such as "
            "`400 Bad Request` (RFC 6455 §4.2.1).",
        ),
    ]


def check(responder_handshake: Responder) -> Result:
    """Requests built here first (precise hints), then a real client through a live server."""
    for case, key in good_requests():
        verdict = judge_upgrade(responder_handshake, case, key)
        if verdict is not None:
            return verdict
    for case in bad_requests():
        verdict = judge_rejection(responder_handshake, case)
        if verdict is not None:
            return verdict
    try:
        verdict = _live(responder_handshake)
    except OSError as exc:
        return failed(
            f"no pude hablar con el servidor de prueba ({exc}); vuelve a ejecutar la celda.",
            f"could not talk to the check's server ({exc}); run the cell again.",
        )
    if verdict is not None:
        return verdict
    return passed(
        "tu respuesta abre la conexión a un cliente de verdad (`websockets`), que luego recibió el eco "
        "de sus mensajes, y rechaza los handshakes que no valen con un error HTTP.",
        "your answer opens the connection for a real client (`websockets`), which then got its messages "
        "echoed, and refuses the handshakes that are not valid with an HTTP error.",
    )


def _call(fn: Responder, case: Case) -> tuple[bytes | None, Result | None]:
    """The function's answer as bytes, or a verdict about what it returned instead."""
    answer: object = None
    error: Exception | None = None
    with watching(FORBIDDEN) as used:
        try:
            answer = fn(case.request)
        except Exception as exc:
            error = exc
    if used:
        return None, forbidden_use(
            used,
            "aquí la respuesta la escribes tú, a mano (métodos de `bytes` o `str`, `hashlib` y `base64`: la "
            "receta de la lección 02); `labkit.protocol.handshake` y `websockets` hacen justo eso, y son con lo "
            "que te comparamos.",
            "here you write the answer yourself, by hand (`bytes` or `str` methods, `hashlib` and `base64`: "
            "lesson 02's recipe); `labkit.protocol.handshake` and `websockets` do exactly that, and are what "
            "you are compared with.",
        )
    if error is not None:
        return None, failed(
            f"con {case.es}, tu función lanzó {type(error).__name__}: {error}. {case.hint_es}".rstrip(),
            f"with {case.en}, your function raised {type(error).__name__}: {error}. {case.hint_en}".rstrip(),
        )
    if isinstance(answer, bytes | bytearray):
        return bytes(answer), None
    if isinstance(answer, str):
        return None, failed(
            f"con {case.es}, devolviste texto (`str`); por el socket viajan bytes: termina con `.encode()`.",
            f"with {case.en}, you returned text (a `str`); bytes travel on the socket: end with `.encode()`.",
        )
    return None, failed(
        f"con {case.es}, devolviste {type(answer).__name__}; devuelve los bytes de la respuesta HTTP.",
        f"with {case.en}, you returned {type(answer).__name__}; return the bytes of the HTTP response.",
    )


def _parse(answer: bytes, case: Case) -> tuple[Response | None, bytes, Result | None]:
    """Parse the answer as an HTTP/1.1 response head (and what follows it), or say what is wrong."""
    if not answer:
        return (
            None,
            b"",
            failed(
                f"con {case.es}, tu función devolvió b'' (nada). Una respuesta empieza con la línea de estado, "
                "por ejemplo `HTTP/1.1 101 Switching Protocols\\r\\n`, sigue con las cabeceras y termina con una "
                "línea vacía.",
                f"with {case.en}, your function returned b'' (nothing). A response starts with the status line, "
                "for example `HTTP/1.1 101 Switching Protocols\\r\\n`, goes on with the headers and ends with an "
                "empty line.",
            ),
        )
    shown = repr(answer[:60]) + ("…" if len(answer) > 60 else "")
    if b"\n" in answer and b"\r\n" not in answer:
        return (
            None,
            b"",
            failed(
                f"con {case.es}, devolviste {shown}: cada línea de HTTP termina en `\\r\\n`, no solo en `\\n` "
                "(RFC 9112 §2.1).",
                f"with {case.en}, you returned {shown}: every HTTP line ends in `\\r\\n`, not just `\\n` "
                "(RFC 9112 §2.1).",
            ),
        )
    parser = ResponseParser()
    try:
        response = parser.feed(answer)
    except HTTPParseError as exc:
        return (
            None,
            b"",
            failed(
                f"con {case.es}, tu respuesta {shown} no es HTTP válido: {exc}.",
                f"with {case.en}, your response {shown} is not valid HTTP: {exc}.",
            ),
        )
    if response is None:
        return (
            None,
            b"",
            failed(
                f"con {case.es}, tu respuesta {shown} no termina con la línea vacía: cierra las cabeceras con "
                "`\\r\\n\\r\\n`.",
                f"with {case.en}, your response {shown} does not end with the empty line: close the headers with "
                "`\\r\\n\\r\\n`.",
            ),
        )
    return response, parser.trailing, None


def judge_upgrade(fn: Responder, case: Case, key: str) -> Result | None:
    """A valid request must get exactly a 101 with the right headers; ``None`` if it does."""
    answer, verdict = _call(fn, case)
    if answer is None:
        return verdict
    response, body, verdict = _parse(answer, case)
    if response is None:
        return verdict
    hint_es, hint_en = (f" {case.hint_es}", f" {case.hint_en}") if case.hint_es else ("", "")
    if response.status != 101:
        return failed(
            f"con {case.es}, que es válida, respondiste {response.status} {response.reason}; "
            f"hay que aceptarla con `101 Switching Protocols` (RFC 6455 §4.2.2).{hint_es}",
            f"with {case.en}, which is valid, you answered {response.status} {response.reason}; "
            f"accept it with `101 Switching Protocols` (RFC 6455 §4.2.2).{hint_en}",
        )
    headers = response.headers
    if [value.lower() for value in headers.get_all("Upgrade")] != ["websocket"]:
        return failed(
            f"con {case.es}, tu 101 no lleva la cabecera `Upgrade: websocket` (RFC 6455 §4.2.2).",
            f"with {case.en}, your 101 lacks the header `Upgrade: websocket` (RFC 6455 §4.2.2).",
        )
    if "upgrade" not in [t.strip().lower() for v in headers.get_all("Connection") for t in v.split(",")]:
        return failed(
            f"con {case.es}, tu 101 no lleva la cabecera `Connection: Upgrade` (RFC 6455 §4.2.2).",
            f"with {case.en}, your 101 lacks the header `Connection: Upgrade` (RFC 6455 §4.2.2).",
        )
    accepts = headers.get_all("Sec-WebSocket-Accept")
    expected = accept_value(key)
    if len(accepts) != 1:
        return failed(
            f"con {case.es}, tu 101 no lleva la cabecera `Sec-WebSocket-Accept` (o la lleva repetida): "
            "es la prueba de que leíste la clave (RFC 6455 §4.2.2).",
            f"with {case.en}, your 101 lacks the header `Sec-WebSocket-Accept` (or repeats it): it proves "
            "you read the key (RFC 6455 §4.2.2).",
        )
    if accepts[0] != expected:
        if accepts[0] == RFC_ACCEPT:
            diag_es = "Calcula el valor a partir de la clave de cada petición, no de la del ejemplo de la RFC."
            diag_en = "Compute the value from each request's key, not from the RFC example's."
        else:
            diag_es, diag_en = diagnose(key, accepts[0])
        return failed(
            f"con {case.es}, tu `Sec-WebSocket-Accept` es {accepts[0]!r} pero debía ser {expected!r}. {diag_es}",
            f"with {case.en}, your `Sec-WebSocket-Accept` is {accepts[0]!r} but it should be {expected!r}. {diag_en}",
        )
    if "Sec-WebSocket-Extensions" in headers or "Sec-WebSocket-Protocol" in headers:
        return failed(
            f"con {case.es}, tu 101 acepta una extensión o un subprotocolo que no implementas: "
            "deja fuera `Sec-WebSocket-Extensions` y `Sec-WebSocket-Protocol` (RFC 6455 §4.2.2, §9.1).",
            f"with {case.en}, your 101 accepts an extension or a subprotocol you do not implement: "
            "leave `Sec-WebSocket-Extensions` and `Sec-WebSocket-Protocol` out (RFC 6455 §4.2.2, §9.1).",
        )
    if body or "Content-Length" in headers or "Transfer-Encoding" in headers:
        return failed(
            f"con {case.es}, tu 101 lleva cuerpo o `Content-Length`: tras la línea vacía, los bytes "
            "siguientes ya son tramas WebSocket, así que no debe haber nada más.",
            f"with {case.en}, your 101 has a body or a `Content-Length`: after the empty line the next bytes "
            "are already WebSocket frames, so nothing else may follow.",
        )
    return None


def judge_rejection(fn: Responder, case: Case) -> Result | None:
    """An invalid request must get a 4xx (with ``Sec-WebSocket-Version: 13`` for a bad version)."""
    answer, verdict = _call(fn, case)
    if answer is None:
        return verdict
    response, _, verdict = _parse(answer, case)
    if response is None:
        return verdict
    if response.status == 101:
        return failed(
            f"con {case.es}, respondiste 101 y aceptaste la conexión. {case.hint_es}",
            f"with {case.en}, you answered 101 and accepted the connection. {case.hint_en}",
        )
    if not 400 <= response.status <= 499:
        return failed(
            f"con {case.es}, respondiste {response.status}; un handshake inválido es un error del cliente, "
            f"un código 4xx. {case.hint_es}",
            f"with {case.en}, you answered {response.status}; an invalid handshake is the client's error, "
            f"a 4xx code. {case.hint_en}",
        )
    if b"Version: 8" in case.request and "13" not in response.headers.get_all("Sec-WebSocket-Version"):
        return failed(
            f"con {case.es}, respondiste {response.status} {response.reason}, pero sin la cabecera "
            "`Sec-WebSocket-Version: 13`: sin ella el cliente no sabe qué versión hablas (RFC 6455 §4.2.2, §4.4).",
            f"with {case.en}, you answered {response.status} {response.reason}, but without the header "
            "`Sec-WebSocket-Version: 13`: without it the client cannot tell which version you speak "
            "(RFC 6455 §4.2.2, §4.4).",
        )
    return None


# ----------------------------------------------------------------------
# The live part: a real websockets client served by the student's function


class _Server:
    """An asyncio server that answers each handshake with ``fn``, then echoes (the scratch way)."""

    def __init__(self, fn: Responder) -> None:
        self.fn = fn
        self.problems: list[tuple[str, str]] = []

    async def start(self) -> int:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def stop(self) -> None:
        await stop_accepting(self.server.sockets)
        self.server.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.server.wait_closed(), 2)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
            try:
                answer = self.fn(request)
            except Exception as exc:
                self.problems.append(
                    (
                        f"con la petición del cliente real tu función lanzó {type(exc).__name__}: {exc}",
                        f"with the real client's request your function raised {type(exc).__name__}: {exc}",
                    )
                )
                return
            if not isinstance(answer, bytes | bytearray):
                return
            writer.write(answer)
            await writer.drain()
            if answer.startswith(b"HTTP/1.1 101 "):
                await self.echo(reader, writer)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            pass
        finally:
            writer.close()

    async def echo(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Bytes in, events out, replies back: one event at a time, like the scratch stack.

        The connection decides when TCP closes (RFC 6455 §7.1.1): ``data_to_send()`` ends
        with ``b""`` when the server must close its side; then the client has a short
        while to close its own (``close_expected()``).
        """
        protocol = Connection(Role.SERVER)
        while True:
            timeout = CLOSE_TIMEOUT if protocol.close_expected() else TIMEOUT
            data = await asyncio.wait_for(reader.read(65536), timeout)
            if data:
                protocol.feed_data(data)
                try:
                    while (event := protocol.next_event()) is not None:
                        if isinstance(event, TextMessage):
                            protocol.send_text(event.data)
                        elif isinstance(event, BinaryMessage):
                            protocol.send_binary(event.data)
                except ProtocolError:
                    pass  # the protocol queued the close frame that fails the connection (§7.1.7)
            else:
                protocol.receive_eof()
            for chunk in protocol.data_to_send():
                if chunk:
                    writer.write(chunk)
                elif writer.can_write_eof():
                    writer.write_eof()
            await writer.drain()
            if not data:
                return


def _live(fn: Responder) -> Result | None:
    """A real websockets client through the function, then a bad request over the wire."""
    server = _Server(fn)
    thread = LoopThread("labkit-exercise-06")
    try:
        port = thread.run(server.start())
        url = f"ws://127.0.0.1:{port}"
        sent: list[str | bytes] = ["hola", b"\x00\x01\xff"]
        try:
            with ws_connect(url, open_timeout=TIMEOUT, close_timeout=1) as ws:
                got = []
                for message in sent:
                    ws.send(message)
                    got.append(ws.recv(timeout=TIMEOUT))
        except (WebSocketException, TimeoutError) as exc:
            problem_es, problem_en = server.problems[0] if server.problems else ("", "")
            return failed(
                f"un cliente real (`websockets`) no pudo abrir la conexión con tu respuesta: "
                f"{type(exc).__name__}: {exc}. {problem_es}".rstrip(),
                f"a real client (`websockets`) could not open the connection with your answer: "
                f"{type(exc).__name__}: {exc}. {problem_en}".rstrip(),
            )
        if got != sent:
            return failed(
                f"el cliente real envió {sent!r} y recibió {got!r}.",
                f"the real client sent {sent!r} and received {got!r}.",
            )
        with RawSocket(url, timeout=TIMEOUT) as raw:
            raw.send(bad_requests()[0].request)
            status = raw.recv().split(b"\r\n", 1)[0]
        if not status.startswith(b"HTTP/1.1 4"):
            return failed(
                f"por la red, un handshake con `Sec-WebSocket-Version: 8` recibió {status!r}; se esperaba un 4xx.",
                f"over the wire, a handshake with `Sec-WebSocket-Version: 8` got {status!r}; a 4xx was expected.",
            )
        return None
    finally:
        with contextlib.suppress(Exception):
            thread.run(server.stop(), timeout=5)
        thread.close()
