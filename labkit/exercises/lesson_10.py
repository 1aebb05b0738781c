"""Lesson 10's exercise: a handler that serves only a client whose first message is a valid signed token.

The student writes ``con_token(websocket)``, a websockets connection handler. The first message a
client sends is its token, a JWT signed with the lesson's secret (HS256). A valid one is greeted
with ``"hola, <sub>"`` and the connection then echoes every message; anything else (expired,
signed with another key, not a token at all) is refused by closing with 1008, policy violation
(RFC 6455 §7.4.1), with a reason and without a word sent before. A client that sends nothing
is refused the same way after :data:`TOKEN_WAIT` seconds: the first-message pattern leaves the
connection open before anyone is authenticated, and that window must be short.

The check serves the handler with :func:`labkit.serve` and talks to it with real clients and
real tokens it signs with PyJWT: good ones for two users (so no name can be typed in), one sent
a second late (a slow client is still welcome within the window), an expired one, one signed
with another key, one that is not a token, and none.
"""

from __future__ import annotations

__all__ = ["CLOSE_CODE", "LATE", "SLACK", "TOKEN_WAIT", "check", "tokens"]

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import jwt
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from ..clients import ws_connect
from ..record import Problem, Record
from ..servers import Server, serve
from ..servers.ws_app import is_connection_handler
from . import Result, failed, passed

#: The close code for a refused client: policy violation (RFC 6455 §7.4.1).
CLOSE_CODE = 1008
#: Seconds the handler gives a client to send its token.
TOKEN_WAIT = 2.0
#: Seconds the good client waits before it sends its token: inside the window.
LATE = 1.0
#: Seconds the check allows beyond a wait, for the server's own pace.
SLACK = 1.5
#: A key that is not the server's: a token signed with it must be refused.
OTHER_KEY = "a-key-that-is-not-the-servers-32-bytes+"


class Tokens(NamedTuple):
    ana: str
    beto: str
    expired: str
    forged: str


def tokens(secret: str) -> Tokens:
    """Tokens signed now, valid for an hour (as ``jsonwebtoken``'s ``expiresIn: "1h"``), and bad ones."""
    now = datetime.now(UTC)
    hour = timedelta(hours=1)
    return Tokens(
        ana=jwt.encode({"sub": "ana", "exp": now + hour}, secret, algorithm="HS256"),
        beto=jwt.encode({"sub": "beto", "exp": now + hour}, secret, algorithm="HS256"),
        expired=jwt.encode({"sub": "ana", "exp": now - hour}, secret, algorithm="HS256"),
        forged=jwt.encode({"sub": "admin", "exp": now + hour}, OTHER_KEY, algorithm="HS256"),
    )


def check(con_token: Callable[..., Any], secreto: Any) -> Result:
    """Serve ``con_token`` and judge it with good, late, expired, forged, malformed and missing tokens."""
    if not is_connection_handler(con_token):
        return failed(
            f"con_token debe ser un manejador: una función `async def con_token(websocket):`, no "
            f"{type(con_token).__name__}.",
            f"con_token must be a handler: an `async def con_token(websocket):` function, not "
            f"{type(con_token).__name__}.",
        )
    if not isinstance(secreto, str) or not secreto:
        return failed(
            f"pasa a la comprobación la clave con la que firmas y compruebas los tokens, SECRETO, no {secreto!r}.",
            f"give the check the key you sign and check tokens with, SECRETO, not {secreto!r}.",
        )
    signed = tokens(secreto)
    # A short close timeout: a handler that never closes must not hold up stop().
    server = serve(con_token, over="websocket", name="exercise-10", close_timeout=0.5)
    trials: list[Callable[[], Result | None]] = [
        lambda: _welcomed(server, signed.ana, "ana"),
        lambda: _welcomed(server, signed.beto, "beto", late=LATE),
        lambda: _refused(server, signed.expired, "vencido", "expired"),
        lambda: _refused(server, signed.forged, "firmado con otra clave", "signed with another key"),
        lambda: _refused(server, "hola", "que no es un token", "that is not a token"),
        lambda: _refused(server, None, "", ""),
    ]
    try:
        for trial in trials:
            verdict = trial()  # a failed Result is falsy: compare with None, never chain with ``or``
            if verdict is not None:
                return verdict
    finally:
        server.stop()
    return passed(
        f"saludaste a ana y a beto (también cuando el token llegó {LATE:g} s tarde) y les devolviste sus mensajes; "
        f"el token vencido, el firmado con otra clave, el que no era un token y el que nunca llegó se quedaron "
        f"sin nada, con {CLOSE_CODE} y un motivo.",
        f"you greeted ana and beto (also when the token came {LATE:g} s late) and echoed their messages; the "
        f"expired token, the one signed with another key, the one that was not a token and the one that never "
        f"came got nothing, and {CLOSE_CODE} with a reason.",
    )


