"""The demo apps, defined once: what each does on open, on a message and on a tick, and who gets what.

An app never touches a socket. A stack (``labkit/servers/``) tells it what happened on a
connection and carries out the actions it returns, each in its own way:

============  ============================  ======================  =============================
action        WebSocket (websocket,         Socket.IO               HTTP
              scratch)
============  ============================  ======================  =============================
``Send``      a frame to each connection    the acknowledgement     the response body
reply         that sent the message         (``return`` value)
``Send``      a frame to each of ``to``     ``emit(event, ...)``    kept for ``GET /?after=N``
broadcast     (slow readers are dropped)    ``to=room, skip_sid``   (polling)
``Enter``     (no rooms on plain            ``enter_room`` /        (no rooms)
``Leave``     WebSocket)                    ``leave_room``
============  ============================  ======================  =============================

So ``echo``, ``clock`` and ``chat`` mean the same on every stack, and a new app is one
class here plus its entry in :data:`APPS`. Apps run on their server's event loop thread
only, so their state needs no lock.
"""

from __future__ import annotations

__all__ = [
    "APPS",
    "Action",
    "App",
    "AppError",
    "Chat",
    "Clock",
    "Echo",
    "Enter",
    "Feed",
    "Leave",
    "Send",
    "app_class",
    "chat_payload",
    "clock_text",
]

import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar, NamedTuple

from .errors import LabkitError
from .i18n import Text, say
from .options import Option, count, hertz, seconds


class Send(NamedTuple):
    """Deliver ``message`` to the connections ``to`` (numbers given by the server's record).

    ``reply``: it answers the message just received (Socket.IO: its acknowledgement; HTTP:
    the response). ``broadcast``: it goes to every other member (of ``room`` if given).
    ``event``: the Socket.IO event it travels as, when not the app's own. (A named tuple,
    frozen like a dataclass but cheaper to build: apps make one per message.)
    """

    message: Any
    to: tuple[int, ...]
    reply: bool = False
    broadcast: bool = False
    room: str | None = None
    event: str | None = None


class Enter(NamedTuple):
    """The connection that sent the message joins ``room``."""

    room: str


class Leave(NamedTuple):
    """The connection that sent the message leaves ``room``."""

    room: str


Action = Send | Enter | Leave


class AppError(Exception):
    """A client sent something the app cannot use; the stack records it and tells that client."""

    def __init__(self, text: Text) -> None:
        super().__init__(text.en)
        self.text = text


