"""Delivery guarantees across a pulled cable: what at most once loses, what at least once and catch-up keep.

Each scenario is live (python-socketio clients through taps, a labkit socketio server) and
bounded: the cut lasts until both ends notice (about 2 s with 1 s heartbeats).
"""

from __future__ import annotations

import contextlib
import gc
import socket
import warnings
from collections.abc import Callable

import pytest
import socketio

import labkit
from labkit.delivery import (
    InOrder,
    acked_chat,
    chat_client,
    chat_through_outage,
    logged_chat,
    open_message_log,
)
from labkit.i18n import using
from tests.conftest import wait_for

BEFORE = ("before 1", "before 2")
DURING = ("during 1", "during 2", "during 3", "during 4")
AFTER = ("after 1", "after 2")


# The pieces -----------------------------------------------------------------------------------


def test_in_order_hands_each_offset_on_once_and_holds_what_comes_after_a_gap() -> None:
    order = InOrder()
    assert order.accept(1, "a") == [(1, "a")]
    assert order.accept(1, "a") == []  # a replay of what it has
    assert order.accept(3, "c") == [] and order.offset == 1  # 2 is missing: 3 waits
    assert order.accept(3, "c") == []
    assert order.accept(2, "b") == [(2, "b"), (3, "c")] and order.offset == 3
    assert order.waiting == {}


def test_logged_chat_stores_a_key_once_and_replays_from_the_offset_a_client_sends() -> None:
    with contextlib.closing(open_message_log()) as db, labkit.serve(logged_chat(db), over="socketio") as server:
        sender = labkit.sio_connect(server.url, auth={"serverOffset": 0})
        try:
            assert sender.call("chat message", ("hola", "k-1"), timeout=3) == "stored"
            assert sender.call("chat message", ("hola", "k-1"), timeout=3) == "duplicate"  # a retry
            assert sender.call("chat message", ("adiós", "k-2"), timeout=3) == "stored"
        finally:
            sender.disconnect()
        assert db.execute("SELECT id, client_offset, content FROM messages").fetchall() == [
            (1, "k-1", "hola"),
            (2, "k-2", "adiós"),
        ]
        late = labkit.sio_connect(server.url, auth={"serverOffset": 1})  # it saw message 1 already
        try:
            assert late.receive(timeout=3) == ["chat message", "adiós", 2]
            with pytest.raises(socketio.exceptions.TimeoutError):  # nothing else comes
                late.receive(timeout=0.3)
        finally:
            late.disconnect()


def test_acked_chat_passes_a_retried_message_on_once() -> None:
    with labkit.serve(acked_chat(), over="socketio") as server:
        listener = chat_client(server.url, name="listener")
        sender = labkit.sio_connect(server.url)
        try:
            assert sender.call("chat message", ("hola", "k-1"), timeout=3) == "sent"
            assert sender.call("chat message", ("hola", "k-1"), timeout=3) == "duplicate"
            assert sender.call("chat message", ("otra", "k-2"), timeout=3) == "sent"
            assert wait_for(lambda: len(listener.received) == 2)
            assert listener.texts() == ["hola", "otra"]
        finally:
            sender.disconnect()
            listener.stop()


def test_a_disconnected_client_refuses_to_send_at_most_once() -> None:
    with labkit.serve(acked_chat(), over="socketio") as server:
        client = chat_client(server.url, name="refused")
        try:
            server.stop()  # the server says goodbye: a Socket.IO client then stays disconnected
            assert wait_for(lambda: not client.connected)
            assert client.send("¿hay alguien?") is False and client.refused == 1  # no buffer in python-socketio
        finally:
            client.stop()


# Through a pulled cable ---------------------------------------------------------------------


def texts(outage: labkit.delivery.Outage) -> tuple[str, ...]:
    return tuple(content for _, content in outage.delivered)


def test_at_most_once_loses_what_was_sent_into_the_dead_connection_and_while_disconnected() -> None:
    result = chat_through_outage("at-most-once", "sender")
    assert result.sent == BEFORE + DURING + AFTER
    assert result.lost == DURING and texts(result) == BEFORE + AFTER
    # Half went into a connection that looked alive (written, never delivered); half were
    # refused once the client knew it was disconnected.
    assert result.refused == 2 and result.retries == 0
    assert result.duplicated == () and result.in_order
    assert not labkit.leftovers()


def test_at_most_once_loses_what_is_sent_while_the_receiver_is_away() -> None:
    result = chat_through_outage("at-most-once", "receiver")
    assert result.lost == DURING and texts(result) == BEFORE + AFTER and result.refused == 0


