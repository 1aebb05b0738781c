"""Lesson 04's exercise: decode Engine.IO / Socket.IO packets as they travel on a WebSocket.

Socket.IO is its own protocol: every WebSocket message a Socket.IO server sends is an
Engine.IO packet (first character: its type) that may carry a Socket.IO packet (second
character: its type, then an optional acknowledgement id, then JSON). The check talks to
its own Socket.IO chat server with plain WebSocket clients, so the student's decoder is
judged on real packets, plus the few that are fixed strings (ping, pong, noop). The right
answers come from :func:`labkit.protocol.engineio.decode_engineio`, the decoder the tap uses.
"""

from __future__ import annotations

__all__ = ["check", "ENGINEIO_TYPES", "SOCKETIO_TYPES", "Decoded"]

from collections.abc import Callable
from typing import Any

from ..clients import ws_connect
from ..protocol.engineio import ENGINEIO_TYPES, SOCKETIO_TYPES, decode_engineio
from ..servers import serve
from . import Result, failed, passed

#: (Engine.IO type, Socket.IO type or None, ack id or None, data or None)
Decoded = tuple[str, str | None, int | None, Any]

#: Packets that are the same on every connection; the rest are captured live.
FIXED_PACKETS = ("2", "3", "6")


def check(decodificar: Callable[[str], object]) -> Result:
    """Compare ``decodificar(packet)`` with the right decoding, packet by packet."""
    try:
        packets = [*FIXED_PACKETS, *_live_packets()]
        answers = [_decode(packet) for packet in packets]
    except Exception as exc:
        return failed(
            f"no pude hablar con el servidor de prueba ({type(exc).__name__}: {exc}); vuelve a ejecutar la celda.",
            f"I could not talk to the test server ({type(exc).__name__}: {exc}); run the cell again.",
        )
    for packet, expected in zip(packets, answers, strict=True):
        try:
            got = decodificar(packet)
        except Exception as exc:
            return failed(
                f"decodificar({packet!r}) lanzó {type(exc).__name__}: {exc}. {_exception_hint(packet, 'es')}",
                f"decodificar({packet!r}) raised {type(exc).__name__}: {exc}. {_exception_hint(packet, 'en')}",
            )
        if not isinstance(got, tuple | list) or len(got) != 4:
            return failed(
                f"decodificar({packet!r}) devolvió {got!r}; devuelve una tupla de 4: "
                "(tipo_engineio, tipo_socketio, ack, datos).",
                f"decodificar({packet!r}) returned {got!r}; return a tuple of 4: "
                "(tipo_engineio, tipo_socketio, ack, datos).",
            )
        got = tuple(got)
        if got != expected:
            return failed(
                f"decodificar({packet!r}) devolvió {got!r}; se esperaba {expected!r}. {_hint(got, expected, 'es')}",
                f"decodificar({packet!r}) returned {got!r}; expected {expected!r}. {_hint(got, expected, 'en')}",
            )
    return passed(
        f"decodificaste {len(packets)} paquetes, casi todos capturados en vivo de un servidor Socket.IO.",
        f"you decoded {len(packets)} packets, most of them captured live from a Socket.IO server.",
    )


def _decode(packet: str) -> Decoded:
    """The right answer, from labkit's own decoder: the four fields the lesson asks for."""
    decoded = decode_engineio(packet)
    if "invalid" in (decoded.engineio, decoded.socketio):
        raise ValueError(f"the server sent {packet!r}, which is not a Socket.IO packet")
    return decoded.engineio, decoded.socketio, decoded.ack_id, decoded.data


def _live_packets() -> list[str]:
    """Real packets, both ways, from a Socket.IO chat server and two plain WebSocket clients."""
    server = serve("chat", over="socketio", name="exercise-04")
    try:
        url = server.url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"
        with ws_connect(url) as ana, ws_connect(url) as beto:
            packets = [_recv(ana), "40"]
            ana.send("40")
            packets.append(_recv(ana))
            _recv(beto)
            beto.send("40")
            _recv(beto)
            for sent in ('421["join","sala"]', '4212["leave","sala"]'):
                ana.send(sent)
                packets += [sent, _recv(ana)]
            beto.send('42["chat","hola"]')
            packets += ['42["chat","hola"]', _recv(ana)]
            ana.send("41")
            packets.append("41")
        return packets
    finally:
        server.stop()


def _recv(ws: Any) -> str:
    message = ws.recv(timeout=5)
    if not isinstance(message, str):
        raise TypeError(f"expected a text message, got {message!r}")
    return message


def _say(lang: str, es: str, en: str) -> str:
    return en if lang == "en" else es


def _exception_hint(packet: str, lang: str) -> str:
    if packet[:1] == "4" and packet[2:3].isdigit():
        return _say(
            lang,
            "Ojo: entre el tipo de Socket.IO y el JSON van las cifras del id del ack, y puede tener varias "
            "cifras; sepáralas todas antes de json.loads.",
            "Careful: between the Socket.IO type and the JSON come the digits of the ack id, and it may have "
            "several digits; split them all off before json.loads.",
        )
    return _say(
        lang,
        "Tu función debe aceptar cualquier paquete de la tabla, también los que no llevan datos.",
        "Your function must accept any packet in the table, including those without data.",
    )


def _hint(got: tuple[Any, ...], expected: Decoded, lang: str) -> str:
    """One precise hint: the first field that differs says what to fix."""
    if got[0] != expected[0]:
        return _say(
            lang,
            "El primer carácter es el tipo de Engine.IO; devuélvelo por su nombre: "
            "0 open, 1 close, 2 ping, 3 pong, 4 message, 5 upgrade, 6 noop.",
            "The first character is the Engine.IO type; return it by name: "
            "0 open, 1 close, 2 ping, 3 pong, 4 message, 5 upgrade, 6 noop.",
        )
    if got[1] != expected[1]:
        if expected[1] is None:
            return _say(
                lang,
                "Solo los paquetes 'message' (4) llevan dentro un paquete de Socket.IO; "
                "para los demás, tipo_socketio es None.",
                "Only 'message' packets (4) carry a Socket.IO packet; for the others, tipo_socketio is None.",
            )
        return _say(
            lang,
            "En un paquete 'message', el segundo carácter es el tipo de Socket.IO; devuélvelo por su nombre: "
            "0 connect, 1 disconnect, 2 event, 3 ack, 4 connect_error.",
            "In a 'message' packet the second character is the Socket.IO type; return it by name: "
            "0 connect, 1 disconnect, 2 event, 3 ack, 4 connect_error.",
        )
    if got[2] != expected[2]:
        if expected[2] is None:
            return _say(
                lang,
                "Este paquete no lleva id de ack: ack debe ser None.",
                "This packet carries no ack id: ack must be None.",
            )
        if isinstance(got[2], str):
            return _say(
                lang,
                "El id del ack es un número: conviértelo con int().",
                "The ack id is a number: convert it with int().",
            )
        return _say(
            lang,
            "El id del ack puede tener varias cifras: toma todas las cifras que siguen al tipo de Socket.IO.",
            "The ack id may have several digits: take every digit that follows the Socket.IO type.",
        )
    if isinstance(got[3], str) and not isinstance(expected[3], str):
        return _say(
            lang,
            "Los datos viajan como JSON: conviértelos con json.loads.",
            "The data travels as JSON: convert it with json.loads.",
        )
    return _say(
        lang,
        "Los datos son el JSON que queda después de los tipos y del id del ack (o None si no queda nada).",
        "The data is the JSON left after the types and the ack id (or None if nothing is left).",
    )
