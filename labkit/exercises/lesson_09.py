"""Lesson 09's exercise: predict what one poll costs before measuring it.

The student writes ``prever_sondeo(peticion, cuerpo)``: given the bytes of a poll's request
and the body the server will answer, return the bytes the poll puts on the wire besides
that body, its overhead: the whole request plus the response's head (status line, header
fields, empty line; RFC 9112 §4). The check runs a feed server of its own with a tap in
front, and for three polls (a minimal one with no news, one with a single update, a real
Chromium request with every update) it first asks for the body, then for the prediction,
and then sends the same request through the tap and compares the prediction with the bytes
the tap counted. A function that asks the server instead of predicting is told so.
"""

from __future__ import annotations

__all__ = ["PUBLISH_WAIT", "RATE", "UPDATES", "check", "polls"]

import re
import time
from collections.abc import Callable

from ..browser_requests import stored_request
from ..clients import RawSocket
from ..servers import Server, serve
from ..wiretap import HttpMessage, Tap, tap
from . import Result, failed, passed

#: The check's feed: a few updates, published at once (the long poll below waits for the last).
UPDATES, RATE = 5, 100.0
#: Seconds the check waits for the feed to publish its last update.
PUBLISH_WAIT = 5


def polls(host: str) -> list[bytes]:
    """The three polls judged, addressed to ``host`` ("127.0.0.1:PORT").

    Their bodies have 1, 2 and 3 digits of ``Content-Length``: a head typed once for the
    first one does not fit the others.
    """
    minimal = "GET /app?after={} HTTP/1.1\r\nHost: {}\r\n\r\n"
    browser = bytes(stored_request())
    browser = re.sub(rb"^GET \S+ ", b"GET /app?after=0 ", browser)
    browser = re.sub(rb"\r\nHost: [^\r]*", b"\r\nHost: " + host.encode(), browser)
    browser = re.sub(rb"\r\nReferer: http://[^/\r]*/", b"\r\nReferer: http://" + host.encode() + b"/", browser)
    return [minimal.format(UPDATES, host).encode(), minimal.format(UPDATES - 1, host).encode(), browser]


def check(prever_sondeo: Callable[[bytes, bytes], object]) -> Result:
    """Predict, then measure, three polls of the check's own feed; judge each prediction by the wire."""
    feed = serve("feed", over="http", name="exercise-09", updates=UPDATES, rate=RATE)
    try:
        wire = tap(feed.url, name="exercise-09-tap")
        try:
            return _judge_all(prever_sondeo, feed, wire)
        finally:
            wire.stop()
    finally:
        feed.stop()


def _judge_all(prever_sondeo: Callable[[bytes, bytes], object], feed: Server, wire: Tap) -> Result:
    with RawSocket(feed.url) as raw:  # the first request starts the feed; this one waits for its last update
        raw.send(f"GET /app?after={UPDATES - 1}&wait={PUBLISH_WAIT} HTTP/1.1\r\nHost: {feed.host}:{feed.port}\r\n\r\n")
        raw.recv_http()
    measured: list[tuple[int, int]] = []  # (overhead, body length) of each poll predicted right
    with RawSocket(wire.url) as poller:
        _wait_until(lambda: len(wire.recording.connections()) == 1)  # the poller's own, counted before judging
        for request in polls(f"{wire.host}:{wire.port}"):
            body = _body(feed, request)
            asked = len(wire.connections())
            try:
                predicted = prever_sondeo(request, body)
            except Exception as exc:
                return failed(
                    f"prever_sondeo lanzó {type(exc).__name__}: {exc}",
                    f"prever_sondeo raised {type(exc).__name__}: {exc}",
                )
            if len(wire.connections()) != asked:  # the request names the tap's address: the only one to ask
                return failed(
                    "tu función abrió una conexión con el servidor. No le preguntes: predice a partir de "
                    "`peticion` y `cuerpo`, antes de medir.",
                    "your function opened a connection to the server. Do not ask it: predict from `peticion` "
                    "and `cuerpo`, before measuring.",
                )
            poller.send(request)
            poller.recv_http()
            head = _last_response_head(wire)
            verdict = _judge(predicted, request, body, head, measured)
            if verdict is not None:
                return verdict
            measured.append((len(request) + len(head), len(body)))
    overheads = [str(overhead) for overhead, _ in measured]
    bodies = [str(size) for _, size in measured]
    return passed(
        f"Predijiste los {len(measured)} sondeos al byte: {_listed(overheads, 'y')} bytes de sobrecarga para "
        f"{_listed(bodies, 'y')} bytes de datos. Por WebSocket, cada actualización paga 2 bytes de cabecera "
        "de trama (RFC 6455 §5.2).",
        f"You predicted all {len(measured)} polls to the byte: {_listed(overheads, 'and')} bytes of overhead "
        f"for {_listed(bodies, 'and')} bytes of data. Over WebSocket, each update pays a 2-byte frame header "
        "(RFC 6455 §5.2).",
    )


def _listed(items: list[str], conjunction: str) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


def _wait_until(condition: Callable[[], bool], seconds: float = 2.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)


