"""The apps alone, without a socket: what each does on open, on a message and on a tick, and to whom."""

from __future__ import annotations

import re

import pytest

from labkit.apps import APPS, Action, AppError, Chat, Clock, Echo, Enter, Feed, Leave, Send, app_class, as_text_frame
from labkit.errors import LabkitError

ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00")


def as_send(action: Action) -> Send:
    """The action, which the test expects to be a Send (not an Enter or a Leave)."""
    assert isinstance(action, Send), action
    return action


def test_echo_replies_to_the_sender_with_the_message_unchanged() -> None:
    echo = Echo()
    echo.open(1)
    for message in ("hola", b"\x00\xff", {"a": [1]}, None):
        assert echo.receive(1, message, "echo") == [Send(message, (1,), reply=True)]
    assert echo.tick(1) == [] and echo.interval is None


@pytest.mark.parametrize("name", sorted(APPS))
def test_an_app_that_says_it_echoes_only_sends_each_message_back(name: str) -> None:
    """WebSocket stacks answer an ``echoes`` app without calling receive(): the claim must be true."""
    app = APPS[name]()
    app.open(1)
    app.open(2)
    event = app.listens_to[0] if app.listens_to else None
    answers = [app.receive(1, message, event) for message in ("hola", b"hola")]
    echoed = answers == [[Send("hola", (1,), reply=True)], [Send(b"hola", (1,), reply=True)]]
    assert app.echoes == echoed, answers
    assert app.echoes == (name == "echo")


def test_clock_speaks_on_open_and_on_every_tick_and_only_listens() -> None:
    clock = Clock(interval=0.5)
    [opened] = clock.open(7)
    first = as_send(opened)
    assert first.to == (7,) and not first.reply and ISO_TIME.fullmatch(first.message)
    [ticked] = clock.tick(7)
    tick = as_send(ticked)
    assert tick.to == (7,) and ISO_TIME.fullmatch(tick.message)
    assert clock.receive(7, "¿qué hora es?") == []
    assert clock.interval == 0.5 and Clock().interval == 1.0


def test_chat_delivers_each_text_to_every_other_member() -> None:
    chat = Chat()
    for conn in (1, 2, 3):
        chat.open(conn)
    assert chat.receive(2, "hola") == [Send({"from": 2, "text": "hola"}, (1, 3), broadcast=True)]
    assert chat.receive(1, b"hola") == [Send({"from": 1, "text": "hola"}, (2, 3), broadcast=True)]
    chat.close(3)
    assert as_send(chat.receive(1, "¿quién queda?")[0]).to == (2,)


def test_chat_rooms_join_leave_and_limit_who_receives() -> None:
    chat = Chat()
    for conn in (1, 2, 3):
        chat.open(conn)
    assert chat.receive(2, "python", "join") == [Enter("python"), Send(["python"], (2,), reply=True)]
    assert chat.receive(3, "python", "join")[-1] == Send(["python"], (3,), reply=True)
    [send] = chat.receive(1, {"room": "python", "text": "hola, python"}, "chat")
    assert send == Send({"from": 1, "text": "hola, python", "room": "python"}, (2, 3), broadcast=True, room="python")
    assert chat.receive(3, "python", "leave") == [Leave("python"), Send([], (3,), reply=True)]
    assert as_send(chat.receive(1, {"room": "python", "text": "¿y ahora?"}, "chat")[0]).to == (2,)


@pytest.mark.parametrize(
    ("message", "event"),
    [(b"\xff\xfe", None), (3, "chat"), ({"room": 1, "text": "x"}, "chat"), (None, "join"), ("", "join")],
)
def test_chat_refuses_what_it_cannot_use_with_one_clear_error(message: object, event: str | None) -> None:
    chat = Chat()
    chat.open(1)
    with pytest.raises(AppError) as caught:
        chat.receive(1, message, event)
    assert caught.value.text.es and caught.value.text.en


def test_every_app_is_listed_once_by_name_and_unknown_names_are_one_clear_error() -> None:
    assert list(APPS) == ["echo", "clock", "chat", "feed"]
    assert all(app_class(name).name == name for name in APPS)
    with pytest.raises(LabkitError, match="choose one of: echo, clock, chat, feed"):
        app_class("radio")
    with pytest.raises(LabkitError, match="choose one of"):
        app_class(["echo"])


def test_a_websocket_carries_data_as_json_text() -> None:
    assert as_text_frame("hola") == "hola" and as_text_frame(b"\x00") == b"\x00"
    assert as_text_frame({"from": 1, "text": "¡ñ!"}) == '{"from": 1, "text": "¡ñ!"}'


def test_the_feed_publishes_its_updates_to_every_member_then_stops() -> None:
    feed = Feed(updates=3, rate=50)
    assert feed.every == 0.02 and feed.open(1) == [] and feed.open(2) == []
    published = [feed.publish(n) for n in range(4)]
    assert published[3] is None
    sends = [as_send(actions[0]) for actions in published[:3] if actions]
    assert [s.message["seq"] for s in sends] == [1, 2, 3] and all(s.to == (1, 2) and s.broadcast for s in sends)
    assert feed.receive(1, "¿algo?") == []
