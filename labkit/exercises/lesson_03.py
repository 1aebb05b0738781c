"""Lesson 03's exercise: collect the clock's first ticks without asking for them.

The lesson's point is that a WebSocket server can speak first: a client that opens one
connection and only listens receives every tick. So the check does not only compare the
ticks returned: it runs its own clock server and reads the server's record to see how
they were obtained (how many connections, whether the client sent anything, whether it
closed the connection it opened).
"""

from __future__ import annotations

__all__ = ["check", "TRIALS", "INTERVAL"]

import time
from collections.abc import Callable

from ..record import Record
from ..servers import serve
from . import Result, failed, passed

#: How many ticks each trial asks for: different numbers, so ``n`` must be honoured.
TRIALS = (3, 1, 4)

#: Seconds between ticks of the check's own clock: fast, so the check takes well under a second.
INTERVAL = 0.05

#: How long a connection may take to be recorded as closed after the function returns.
CLOSE_WAIT = 0.5


def check(recoger_ticks: Callable[[str, int], object]) -> Result:
    """Run ``recoger_ticks(url, n)`` against fresh clock servers and judge it by their records."""
    for n in TRIALS:
        verdict = _trial(recoger_ticks, n)
        if verdict is not None:
            return verdict
    return passed(
        "recogiste los primeros ticks por una sola conexión y sin enviar nada: el servidor habló "
        "sin que nadie le preguntara.",
        "you collected the first ticks over a single connection without sending anything: the server "
        "spoke without being asked.",
    )


def _trial(fn: Callable[[str, int], object], n: int) -> Result | None:
    """One call with a fresh server (so connection numbers start at 1); ``None`` if all is well."""
    # A short close timeout: a connection the function left open must not hold up ``stop``.
    server = serve("clock", over="websocket", name="exercise-03", interval=INTERVAL, close_timeout=0.5)
    try:
        try:
            got = fn(server.url, n)
        except Exception as exc:
            return failed(
                f"recoger_ticks(url, {n}) lanzó {type(exc).__name__}: {exc}",
                f"recoger_ticks(url, {n}) raised {type(exc).__name__}: {exc}",
            )
        closed = _wait_for_closes(server.record)
    finally:
        server.stop()
    return _judge(server.record, n, got, closed)


def _wait_for_closes(record: Record) -> bool:
    """Whether every connection the function opened was closed (waits up to CLOSE_WAIT)."""
    deadline = time.monotonic() + CLOSE_WAIT
    while True:
        opened = set(record.connections())
        closed = {e.conn for e in record.entries("close")}
        if opened <= closed or time.monotonic() >= deadline:
            return opened <= closed
        time.sleep(0.02)


def _judge(record: Record, n: int, got: object, closed: bool) -> Result | None:
    conns = record.connections()
    if not conns:
        return failed(
            f"recoger_ticks(url, {n}) no abrió ninguna conexión con el servidor. "
            "Conéctate con `with labkit.ws_connect(url) as ws:` y escucha con `ws.recv()`.",
            f"recoger_ticks(url, {n}) opened no connection to the server. "
            "Connect with `with labkit.ws_connect(url) as ws:` and listen with `ws.recv()`.",
        )
    if len(conns) > 1:
        return failed(
            f"para {n} ticks abriste {len(conns)} conexiones. Eso es pensar en polling: con WebSocket "
            f"una sola conexión trae todos los ticks; llama a `ws.recv()` {n} veces sobre la misma.",
            f"for {n} ticks you opened {len(conns)} connections. That is polling thinking: with WebSocket "
            f"one connection brings every tick; call `ws.recv()` {n} times on the same one.",
        )
    sent = record.entries("recv", conn=conns[0])
    if sent:
        return failed(
            f"le enviaste {sent[0].data!r} al reloj. No hace falta pedirle nada: "
            "el servidor habla sin que le pregunten. Solo escucha con `ws.recv()`.",
            f"you sent {sent[0].data!r} to the clock. There is no need to ask: "
            "the server speaks without being asked. Just listen with `ws.recv()`.",
        )
    if not isinstance(got, list | tuple):
        return failed(
            f"recoger_ticks(url, {n}) devolvió {type(got).__name__}; devuelve una lista con los mensajes recibidos.",
            f"recoger_ticks(url, {n}) returned {type(got).__name__}; return a list of the messages received.",
        )
    if len(got) != n:
        return failed(
            f"pedí {n} ticks y recoger_ticks devolvió {len(got)}. Llama a `ws.recv()` exactamente n veces.",
            f"I asked for {n} ticks and recoger_ticks returned {len(got)}. Call `ws.recv()` exactly n times.",
        )
    expected = [e.data for e in record.entries("send", conn=conns[0])][:n]
    if list(got) != expected:
        return failed(
            f"esos no son los primeros {n} mensajes que envió el reloj, en orden: "
            "devuelve exactamente lo que da cada `ws.recv()`, sin cambiarlo.",
            f"those are not the first {n} messages the clock sent, in order: "
            "return exactly what each `ws.recv()` gives, unchanged.",
        )
    if not closed:
        return failed(
            "los ticks están bien, pero la conexión quedó abierta. Usa `with labkit.ws_connect(url) as ws:` "
            "para que se cierre sola al salir del bloque.",
            "the ticks are right, but the connection was left open. Use `with labkit.ws_connect(url) as ws:` "
            "so that it closes by itself when the block ends.",
        )
    return None