def clock_text() -> str:
    """The current UTC time as ISO 8601 with milliseconds, what every clock sends."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def chat_payload(sender: int, text: str, room: str | None = None, nick: str | None = None) -> dict[str, Any]:
    """What a chat delivers: who sent it (connection number, and nickname if given) and the text unchanged."""
    message: dict[str, Any] = {"from": sender, "text": text}
    if nick is not None:
        message["nick"] = nick
    if room is not None:
        message["room"] = room
    return message


def as_text_frame(message: Any) -> str | bytes:
    """A message as a WebSocket carries it: text and bytes as they are, data as JSON text."""
    if isinstance(message, str | bytes):
        return message
    return json.dumps(message, ensure_ascii=False)


class App:
    """One demo app: its meaning, its options, and what it does at each moment of a connection.

    ``members`` maps each open connection to the rooms it is in.
    """

    name: ClassVar[str]
    meaning: ClassVar[Text]
    #: The Socket.IO event the app sends its messages as, and the events it answers.
    event: ClassVar[str]
    listens_to: ClassVar[tuple[str, ...]]
    #: What ``GET /`` means over HTTP: ``"tick"`` (what a tick would send now),
    #: ``"log"`` (messages after ``?after=N``) or ``"usage"`` (how to use the app).
    http_get: ClassVar[str] = "usage"
    #: Whether ``POST /`` means something over HTTP (a message from the client).
    http_post: ClassVar[bool] = True
    options: ClassVar[Mapping[str, Option]] = {}
    #: Seconds between ticks, or None for an app that never speaks unasked.
    interval: float | None = None
    #: Seconds between two publications to every member (see :meth:`publish`), or None.
    every: float | None = None
    #: True when :meth:`receive` only ever sends each message back, unchanged, to its sender:
    #: a WebSocket stack may then send it back without asking (``labkit bench throughput``).
    echoes: ClassVar[bool] = False

    def __init__(self, **options: Any) -> None:
        self.members: dict[int, set[str]] = {}

    def open(self, conn: int) -> list[Action]:
        """A client connected (after the handshake); what to send it now."""
        self.members[conn] = set()
        return []

    def receive(self, conn: int, message: Any, event: str | None = None) -> list[Action]:
        """A message arrived (over Socket.IO, with its ``event`` name); what to send, to whom."""
        return []

    def tick(self, conn: int) -> list[Action]:
        """``interval`` seconds passed for ``conn``; what to send it unasked."""
        return []

    def close(self, conn: int) -> list[Action]:
        """A client left; what to tell the others."""
        self.members.pop(conn, None)
        return []

    def publish(self, n: int) -> list[Action] | None:
        """Publication ``n`` (0, 1, 2…) for every member, made every ``every`` seconds once the
        first client arrives; None once the app has published everything."""
        return None

    def others(self, conn: int, room: str | None = None) -> tuple[int, ...]:
        """Every member but ``conn`` (in ``room``, if given), in connection order."""
        return tuple(m for m, rooms in self.members.items() if m != conn and (room is None or room in rooms))

    @property
    def usage(self) -> Text:
        return self.meaning


class Echo(App):
    name = "echo"
    meaning = Text("cada mensaje vuelve tal cual", "every message comes back unchanged")
    event = "echo"
    listens_to = ("echo",)
    echoes = True

    def receive(self, conn: int, message: Any, event: str | None = None) -> list[Action]:
        return [Send(message, (conn,), True)]  # reply=True

    @property
    def usage(self) -> Text:
        return Text(
            "envía un cuerpo con POST a esta dirección y vuelve tal cual\n",
            "POST a body to this URL and it comes back unchanged\n",
        )


class Clock(App):
    name = "clock"
    meaning = Text(
        "el servidor envía la hora al conectar y cada segundo, sin que se la pidan",
        "the server sends the time on connecting and every second, without being asked",
    )
    event = "clock"
    listens_to = ()
    http_get = "tick"
    http_post = False
    options: ClassVar[Mapping[str, Option]] = {
        "interval": Option(
            seconds(minimum=0.01), Text("segundos entre dos horas (1 por defecto)", "seconds between ticks (default 1)")
        )
    }

    def __init__(self, interval: float = 1.0, **options: Any) -> None:
        super().__init__(**options)
        self.interval = interval

    def open(self, conn: int) -> list[Action]:
        super().open(conn)
        return self.tick(conn)

    def tick(self, conn: int) -> list[Action]:
        return [Send(clock_text(), (conn,))]


class Chat(App):
    """Every text reaches every other member; rooms on Socket.IO; nicknames and presence if asked.

    A client that gives itself a nickname (over WebSocket the text ``{"nick": "Ana"}``, over
    Socket.IO the event ``"nick"``) signs up for presence: it and every other such client
    get ``{"online": [{"id": 1, "nick": "Ana"}, …]}`` (Socket.IO event ``"online"``) whenever
    somebody arrives, changes name or leaves. Clients that never do see only messages.
    """

    name = "chat"
    meaning = Text(
        "cada texto que envía un cliente les llega a todos los demás",
        "every text a client sends reaches every other client",
    )
    event = "chat"
    listens_to = ("chat", "join", "leave", "nick")
    http_get = "log"
    #: Characters a nickname may have.
    NICK_LENGTH = 40

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.nicks: dict[int, str] = {}

    def receive(self, conn: int, message: Any, event: str | None = None) -> list[Action]:
        if event in ("join", "leave"):
            return self.change_room(conn, message, enter=event == "join")
        if event == "nick":
            return self.set_nick(conn, message)
        room: str | None = None
        if isinstance(message, dict) and isinstance(message.get("room"), str) and isinstance(message.get("text"), str):
            room, text = message["room"], message["text"]
        elif isinstance(message, str):
            text = message
        elif isinstance(message, bytes):
            try:
                text = message.decode("utf-8")
            except UnicodeDecodeError:
                raise AppError(
                    Text("un mensaje del chat debe ser texto UTF-8", "a chat message must be UTF-8 text")
                ) from None
        else:
            raise AppError(
                Text(
                    f"chat espera un texto o {{'room': …, 'text': …}}, no {message!r}",
                    f"chat needs a text or {{'room': …, 'text': …}}, not {message!r}",
                )
            )
        if event is None and text.startswith('{"nick"'):
            try:
                command = json.loads(text)
            except ValueError:
                command = None
            if isinstance(command, dict) and list(command) == ["nick"]:
                return self.set_nick(conn, command["nick"])
        payload = chat_payload(conn, text, room, self.nicks.get(conn))
        return [Send(payload, self.others(conn, room), broadcast=True, room=room)]

    def change_room(self, conn: int, room: Any, enter: bool) -> list[Action]:
        """Join or leave a room; the reply lists the rooms the client is in now."""
        if not isinstance(room, str) or not room:
            raise AppError(Text(f"una sala es un texto, no {room!r}", f"a room is a text, not {room!r}"))
        rooms = self.members.setdefault(conn, set())
        if enter:
            rooms.add(room)
        else:
            rooms.discard(room)
        change: Action = Enter(room) if enter else Leave(room)
        return [change, Send(sorted(rooms), (conn,), reply=True)]

    def set_nick(self, conn: int, nick: Any) -> list[Action]:
        """Name this client and tell everyone who asked for presence who is online now."""
        if not isinstance(nick, str) or not nick.strip() or len(nick) > self.NICK_LENGTH:
            raise AppError(
                Text(
                    f"un apodo es un texto de 1 a {self.NICK_LENGTH} caracteres, no {nick!r}",
                    f"a nickname is a text of 1 to {self.NICK_LENGTH} characters, not {nick!r}",
                )
            )
        self.nicks[conn] = nick.strip()
        return [self.presence()]

    def presence(self) -> Send:
        online = [{"id": conn, "nick": nick} for conn, nick in sorted(self.nicks.items())]
        return Send({"online": online}, tuple(sorted(self.nicks)), event="online")

    def close(self, conn: int) -> list[Action]:
        super().close(conn)
        if self.nicks.pop(conn, None) is None:
            return []
        return [self.presence()] if self.nicks else []


def feed_update(seq: int) -> dict[str, Any]:
    """One update of the feed (under 100 bytes as JSON): its number, when it was published
    (milliseconds since the epoch, to measure delivery), and a made-up price."""
    return {"seq": seq, "t": round(time.time() * 1000, 3), "price": f"{100 + (seq * 37 % 200) / 100:.2f}"}


class Feed(App):
    """Publishes ``updates`` small updates at ``rate`` per second to every client: the workload
    ``labkit compare`` carries over polling, long polling, SSE, WebSocket and Socket.IO."""

    name = "feed"
    meaning = Text(
        "el servidor publica actualizaciones pequeñas a un ritmo fijo, para todos los clientes",
        "the server publishes small updates at a fixed rate, to every client",
    )
    event = "update"
    listens_to = ()
    http_get = "log"
    http_post = False
    options: ClassVar[Mapping[str, Option]] = {
        "updates": Option(count(1, 100_000), Text("cuántas actualizaciones (100)", "how many updates (100)")),
        "rate": Option(hertz(0.1, 1000), Text("actualizaciones por segundo (10)", "updates per second (10)")),
    }

    def __init__(self, updates: int = 100, rate: float = 10.0, **options: Any) -> None:
        super().__init__(**options)
        self.updates = updates
        self.every = 1 / rate

    def publish(self, n: int) -> list[Action] | None:
        if n >= self.updates:
            return None
        return [Send(feed_update(n + 1), tuple(self.members), broadcast=True)]


#: The apps ``labkit.serve`` knows by name.
APPS: dict[str, type[App]] = {app.name: app for app in (Echo, Clock, Chat, Feed)}


def app_class(name: Any) -> type[App]:
    """The app called ``name``, or one clear error listing the apps there are."""
    try:
        return APPS[name]
    except (KeyError, TypeError):
        raise LabkitError(
            say(
                f"app desconocida {name!r}; elige una de: {', '.join(APPS)}",
                f"unknown app {name!r}; choose one of: {', '.join(APPS)}",
            )
        ) from None
