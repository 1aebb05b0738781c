"""Tests for labkit.protocol.events: plain, comparable, immutable values."""

from __future__ import annotations

import dataclasses

import pytest

from labkit.protocol.events import (
    BinaryMessage,
    CloseReceived,
    Event,
    Ping,
    Pong,
    TextMessage,
)

ALL: list[Event] = [
    TextMessage("hi"),
    BinaryMessage(b"hi"),
    Ping(b"p"),
    Pong(b"p"),
    CloseReceived(1000, "bye"),
]


@pytest.mark.parametrize("event", ALL)
def test_events_are_frozen_and_hashable(event: Event) -> None:
    assert event == dataclasses.replace(event)
    assert hash(event) == hash(dataclasses.replace(event))
    field = dataclasses.fields(event)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(event, field, None)


def test_defaults_and_equality() -> None:
    assert Ping() == Ping(b"")
    assert Pong() == Pong(b"")
    assert CloseReceived(1005) == CloseReceived(1005, "")
    ping: object = Ping(b"x")
    text: object = TextMessage("x")
    assert ping != Pong(b"x")
    assert text != BinaryMessage(b"x")


def test_reprs_read_well() -> None:
    assert repr(TextMessage("hi")) == "TextMessage(data='hi')"
    assert repr(CloseReceived(1000, "bye")) == "CloseReceived(code=1000, reason='bye')"
