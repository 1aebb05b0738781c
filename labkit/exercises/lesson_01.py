"""Lesson 01's exercise: ask a clock for the time with an HTTP/1.1 request typed by hand.

The student writes ``pedir_hora(host, port)``: send a minimal HTTP/1.1 GET on a raw
socket and return the body of the answer. The check puts a small relay in front of a
clock server of its own: the relay keeps the exact bytes the student sent, so it can name
the mistake (``\\n`` instead of ``\\r\\n``, no empty line, no Host), and forwards only a
valid request, so the time the student returns can be compared with the one the server sent.
"""

from __future__ import annotations

__all__ = ["check", "request_problem"]

import socket
import threading
import time
from collections.abc import Callable

from ..clients import RawSocket
from ..servers import serve
from . import Result, failed, passed

#: How long the relay waits for the request to be complete; the server would wait forever.
REQUEST_WAIT = 1.0
#: How long the student's function may take in all.
CALL_TIMEOUT = 8.0

_REJECTION = (
    b"HTTP/1.1 400 Bad Request\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: 30\r\n"
    b"Connection: close\r\n"
    b"\r\n"
    b"the check rejected the request"
)


def check(pedir_hora: Callable[[str, int], object]) -> Result:
    """Run ``pedir_hora(host, port)`` against the relay in front of the check's own clock."""
    clock = serve("clock", over="http", name="exercise-01")
    listener = socket.create_server(("127.0.0.1", 0))
    host, port = "127.0.0.1", listener.getsockname()[1]
    outcome: dict[str, object] = {}

    def call() -> None:
        try:
            outcome["answer"] = pedir_hora(host, port)
        except Exception as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=call, name="labkit-exercise-01", daemon=True)
    worker.start()
    try:
        connection = _accept(listener, worker)
        if connection is None:
            worker.join(CALL_TIMEOUT)
            return _no_connection(outcome)
        with connection:
            sent = _read_request(connection)
            problem = request_problem(sent, host, port)
            if problem is None:
                with RawSocket(clock.url) as upstream:
                    upstream.send(sent)
                    response = bytes(upstream.recv_http())
            else:
                response = _REJECTION
            try:
                connection.sendall(response)
                connection.shutdown(socket.SHUT_WR)
            except OSError:
                pass  # the function hung up first; its answer still tells what went wrong
            worker.join(CALL_TIMEOUT)
    finally:
        listener.close()
        clock.stop()
    if worker.is_alive():
        return failed(
            f"tu función no terminó en {CALL_TIMEOUT:.0f} s; ¿esperas más bytes de los que llegan?",
            f"your function did not return within {CALL_TIMEOUT:.0f} s; are you waiting for more bytes than arrive?",
        )
    if "error" in outcome:
        exc = outcome["error"]
        return failed(
            f"tu función lanzó {type(exc).__name__}: {exc}",
            f"your function raised {type(exc).__name__}: {exc}",
        )
    if problem is not None:
        return failed(*problem)
    return _judge_answer(outcome.get("answer"), response)


def _accept(listener: socket.socket, worker: threading.Thread) -> socket.socket | None:
    """The student's connection, or None once the function has returned without connecting."""
    listener.settimeout(0.05)
    deadline = time.monotonic() + CALL_TIMEOUT
    while time.monotonic() < deadline:
        finished = not worker.is_alive()
        try:
            connection, _ = listener.accept()
        except TimeoutError:
            if finished:
                return None
            continue
        connection.settimeout(REQUEST_WAIT)
        return connection
    return None


def _read_request(connection: socket.socket) -> bytes:
    """Bytes until an empty line ends the header block, the client stops sending, or time runs out."""
    data = b""
    deadline = time.monotonic() + REQUEST_WAIT
    while b"\r\n\r\n" not in data and b"\n\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        connection.settimeout(left)
        try:
            chunk = connection.recv(65536)
        except (TimeoutError, ConnectionResetError):
            break
        if not chunk:
            break
        data += chunk
    return data


