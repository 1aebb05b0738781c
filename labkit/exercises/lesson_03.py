"""Lesson 03's exercise: both directions on one connection, the server speaking first.

The student writes ``contestar(url, respuesta)``: connect to the chat at ``url``, wait
for the first message another client writes (the server pushes it, unasked), answer it
with ``respuesta`` over the same connection, and return the text that arrived. The check
runs a chat server of its own with one client of its own, Ana, who writes only once the
student's connection is open; it then judges by the server's record, not only by what the
function returns: how many connections, who spoke first on the student's connection, what
was sent back, and whether the connection was closed.
"""

from __future__ import annotations

__all__ = ["CLOSE_WAIT", "CONNECT_WAIT", "RUN_WAIT", "SPEAK_AFTER", "TRIALS", "check"]

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from ..clients import ws_connect
from ..record import Entry, HttpHead, Record
from ..servers import serve
from . import Result, failed, passed

#: (what Ana writes, what the student's function must answer): two, so neither can be typed in.
TRIALS = (("¿hay alguien?", "aquí estoy"), ("¿me oyes?", "te oigo"))

#: Seconds the check waits for the student's connection to open.
CONNECT_WAIT = 3.0
#: Seconds Ana waits, once the student's connection is open, before she writes.
SPEAK_AFTER = 0.3
#: Seconds the function may take once Ana has written.
RUN_WAIT = 3.0
#: Seconds a connection may take to be recorded as closed after the function returns.
CLOSE_WAIT = 0.5

ANA = 1  # the check's own client connects first


def check(contestar: Callable[[str, str], object]) -> Result:
    """Run ``contestar(url, respuesta)`` against fresh chat servers and judge it by their records."""
    for question, answer in TRIALS:
        verdict = _trial(contestar, question, answer)
        if verdict is not None:
            return verdict
    return passed(
        "Esperaste sin preguntar, el servidor te empujó el mensaje de Ana y le contestaste por la misma "
        "conexión: las dos direcciones en una sola conexión.",
        "You waited without asking, the server pushed Ana's message to you and you answered over the same "
        "connection: both directions on one connection.",
    )


class _Run:
    """The student's function in a thread of its own, so that Ana can write while it waits."""

    def __init__(self, contestar: Callable[[str, str], object], url: str, answer: str) -> None:
        self.returned: object = None
        self.raised: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(contestar, url, answer), daemon=True)
        self.thread.start()

    def _run(self, contestar: Callable[[str, str], object], url: str, answer: str) -> None:
        try:
            self.returned = contestar(url, answer)
        except BaseException as exc:  # reported as a verdict, never raised in the student's cell
            self.raised = exc

    @property
    def done(self) -> bool:
        return not self.thread.is_alive()


