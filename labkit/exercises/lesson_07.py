"""Lesson 07's exercise: a server handler that answers each message with its length, then says goodbye.

The student writes ``contar(websocket)``, a websockets connection handler: every message is
answered with its length as text (characters for text, bytes for binary), and the text
``"fin"`` is not counted but answered by closing with code 4000 and the reason ``"adiós"``.

The check serves the handler with :func:`labkit.serve` and talks to it with real clients. First
websockets' Python client, one message at a time, so that a wrong answer is named with the
message that got it. Then, where Node.js has one (global from Node 22, behind a flag in some
earlier versions), the ``WebSocket`` of Node.js: the WHATWG WebSockets Standard's interface, the one a page uses,
which sees what a page would see, the messages and the ``CloseEvent`` (``code``, ``reason``,
``wasClean``). One message has a length chosen at random, so that no table of answers can pass.
"""

from __future__ import annotations

__all__ = [
    "CLOSE_CODE",
    "CLOSE_REASON",
    "END",
    "NODE_WAIT",
    "RECV_WAIT",
    "check",
    "expected_answer",
    "node_command",
    "plan",
]

import functools
import json
import random
import shutil
import subprocess
from collections.abc import Callable
from typing import Any

from websockets.exceptions import ConnectionClosed

from ..clients import ws_connect
from ..errors import LabkitError
from ..record import Problem, Record
from ..servers import Server, serve
from ..servers.ws_app import is_connection_handler
from . import Result, failed, passed

#: The text that ends the conversation, and how the handler must close (RFC 6455 §7.4.2: 4000-4999 are private).
END = "fin"
CLOSE_CODE = 4000
CLOSE_REASON = "adiós"
#: Seconds the check waits for each answer, and for the close after ``"fin"``.
RECV_WAIT = 2.0
#: Seconds the Node.js client may take for the whole conversation.
NODE_WAIT = 10.0

Message = str | bytes

#: What the page-like client runs: the WHATWG WebSocket of Node.js (global from Node 22, behind
#: ``--experimental-websocket`` in some earlier versions). It prints one JSON line: what it received and
#: the close event, or that time ran out.
NODE_CLIENT = r"""
const [url, plan, waitMs] = [process.argv[1], JSON.parse(process.argv[2]), Number(process.argv[3])];
const got = [];
const ws = new WebSocket(url);
ws.binaryType = "arraybuffer";
const timer = setTimeout(() => {
  console.log(JSON.stringify({ got, timeout: true, readyState: ws.readyState }));
  process.exit(0);
}, waitMs);
ws.onopen = () => {
  for (const m of plan) ws.send(typeof m === "string" ? m : new Uint8Array(m));
};
ws.onmessage = (event) => {
  got.push(typeof event.data === "string" ? event.data : { binary: Array.from(new Uint8Array(event.data)) });
};
ws.onclose = (event) => {
  clearTimeout(timer);
  console.log(JSON.stringify({ got, code: event.code, reason: event.reason, wasClean: event.wasClean }));
};
"""


def expected_answer(message: Message) -> str:
    """Its length as text: characters of a text message (code points, as Python counts), bytes of a binary one."""
    return str(len(message))


def plan() -> list[Message]:
    """The messages the check sends before ``"fin"``: accents, an empty text, bytes, a random length."""
    return ["hola", "ñandú", "", b"\x00\x01\x02", "x" * random.randint(10, 99)]