def request_problem(sent: bytes, host: str, port: int) -> tuple[str, str] | None:
    """What is wrong with ``sent`` as a minimal HTTP/1.1 GET (Spanish, English), or None."""
    if not sent:
        return (
            "te conectaste, pero no enviaste ningún byte. Escribe la petición en `peticion`: "
            "la línea `GET / HTTP/1.1`, la cabecera `Host` y una línea vacía, cada línea terminada en `\\r\\n`.",
            "you connected but sent no bytes. Write the request in `peticion`: the line `GET / HTTP/1.1`, "
            "the `Host` header and an empty line, each line ending in `\\r\\n`.",
        )
    if b"\n" in sent.replace(b"\r\n", b""):
        return (
            "terminaste alguna línea con `\\n` a secas: en HTTP cada línea termina en `\\r\\n` (RFC 9112 §2.1). "
            "Algunos servidores toleran el `\\n` solo (§2.2), pero no cuentes con ello.",
            "some line ends in a bare `\\n`: in HTTP every line ends in `\\r\\n` (RFC 9112 §2.1). "
            "Some servers tolerate a lone `\\n` (§2.2), but do not count on it.",
        )
    if b"\r\n\r\n" not in sent:
        return (
            "la petición no termina con una línea vacía (`\\r\\n\\r\\n`), así que el servidor sigue esperando "
            "más cabeceras y nunca responde (RFC 9112 §2.1).",
            "the request does not end with an empty line (`\\r\\n\\r\\n`), so the server keeps waiting "
            "for more headers and never answers (RFC 9112 §2.1).",
        )
    head = sent.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    request_line, *fields = head.split("\r\n")
    parts = request_line.split(" ")
    if len(parts) != 3 or parts[0] != "GET" or not parts[1].startswith("/"):
        return (
            f"la primera línea es {request_line!r}; debe ser método, ruta y versión separados por un espacio: "
            "`GET / HTTP/1.1` (RFC 9112 §3).",
            f"the first line is {request_line!r}; it must be method, path and version separated by one space: "
            "`GET / HTTP/1.1` (RFC 9112 §3).",
        )
    if parts[2] != "HTTP/1.1":
        return (
            f"pediste con la versión {parts[2]!r}; este ejercicio es de HTTP/1.1: `GET / HTTP/1.1`.",
            f"you asked with version {parts[2]!r}; this exercise is about HTTP/1.1: `GET / HTTP/1.1`.",
        )
    hosts = []
    for field in fields:
        name, colon, value = field.partition(":")
        if not colon or not name or name != name.strip():
            return (
                f"la línea de cabecera {field!r} no tiene la forma `Nombre: valor` (RFC 9112 §5).",
                f"the header line {field!r} is not of the form `Name: value` (RFC 9112 §5).",
            )
        if name.lower() == "host":
            hosts.append(value.strip())
    if not hosts:
        return (
            "falta la cabecera `Host`: en HTTP/1.1 es obligatoria, y un servidor debe responder 400 "
            f"a una petición sin ella (RFC 9112 §3.2). Aquí: `Host: {host}:{port}`.",
            "the `Host` header is missing: HTTP/1.1 requires it, and a server must answer 400 "
            f"to a request without it (RFC 9112 §3.2). Here: `Host: {host}:{port}`.",
        )
    if len(hosts) > 1:
        return (
            "enviaste más de una cabecera `Host`; debe haber exactamente una (RFC 9112 §3.2).",
            "you sent more than one `Host` header; there must be exactly one (RFC 9112 §3.2).",
        )
    if hosts[0] != f"{host}:{port}":
        return (
            f"`Host` dice {hosts[0]!r}, pero el servidor está en {host}:{port}. Host lleva el host y, "
            f"si no es el 80, el puerto (RFC 9110 §7.2): `Host: {host}:{port}`.",
            f"`Host` says {hosts[0]!r}, but the server is at {host}:{port}. Host carries the host and, "
            f"unless it is 80, the port (RFC 9110 §7.2): `Host: {host}:{port}`.",
        )
    return None


def _no_connection(outcome: dict[str, object]) -> Result:
    if "error" in outcome:
        exc = outcome["error"]
        return failed(
            f"tu función lanzó {type(exc).__name__} sin llegar a conectarse: {exc}",
            f"your function raised {type(exc).__name__} before connecting: {exc}",
        )
    return failed(
        "tu función no abrió ninguna conexión con `(host, port)`. Abre una con `labkit.RawSocket((host, port))`.",
        "your function opened no connection to `(host, port)`. Open one with `labkit.RawSocket((host, port))`.",
    )


def _judge_answer(answer: object, response: bytes) -> Result:
    status = response.split(b"\r\n", 1)[0].decode("latin-1")
    body = response.split(b"\r\n\r\n", 1)[1].decode("utf-8")
    if isinstance(answer, bytes):
        if answer.strip() == body.encode().strip():
            return failed(
                "la hora es correcta pero la devolviste como `bytes`: conviértela en texto con `.decode()`.",
                "the time is right but you returned it as `bytes`: turn it into text with `.decode()`.",
            )
        if answer.startswith(b"HTTP/"):
            answer = answer.decode("latin-1")
    if isinstance(answer, str) and answer.startswith("HTTP/"):
        return failed(
            "devolviste la respuesta entera; devuelve solo el cuerpo, lo que va después de la línea vacía "
            "(`\\r\\n\\r\\n`).",
            "you returned the whole response; return only the body, what comes after the empty line (`\\r\\n\\r\\n`).",
        )
    if not isinstance(answer, str) or answer.strip() != body.strip():
        return failed(
            f"el servidor respondió {status!r} con el cuerpo {body!r}, pero tu función devolvió {answer!r}. "
            "Devuelve el cuerpo como texto.",
            f"the server answered {status!r} with the body {body!r}, but your function returned {answer!r}. "
            "Return the body as text.",
        )
    return passed(
        f"Tu petición fue HTTP/1.1 válida, el reloj respondió {status!r} y devolviste su hora.",
        f"Your request was valid HTTP/1.1, the clock answered {status!r} and you returned its time.",
    )
