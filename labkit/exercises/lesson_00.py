"""Lesson 00's exercise: a round trip to a WebSocket echo server.

The student writes ``ida_y_vuelta(url, texto)``: connect, send ``texto``, return what
comes back, and close. The check runs it against an echo server of its own and reads the
server's record, so a function that returns ``texto`` without sending it does not pass.
"""

from __future__ import annotations

__all__ = ["TEXTS", "check"]

import time
from collections.abc import Callable

from ..record import Record
from ..servers import Server, serve
from . import Result, failed, passed

#: What the check sends: plain ASCII, then accents, an inverted question mark and an emoji.
TEXTS = ("hola", "¿Emocionado? También yo 🚀")

#: How long the check waits for the student's connection to finish its closing handshake.
CLOSE_WAIT = 1.0


def check(ida_y_vuelta: Callable[[str, str], object]) -> Result:
    """Call ``ida_y_vuelta(url, text)`` for each of :data:`TEXTS` on the check's own echo server."""
    server = serve("echo", over="websocket", name="exercise-00")
    try:
        for text in TEXTS:
            verdict = _one_round(ida_y_vuelta, server, text)
            if verdict is not None:
                return verdict
    finally:
        server.stop()
    return passed(
        f"Enviaste {len(TEXTS)} textos (también uno con tildes y un emoji), el servidor los recibió "
        "y te los devolvió tal cual, y cerraste cada conexión.",
        f"You sent {len(TEXTS)} texts (one with accents and an emoji), the server received them "
        "and sent them back unchanged, and you closed every connection.",
    )


def _one_round(ida_y_vuelta: Callable[[str, str], object], server: Server, text: str) -> Result | None:
    """The verdict for one text, or None when this round is right."""
    record = server.record
    before = len(record.connections())
    try:
        answer = ida_y_vuelta(server.url, text)
    except Exception as exc:
        return failed(
            f"tu función lanzó {type(exc).__name__}: {exc}",
            f"your function raised {type(exc).__name__}: {exc}",
        )
    opened = record.connections()[before:]
    if not opened:
        return failed(
            "tu función no abrió ninguna conexión con el servidor. Conéctate con `with labkit.ws_connect(url) as ws:`.",
            "your function opened no connection to the server. Connect with `with labkit.ws_connect(url) as ws:`.",
        )
    received = [e.data for conn in opened for e in record.entries("recv", conn)]
    if text not in received:
        if text.encode() in received:
            return failed(
                "enviaste el texto como bytes, y viajó en un mensaje binario. "
                "Envía el `str` tal cual: `ws.send(texto)`.",
                "you sent the text as bytes, so it travelled as a binary message. Send the `str` itself: "
                "`ws.send(texto)`.",
            )
        if answer == text:
            return failed(
                f"devolviste {text!r}, pero el servidor no recibió nada: devolviste `texto` sin enviarlo. "
                "Envíalo con `ws.send(texto)` y devuelve lo que llega con `ws.recv()`.",
                f"you returned {text!r}, but the server received nothing: you returned `texto` without "
                "sending it. Send it with `ws.send(texto)` and return what arrives with `ws.recv()`.",
            )
        if not received:
            return failed(
                "te conectaste, pero el servidor no recibió ningún mensaje. Envía el texto con `ws.send(texto)` "
                "y devuelve lo que llega con `ws.recv()`.",
                "you connected, but the server received no message. Send the text with `ws.send(texto)` "
                "and return what arrives with `ws.recv()`.",
            )
        return failed(
            f"el servidor recibió {received!r}, no {text!r}. Envía `texto` tal cual: `ws.send(texto)`.",
            f"the server received {received!r}, not {text!r}. Send `texto` as it is: `ws.send(texto)`.",
        )
    if answer != text:
        if answer is None:
            return failed(
                "el servidor recibió tu texto y lo devolvió, pero tu función devolvió None. "
                "Devuelve lo que llega: `return ws.recv()`.",
                "the server received your text and sent it back, but your function returned None. "
                "Return what arrives: `return ws.recv()`.",
            )
        return failed(
            f"enviaste {text!r} y tu función devolvió {answer!r}. Devuelve exactamente lo que da `ws.recv()`.",
            f"you sent {text!r} and your function returned {answer!r}. Return exactly what `ws.recv()` gives.",
        )
    if not _all_closed(record, opened):
        return failed(
            "la respuesta es correcta, pero dejaste la conexión abierta. Usa `with labkit.ws_connect(url) as ws:` "
            "para que se cierre sola al salir del bloque.",
            "the answer is right, but you left the connection open. Use `with labkit.ws_connect(url) as ws:` "
            "so that it closes by itself when the block ends.",
        )
    return None


def _all_closed(record: Record, connections: list[int]) -> bool:
    """Whether every connection finished; the server notes a close a moment after the client's."""
    deadline = time.monotonic() + CLOSE_WAIT
    while True:
        closed = {e.conn for e in record.entries("close")}
        if all(conn in closed for conn in connections):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