def test_at_least_once_retries_until_acknowledged_and_loses_nothing() -> None:
    result = chat_through_outage("at-least-once", "sender")
    assert texts(result) == result.sent == BEFORE + DURING + AFTER  # all, once each, in order
    assert result.lost == () and result.duplicated == () and result.in_order
    assert result.retries >= 1 and result.refused == 0
    events, acks = result.wire["sender→server"][1], result.wire["server→sender"][1]
    assert events >= len(result.sent) + 1  # the cost: every retry is one more event on the wire
    assert acks >= len(result.sent)  # and every message one acknowledgement at least


def test_at_least_once_with_lost_acknowledgements_drops_duplicates_by_key() -> None:
    result = chat_through_outage("at-least-once", "acks")
    assert result.duplicates_dropped >= 1  # the message arrived; its ack did not; the retry was dropped
    assert texts(result) == BEFORE + DURING + AFTER and result.duplicated == () and result.lost == ()


def test_at_least_once_alone_does_not_bring_back_what_a_receiver_missed() -> None:
    result = chat_through_outage("at-least-once", "receiver")
    assert result.lost == DURING and result.retries == 0


def test_catch_up_replays_every_missed_message_once_in_order() -> None:
    result = chat_through_outage("catch-up", "receiver")
    assert result.delivered == tuple(enumerate(BEFORE + DURING + AFTER, start=1))  # offsets 1…8, none twice
    assert result.lost == () and result.duplicated == () and result.in_order
    events = result.wire["server→receiver"][1]
    assert events > len(result.sent)  # the cost: what died in the cable went out again, from the log


def test_catch_up_with_lost_acknowledgements_still_delivers_each_message_once() -> None:
    result = chat_through_outage("catch-up", "acks")
    assert result.duplicates_dropped >= 1
    assert result.delivered == tuple(enumerate(BEFORE + DURING + AFTER, start=1))


def test_an_outage_reads_in_the_lesson_language() -> None:
    with using("es"):
        result = chat_through_outage("at-most-once", "sender", before=1, during=2, after=1)
        lines = repr(result).splitlines()
    assert result.sent == ("antes 1", "durante 1", "durante 2", "después 1")
    assert lines[0] == (
        "at-most-once, cortado el cable del emisor: 4 enviados, 2 recibidos, 2 perdidos, 0 duplicados, en orden"
    )
    assert lines[1] == "  perdidos: durante 1, durante 2"
    assert lines[2].startswith("  emisor: 0 reintentos, 1 rechazados sin conexión;")
    wire = [line.split(":")[0] for line in lines if line.startswith("  en el cable")]
    assert wire == ["  en el cable emisor→servidor", "  en el cable servidor→emisor", "  en el cable servidor→receptor"]
    assert repr(result).splitlines()[0].startswith("at-most-once, the sender's cable cut: 4 sent, 2 delivered")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"guarantee": "exactly-once"}, "guarantee must be one of 'at-most-once', 'at-least-once', 'catch-up'"),
        ({"outage": "server"}, "outage must be one of 'sender', 'acks', 'receiver'"),
        ({"during": -1}, "during must be a whole number from 0 to 20, not -1"),
    ],
)
def test_chat_through_outage_takes_clear_errors(arguments: dict[str, object], message: str) -> None:
    with pytest.raises(labkit.LabkitError, match=message):
        chat_through_outage(**arguments)  # type: ignore[arg-type]
    assert labkit.running() == []


def test_chat_client_takes_clear_errors() -> None:
    with socket.socket() as holder:  # bound, not listening: connections are refused
        holder.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{holder.getsockname()[1]}"
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ResourceWarning)
            with pytest.raises(labkit.LabkitError, match=f"could not connect to {url}"):
                chat_client(url, name="nowhere")
            gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []  # its HTTP session too
    with pytest.raises(labkit.LabkitError, match=r"ack_timeout must be a number of seconds, at least 0\.05"):
        chat_client(url, ack_timeout=0)
    with pytest.raises(labkit.LabkitError, match="catch_up must be True or False"):
        chat_client(url, catch_up="yes")  # type: ignore[arg-type]
    with labkit.serve(acked_chat(), over="socketio") as server:
        client = chat_client(server.url, name="gone")
        client.stop()
        calls: list[Callable[[], object]] = [lambda: client.send("x"), lambda: client.send_reliably("x")]
        for call in calls:
            with pytest.raises(labkit.LabkitError, match="the client 'gone' is stopped"):
                call()
    assert labkit.running() == []