def _body(feed: Server, request: bytes) -> bytes:
    """What the feed answers ``request`` (straight, not through the tap): the body to predict for."""
    with RawSocket(feed.url) as raw:
        raw.send(request)
        return bytes(raw.recv_http()).split(b"\r\n\r\n", 1)[1]


def _last_response_head(wire: Tap) -> bytes:
    wire.wait()
    response = [u for u in wire.messages() if isinstance(u, HttpMessage) and u.kind == "HTTP response"][-1]
    return response.data[: len(response.data) - len(response.body)]


def _show(head: bytes) -> str:
    return head.decode("latin-1").replace("\r", "\\r").replace("\n", "\\n")


def _judge(
    predicted: object, request: bytes, body: bytes, head: bytes, earlier: list[tuple[int, int]]
) -> Result | None:
    """None if ``predicted`` is the overhead the wire carried; else what went wrong, as precisely as it shows."""
    overhead = len(request) + len(head)
    if isinstance(predicted, bool) or not isinstance(predicted, int):
        return failed(
            f"prever_sondeo devolvió {predicted!r}; devuelve un número entero de bytes (`int`).",
            f"prever_sondeo returned {predicted!r}; return a whole number of bytes (`int`).",
        )
    if predicted == overhead:
        return None
    wire_es = f"el cable llevó {overhead}: {len(request)} de petición y {len(head)} de cabecera de la respuesta"
    wire_en = f"the wire carried {overhead}: {len(request)} of request and {len(head)} of response head"
    lines = head.split(b"\r\n")[:-2]  # the status line and the header fields, without the empty line
    missing = overhead - predicted
    if predicted == len(request):
        return failed(
            f"predijiste {predicted} bytes, solo la petición; {wire_es}. El servidor contesta cada sondeo "
            "con una cabecera aunque no haya novedades: escribe en `cabecera` la línea de estado, las "
            "cabeceras que envía el servidor y la línea vacía.",
            f"you predicted {predicted} bytes, the request alone; {wire_en}. The server answers every poll "
            "with a head even when there is no news: write in `cabecera` the status line, the header fields "
            "the server sends and the empty line.",
        )
    if predicted == overhead + len(body):
        return failed(
            f"predijiste {predicted} bytes, con el cuerpo incluido ({len(body)} bytes); {wire_es}. El cuerpo "
            "son los datos, lo que se quería enviar: la sobrecarga es todo lo demás.",
            f"you predicted {predicted} bytes, the body included ({len(body)} bytes); {wire_en}. The body is "
            "the data, what was meant to be sent: the overhead is everything else.",
        )
    if predicted == len(head):
        return failed(
            f"predijiste {predicted} bytes, solo la cabecera de la respuesta; {wire_es}. La petición también "
            "viaja en cada sondeo: súmala.",
            f"you predicted {predicted} bytes, the response head alone; {wire_en}. The request travels with "
            "every poll too: add it.",
        )
    if missing == len(lines) + 1:
        return failed(
            f"te faltan {missing} bytes, uno por línea de la cabecera: cada línea termina en `\\r\\n`, dos "
            "bytes, no solo en `\\n` (RFC 9112 §2.1).",
            f"you are {missing} bytes short, one per line of the head: every line ends in `\\r\\n`, two "
            "bytes, not just `\\n` (RFC 9112 §2.1).",
        )
    if earlier and missing == len(str(len(body))) - len(str(earlier[0][1])):
        return failed(
            f"acertaste con un cuerpo de {earlier[0][1]} bytes, pero no con uno de {len(body)}: "
            "`Content-Length` lleva la longitud del cuerpo en cifras, y no siempre son las mismas. "
            "Calcúlala: `str(len(cuerpo))`.",
            f"you were right for a {earlier[0][1]}-byte body but not for a {len(body)}-byte one: "
            "`Content-Length` carries the body's length in digits, and they are not always as many. "
            "Compute it: `str(len(cuerpo))`.",
        )
    if missing == 2:
        return failed(
            f"te faltan 2 bytes; {wire_es}. ¿Contaste la línea vacía (`\\r\\n`) que cierra la cabecera?",
            f"you are 2 bytes short; {wire_en}. Did you count the empty line (`\\r\\n`) that ends the head?",
        )
    for line in lines:
        if missing == len(line) + 2:
            name = line.split(b":", 1)[0].decode("latin-1") if b":" in line else line.decode("latin-1")
            date = (
                (
                    " Su valor siempre mide 29 caracteres (RFC 9110 §5.6.7).",
                    " Its value is always 29 characters long (RFC 9110 §5.6.7).",
                )
                if name.lower() == "date"
                else ("", "")
            )
            return failed(
                f"te faltan {missing} bytes: justo la línea `{name}` con su `\\r\\n`; {wire_es}.{date[0]}",
                f"you are {missing} bytes short: exactly the line `{name}` with its `\\r\\n`; {wire_en}.{date[1]}",
            )
    return failed(
        f"predijiste {predicted} bytes; {wire_es}. Esta es la cabecera que envió el servidor: `{_show(head)}`",
        f"you predicted {predicted} bytes; {wire_en}. This is the head the server sent: `{_show(head)}`",
    )