def _failure(record: Record) -> str | None:
    """The last line of the traceback of the handler's latest exception, if it raised one."""
    for entry in reversed(record.entries("error")):
        if isinstance(entry.data, Problem) and entry.data.traceback:
            return entry.data.traceback.strip().splitlines()[-1]
    return None


def _crashed(record: Record) -> Result | None:
    error = _failure(record)
    if error is None:
        return None
    return failed(
        f"tu manejador lanzó una excepción y el servidor cerró con 1011 (error interno): {error}. Un token que "
        f"no vale no es un error del servidor: atrapa `jwt.InvalidTokenError` (vencido, mal firmado o mal "
        f"formado, todos lo son) y cierra con `await websocket.close({CLOSE_CODE}, motivo)`.",
        f"your handler raised an exception and the server closed with 1011 (internal error): {error}. A token "
        f"that is not valid is no server error: catch `jwt.InvalidTokenError` (expired, badly signed or "
        f"malformed, all are) and close with `await websocket.close({CLOSE_CODE}, reason)`.",
    )


def _code(closed: ConnectionClosed) -> tuple[int, str]:
    """The close code and reason the server sent, or 1006 when it sent no close frame (§7.1.5)."""
    return (closed.rcvd.code, closed.rcvd.reason) if closed.rcvd is not None else (1006, "")


def _welcomed(server: Server, token: str, user: str, late: float = 0.0) -> Result | None:
    """A good token (sent ``late`` seconds after opening): greeted by name, then each message echoed."""
    when = _late(late)
    expected = f"hola, {user}"
    echoing: str | None = None  # the message being echoed, once the greeting was right
    try:
        with ws_connect(server.url, open_timeout=TOKEN_WAIT + SLACK, close_timeout=0.5) as ws:
            if late:
                time.sleep(late)
            ws.send(token)
            greeting = ws.recv(timeout=TOKEN_WAIT + SLACK)
            if greeting != expected:
                return failed(
                    f"con un token válido de {user}{when.es}, tu manejador contestó {greeting!r}; se esperaba "
                    f'{expected!r}: el usuario es el `"sub"` de `jwt.decode(token, SECRETO, '
                    f'algorithms=["HS256"])`.',
                    f"with a valid token of {user}{when.en}, your handler answered {greeting!r}; {expected!r} was "
                    f'expected: the user is the `"sub"` of `jwt.decode(token, SECRETO, algorithms=["HS256"])`.',
                )
            for echoing in ("¿me oyes?", "ñandú 🙂"):
                ws.send(echoing)
                echo = ws.recv(timeout=TOKEN_WAIT + SLACK)
                if echo != echoing:
                    return failed(
                        f"después del saludo, a {echoing!r} contestaste {echo!r}: devuelve cada mensaje tal cual.",
                        f"after the greeting, you answered {echoing!r} with {echo!r}: send each message back as it is.",
                    )
    except TimeoutError:
        if echoing is not None:
            return failed(
                f"saludaste a {user}, pero no devolviste {echoing!r}. Después del saludo viene el eco: "
                "`async for mensaje in websocket:` y `await websocket.send(mensaje)`.",
                f"you greeted {user}, but did not send {echoing!r} back. After the greeting comes the echo: "
                "`async for mensaje in websocket:` and `await websocket.send(mensaje)`.",
            )
        return failed(
            f"con un token válido de {user}{when.es}, tu manejador no dijo nada en {TOKEN_WAIT + SLACK:g} s. Lee "
            f"el token con `await websocket.recv()`, compruébalo y saluda con {expected!r}.",
            f"with a valid token of {user}{when.en}, your handler said nothing within {TOKEN_WAIT + SLACK:g} s. "
            f"Read the token with `await websocket.recv()`, check it and greet with {expected!r}.",
        )
    except ConnectionClosed as closed:
        code, reason = _code(closed)
        shown = f"{code} {reason!r}" if reason else str(code)
        crashed = _crashed(server.record)
        if crashed is not None:
            return crashed
        if echoing is not None:
            return failed(
                f"saludaste a {user} y cerraste la conexión ({shown}) en vez de devolver {echoing!r}. Después "
                "del saludo, la conexión sigue: `async for mensaje in websocket:` y `await websocket.send(mensaje)`.",
                f"you greeted {user} and closed the connection ({shown}) instead of sending {echoing!r} back. "
                "After the greeting the connection goes on: `async for mensaje in websocket:` and "
                "`await websocket.send(mensaje)`.",
            )
        return failed(
            f"con un token válido de {user}{when.es}, tu manejador cerró la conexión ({shown}) sin saludar. Un "
            f'token bueno se contesta con {expected!r}, donde el usuario es el `"sub"` de `jwt.decode(...)`; '
            "después, un eco.",
            f"with a valid token of {user}{when.en}, your handler closed the connection ({shown}) without a "
            f'greeting. A good token is answered with {expected!r}, the user being the `"sub"` of '
            "`jwt.decode(...)`; then, an echo.",
        )
    return None