@functools.cache
def node_command() -> tuple[str, ...] | None:
    """How to run Node.js with the WHATWG ``WebSocket`` in scope, or None where there is none."""
    node = shutil.which("node")
    if node is None:
        return None
    for command in ((node,), (node, "--experimental-websocket")):
        try:
            found = subprocess.run(
                [*command, "-e", "process.stdout.write(typeof WebSocket)"],
                capture_output=True,
                text=True,
                timeout=NODE_WAIT,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        if found.stdout == "function":
            return command
    return None


def check(contar: Callable[..., Any]) -> Result:
    """Serve ``contar`` and talk to it with real clients: Python's, then Node.js's WHATWG WebSocket."""
    if not is_connection_handler(contar):
        return failed(
            f"contar debe ser un manejador: una función `async def contar(websocket):`, no {type(contar).__name__}.",
            f"contar must be a handler: an `async def contar(websocket):` function, not {type(contar).__name__}.",
        )
    messages = plan()
    # A short close timeout: a handler that never closes must not hold up stop().
    server = serve(contar, over="websocket", name="exercise-07", close_timeout=0.5)
    try:
        verdict = _with_python(server, messages)
        if verdict is not None:
            return verdict
        command = node_command()
        seen = _node_saw(server, command, messages) if command is not None else None
        if seen is None:
            return passed(
                f"tu servidor contestó {len(messages)} mensajes con su largo y se despidió con {CLOSE_CODE} "
                f"{CLOSE_REASON!r}. (Lo comprobé con el cliente de Python; con un Node.js que traiga WebSocket, lo "
                "comprobaría también con la interfaz que usan las páginas.)",
                f"your server answered {len(messages)} messages with their length and said goodbye with "
                f"{CLOSE_CODE} {CLOSE_REASON!r}. (I checked it with the Python client; with a Node.js that has "
                "WebSocket, I would check it with the interface pages use too.)",
            )
        verdict = _judge_node(seen, messages)
        if verdict is not None:  # a Result is falsy when it failed: never `verdict or passed(...)`
            return verdict
        return passed(
            f"tu servidor contestó {len(messages)} mensajes con su largo y se despidió con {CLOSE_CODE} "
            f"{CLOSE_REASON!r}, con el cliente de Python y con el WebSocket de Node.js, la interfaz de las "
            f"páginas: su evento close dijo code {CLOSE_CODE}, reason {CLOSE_REASON!r}, wasClean true.",
            f"your server answered {len(messages)} messages with their length and said goodbye with {CLOSE_CODE} "
            f"{CLOSE_REASON!r}, to the Python client and to Node.js's WebSocket, the pages' interface: its close "
            f"event said code {CLOSE_CODE}, reason {CLOSE_REASON!r}, wasClean true.",
        )
    finally:
        server.stop()


def _failure(record: Record) -> str | None:
    """The last line of the traceback of the handler's first exception, if it raised one."""
    for entry in record.entries("error"):
        if isinstance(entry.data, Problem) and entry.data.traceback:
            return entry.data.traceback.strip().splitlines()[-1]
    return None


def _crashed(record: Record, when: str, when_en: str) -> Result | None:
    error = _failure(record)
    if error is None:
        return None
    return failed(
        f"tu manejador lanzó una excepción {when} y el servidor cerró con 1011 (error interno): {error}",
        f"your handler raised an exception {when_en} and the server closed with 1011 (internal error): {error}",
    )


def _with_python(server: Server, messages: list[Message]) -> Result | None:
    """One message at a time with websockets' client; ``None`` if every answer and the close are right."""
    try:
        with ws_connect(server.url, open_timeout=RECV_WAIT, close_timeout=RECV_WAIT) as ws:
            for message in messages:
                try:
                    ws.send(message)
                    answer = ws.recv(timeout=RECV_WAIT)
                except TimeoutError:
                    return failed(
                        f"tu manejador no contestó a {message!r} en {RECV_WAIT:g} s. Dentro del "
                        "`async for mensaje in websocket:`, contesta con `await websocket.send(...)`.",
                        f"your handler did not answer {message!r} within {RECV_WAIT:g} s. Inside the "
                        "`async for mensaje in websocket:`, answer with `await websocket.send(...)`.",
                    )
                except ConnectionClosed as closed:
                    return _closed_early(server.record, message, closed)
                verdict = _judge_answer(message, answer)
                if verdict is not None:
                    return verdict
            try:
                ws.send(END)
                answer = ws.recv(timeout=RECV_WAIT)
            except TimeoutError:
                return failed(
                    f"después de {END!r} la conexión siguió abierta. {END!r} no se cuenta: se contesta cerrando, "
                    f"`await websocket.close({CLOSE_CODE}, {CLOSE_REASON!r})`.",
                    f"after {END!r} the connection stayed open. {END!r} is not counted: it is answered by closing, "
                    f"`await websocket.close({CLOSE_CODE}, {CLOSE_REASON!r})`.",
                )
            except ConnectionClosed as closed:
                return _judge_close(server.record, closed)
            return failed(
                f"a {END!r} contestaste {answer!r}. {END!r} no se cuenta: se contesta cerrando la conexión, "
                f"`await websocket.close({CLOSE_CODE}, {CLOSE_REASON!r})`.",
                f"you answered {END!r} with {answer!r}. {END!r} is not counted: it is answered by closing the "
                f"connection, `await websocket.close({CLOSE_CODE}, {CLOSE_REASON!r})`.",
            )
    except (OSError, LabkitError) as exc:  # the server is labkit's own: this is not the student's doing
        return failed(
            f"no pude hablar con el servidor de prueba ({type(exc).__name__}: {exc}); vuelve a ejecutar la celda.",
            f"I could not talk to the test server ({type(exc).__name__}: {exc}); run the cell again.",
        )


def _judge_answer(message: Message, answer: Message) -> Result | None:
    expected = expected_answer(message)
    if answer == expected:
        return None
    if isinstance(answer, bytes):
        return failed(
            f"a {message!r} contestaste con bytes, {answer!r}: un mensaje binario. Contesta con texto, "
            "`str(len(mensaje))`.",
            f"you answered {message!r} with bytes, {answer!r}: a binary message. Answer with text, "
            "`str(len(mensaje))`.",
        )
    if isinstance(message, str) and answer == str(len(message.encode("utf-8"))):
        return failed(
            f"a {message!r} contestaste {answer!r}: contaste los bytes de su UTF-8. Tiene {expected} caracteres; "
            "cuéntalos con `len(mensaje)`.",
            f"you answered {message!r} with {answer!r}: you counted the bytes of its UTF-8. It has {expected} "
            "characters; count them with `len(mensaje)`.",
        )
    if answer == message:
        return failed(
            f"a {message!r} contestaste con el mismo mensaje: eso es un eco. Contesta con su largo, "
            "`str(len(mensaje))`.",
            f"you answered {message!r} with the same message: that is an echo. Answer with its length, "
            "`str(len(mensaje))`.",
        )
    return failed(
        f"a {message!r} contestaste {answer!r}; se esperaba {expected!r}, su largo como texto: `str(len(mensaje))`.",
        f"you answered {message!r} with {answer!r}; expected {expected!r}, its length as text: `str(len(mensaje))`.",
    )


def _closed_early(record: Record, message: Message, closed: ConnectionClosed) -> Result:
    crashed = _crashed(record, f"al recibir {message!r}", f"on receiving {message!r}")
    if crashed is not None:
        return crashed
    code = closed.rcvd.code if closed.rcvd is not None else 1006
    return failed(
        f"la conexión se cerró ({code}) antes de contestar a {message!r}: tu manejador terminó. Recorre todos los "
        "mensajes con `async for mensaje in websocket:` y cierra solo al llegar "
        f"{END!r}.",
        f"the connection closed ({code}) before {message!r} was answered: your handler returned. Go through every "
        f"message with `async for mensaje in websocket:` and close only when {END!r} arrives.",
    )


def _judge_close(record: Record, closed: ConnectionClosed) -> Result | None:
    crashed = _crashed(record, f"al recibir {END!r}", f"on receiving {END!r}")
    if crashed is not None:
        return crashed
    code = closed.rcvd.code if closed.rcvd is not None else None
    reason = closed.rcvd.reason if closed.rcvd is not None else ""
    if code == CLOSE_CODE and reason == CLOSE_REASON:
        return None
    if code is None:
        return failed(
            f"después de {END!r} la conexión se cortó sin trama de cierre (1006). Ciérrala con "
            f"`await websocket.close({CLOSE_CODE}, {CLOSE_REASON!r})`.",
            f"after {END!r} the connection was cut without a close frame (1006). Close it with "
            f"`await websocket.close({CLOSE_CODE}, {CLOSE_REASON!r})`.",
        )
    if code != CLOSE_CODE:
        return failed(
            f"después de {END!r} cerraste con el código {code}; se esperaba {CLOSE_CODE}, con el motivo "
            f"{CLOSE_REASON!r}: `await websocket.close({CLOSE_CODE}, {CLOSE_REASON!r})`.",
            f"after {END!r} you closed with code {code}; expected {CLOSE_CODE}, with the reason {CLOSE_REASON!r}: "
            f"`await websocket.close({CLOSE_CODE}, {CLOSE_REASON!r})`.",
        )
    return failed(
        f"el código {CLOSE_CODE} está bien, pero el motivo fue {reason!r}; se esperaba {CLOSE_REASON!r}.",
        f"the code {CLOSE_CODE} is right, but the reason was {reason!r}; expected {CLOSE_REASON!r}.",
    )


def _node_saw(server: Server, command: tuple[str, ...], messages: list[Message]) -> dict[str, Any] | None:
    """What Node.js's WHATWG WebSocket saw of the same conversation, all at once as a page would hold it.

    None when Node.js could not run it: the Python client has judged the handler already, and a
    machine's Node.js is no reason to fail a student.
    """
    sent: list[Any] = [m if isinstance(m, str) else list(m) for m in [*messages, END]]
    try:
        done = subprocess.run(
            [*command, "-e", NODE_CLIENT, server.url, json.dumps(sent), str(int(NODE_WAIT * 1000))],
            capture_output=True,
            text=True,
            timeout=NODE_WAIT + 5,
        )
        seen = json.loads(done.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None
    return seen if isinstance(seen, dict) else None


def _judge_node(seen: dict[str, Any], messages: list[Message]) -> Result | None:
    """The messages and the close event a page would have seen; ``None`` if they are right."""
    answers = [expected_answer(m) for m in messages]
    close = (seen.get("code"), seen.get("reason"), seen.get("wasClean"))
    if seen.get("got") == answers and close == (CLOSE_CODE, CLOSE_REASON, True):
        return None
    return failed(
        f"con el cliente de Python todo fue bien, pero el WebSocket de Node.js (la interfaz de las páginas) recibió "
        f"{seen.get('got')!r} y su evento close dijo code {close[0]}, reason {close[1]!r}, wasClean {close[2]}; "
        f"se esperaba {answers!r} y code {CLOSE_CODE}, reason {CLOSE_REASON!r}, wasClean true.",
        f"all went well with the Python client, but Node.js's WebSocket (the pages' interface) received "
        f"{seen.get('got')!r} and its close event said code {close[0]}, reason {close[1]!r}, wasClean {close[2]}; "
        f"expected {answers!r} and code {CLOSE_CODE}, reason {CLOSE_REASON!r}, wasClean true.",
    )