def _wait(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() >= deadline:
            return condition()
        time.sleep(0.02)
    return True


def _switched(record: Record) -> bool:
    """Whether a connection other than Ana's has completed its handshake."""
    return any(
        e.conn != ANA and isinstance(e.data, HttpHead) and e.data.start_line.split(" ")[1:2] == ["101"]
        for e in record.entries("response")
    )


def _trial(contestar: Callable[[str, str], object], question: str, answer: str) -> Result | None:
    """One conversation on a fresh server (so connection numbers start at 1); ``None`` if all is well."""
    # A short close timeout: a connection the function left open must not hold up ``stop``.
    server = serve("chat", over="websocket", name="exercise-03", close_timeout=0.5)
    try:
        with ws_connect(server.url) as ana:
            run = _Run(contestar, server.url, answer)
            _wait(lambda: _switched(server.record) or run.done, CONNECT_WAIT)
            # Ana writes a moment after the student's handshake: a function that speaks first has spoken by then.
            if _switched(server.record) and not _wait(lambda: run.done, SPEAK_AFTER):
                ana.send(question)
            finished = _wait(lambda: run.done, RUN_WAIT)
            closed = finished and _wait(lambda: _all_closed(server.record), CLOSE_WAIT)
    finally:
        server.stop()
    run.thread.join(2.0)  # the server has closed every connection: a blocked recv() returns
    return _judge(server.record, question, answer, run, finished, closed)


def _all_closed(record: Record) -> bool:
    opened = {c for c in record.connections() if c != ANA}
    return opened <= {e.conn for e in record.entries("close")}


def _judge(record: Record, question: str, answer: str, run: _Run, finished: bool, closed: bool) -> Result | None:
    if run.raised is not None and not isinstance(run.raised, Exception):
        raise run.raised  # KeyboardInterrupt and the like are not the student's verdict
    theirs = [c for c in record.connections() if c != ANA]
    if not theirs and run.raised is None:
        return failed(
            f"contestar(url, {answer!r}) no abrió ninguna conexión con el chat. "
            "Conéctate con `with labkit.ws_connect(url) as ws:`.",
            f"contestar(url, {answer!r}) opened no connection to the chat. Connect with "
            "`with labkit.ws_connect(url) as ws:`.",
        )
    if len(theirs) > 1:
        return failed(
            f"abriste {len(theirs)} conexiones. Una sola conexión WebSocket sirve para recibir y para enviar: "
            "escucha y contesta por la misma.",
            f"you opened {len(theirs)} connections. One WebSocket connection is enough to receive and to send: "
            "listen and answer over the same one.",
        )
    if not finished:
        return failed(
            "tu función no terminó: después de contestar, sal del bloque `with`. ¿Esperas con `ws.recv()` "
            "un segundo mensaje que nunca llega?",
            "your function did not finish: after answering, leave the `with` block. Are you waiting with "
            "`ws.recv()` for a second message that never comes?",
        )
    if run.raised is not None:
        exc = run.raised
        return failed(
            f"contestar(url, {answer!r}) lanzó {type(exc).__name__}: {exc}",
            f"contestar(url, {answer!r}) raised {type(exc).__name__}: {exc}",
        )
    conn = theirs[0]
    pushed = record.entries("send", conn=conn)
    said = record.entries("recv", conn=conn)
    if said and (not pushed or said[0].seq < pushed[0].seq):
        return failed(
            f"enviaste {said[0].data!r} antes de que llegara el mensaje de Ana. No hace falta preguntar: "
            "espera con `ws.recv()`, el servidor te lo envía en cuanto Ana escribe; después contesta.",
            f"you sent {said[0].data!r} before Ana's message arrived. There is no need to ask: wait with "
            "`ws.recv()`, the server sends it to you as soon as Ana writes; then answer.",
        )
    if not pushed:
        return failed(
            "te conectaste, pero la conexión se cerró antes de que Ana escribiera. Espera su mensaje con "
            "`ws.recv()` dentro del bloque `with`.",
            "you connected, but the connection closed before Ana wrote. Wait for her message with `ws.recv()` "
            "inside the `with` block.",
        )
    if not said:
        return failed(
            f"recibiste el mensaje de Ana, pero no le contestaste: envía {answer!r} con `ws.send(respuesta)` "
            "por la misma conexión.",
            f"you received Ana's message but did not answer it: send {answer!r} with `ws.send(respuesta)` "
            "over the same connection.",
        )
    if said[0].data != answer:
        return failed(
            f"contestaste {said[0].data!r}, pero la respuesta era {answer!r}: envía `respuesta` tal cual.",
            f"you answered {said[0].data!r}, but the answer was {answer!r}: send `respuesta` as it is.",
        )
    verdict = _judge_returned(run.returned, question, pushed)
    if verdict is not None:
        return verdict
    if not closed:
        return failed(
            "la conversación está bien, pero la conexión quedó abierta. Usa `with labkit.ws_connect(url) as ws:` "
            "para que se cierre sola al salir del bloque.",
            "the conversation is right, but the connection was left open. Use `with labkit.ws_connect(url) as ws:` "
            "so that it closes by itself when the block ends.",
        )
    return None


def _judge_returned(returned: object, question: str, pushed: list[Entry]) -> Result | None:
    if returned == question:
        return None
    arrived: Any = pushed[0].data if pushed else None
    if returned == arrived or (isinstance(arrived, str) and returned == _parsed(arrived)):
        return failed(
            f'devolviste el mensaje entero, {returned!r}. Llega como JSON, `{{"from": n, "text": …}}`: '
            'devuelve solo su texto, `json.loads(mensaje)["text"]`.',
            f'you returned the whole message, {returned!r}. It arrives as JSON, `{{"from": n, "text": …}}`: '
            'return only its text, `json.loads(mensaje)["text"]`.',
        )
    return failed(
        f"devolviste {returned!r}, pero Ana escribió {question!r}: devuelve el texto del mensaje que recibiste.",
        f"you returned {returned!r}, but Ana wrote {question!r}: return the text of the message you received.",
    )


def _parsed(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        return None