class _Words(NamedTuple):
    es: str
    en: str


def _late(late: float) -> _Words:
    if not late:
        return _Words("", "")
    return _Words(f" enviado {late:g} s después de conectarse", f" sent {late:g} s after connecting")


def _refused(server: Server, token: str | None, what_es: str, what_en: str) -> Result | None:
    """A bad token, or none (``token`` None): nothing sent, then a close with 1008 and a reason."""
    if token is None:
        who = _Words("un cliente que no envía ningún token", "a client that sends no token")
        wait = TOKEN_WAIT + SLACK
    else:
        who = _Words(f"el token {what_es} ({token[:16]}…)", f"the token {what_en} ({token[:16]}…)")
        wait = SLACK + 1.0
    started = time.monotonic()
    try:
        with ws_connect(server.url, open_timeout=wait, close_timeout=0.5) as ws:
            if token is not None:
                ws.send(token)
            said = ws.recv(timeout=wait)
    except TimeoutError:
        if token is None:
            return failed(
                f"{who.es}: la conexión seguía abierta a los {wait:g} s. Con el token en el primer mensaje, la "
                f"conexión está abierta antes de saber quién es: no esperes para siempre. "
                f"`await asyncio.wait_for(websocket.recv(), timeout={TOKEN_WAIT:g})` lanza `TimeoutError`: "
                f"ciérrala entonces con {CLOSE_CODE} y un motivo.",
                f"{who.en}: the connection was still open after {wait:g} s. With the token in the first message, "
                f"the connection is open before you know who it is: do not wait for ever. "
                f"`await asyncio.wait_for(websocket.recv(), timeout={TOKEN_WAIT:g})` raises `TimeoutError`: close "
                f"it then with {CLOSE_CODE} and a reason.",
            )
        return failed(
            f"{who.es}: la conexión siguió abierta y callada. Un token que no vale se contesta cerrando: "
            f"`await websocket.close({CLOSE_CODE}, motivo)`.",
            f"{who.en}: the connection stayed open and silent. A token that is not valid is answered by closing: "
            f"`await websocket.close({CLOSE_CODE}, reason)`.",
        )
    except ConnectionClosed as closed:
        code, reason = _code(closed)
        if code == 1011:
            crashed = _crashed(server.record)
            if crashed is not None:
                return crashed
        if code != CLOSE_CODE:
            return failed(
                f"{who.es}: cerraste con {code}. Para un cliente al que no dejas pasar, el código es "
                f"{CLOSE_CODE}, *policy violation* (RFC 6455 §7.4.1).",
                f"{who.en}: you closed with {code}. For a client you do not let in, the code is {CLOSE_CODE}, "
                "*policy violation* (RFC 6455 §7.4.1).",
            )
        if not reason:
            return failed(
                f"{who.es}: cerraste con {CLOSE_CODE}, bien, pero sin motivo. Di por qué, para que el cliente lo "
                f'sepa (el navegador lo pone en `event.reason`): `await websocket.close({CLOSE_CODE}, "token no '
                'valido")`.',
                f"{who.en}: you closed with {CLOSE_CODE}, good, but without a reason. Say why, so that the client "
                f"knows (the browser puts it in `event.reason`): `await websocket.close({CLOSE_CODE}, "
                '"token no valido")`.',
            )
        if token is None and time.monotonic() - started < TOKEN_WAIT / 2:
            return failed(
                f"{who.es}: cerraste a los {time.monotonic() - started:.1f} s. Dale al cliente {TOKEN_WAIT:g} s "
                "para enviar su token: uno lento también tiene derecho a entrar.",
                f"{who.en}: you closed after {time.monotonic() - started:.1f} s. Give the client {TOKEN_WAIT:g} s "
                "to send its token: a slow one has a right to come in too.",
            )
        return None
    except (OSError, InvalidHandshake) as exc:  # a refused handshake, a reset: not a close a client can read
        return failed(
            f"{who.es}: la conexión falló sin trama de cierre ({type(exc).__name__}). Acepta la conexión y "
            f"ciérrala con `await websocket.close({CLOSE_CODE}, motivo)`.",
            f"{who.en}: the connection failed without a close frame ({type(exc).__name__}). Accept the "
            f"connection and close it with `await websocket.close({CLOSE_CODE}, reason)`.",
        )
    return failed(
        f"{who.es}: le enviaste {said!r} antes de cerrar. A quien no trae un token válido no se le dice nada: "
        f"solo se cierra, con {CLOSE_CODE} y un motivo.",
        f"{who.en}: you sent it {said!r} before closing. Someone without a valid token is told nothing: the "
        f"connection is only closed, with {CLOSE_CODE} and a reason.",
    )
