"""The feed: small updates at a fixed rate, over every stack; long polling and Server-Sent Events over HTTP."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest

import labkit
from tests.conftest import wait_for


def updates_in(messages: list[dict[str, Any]]) -> list[int]:
    """The ``seq`` of each update, as decoded from JSON."""
    return [int(m["seq"]) for m in messages]


@pytest.mark.parametrize("stack", ["websocket", "scratch"])
def test_the_feed_pushes_every_update_in_order_over_websocket(stack: str) -> None:
    with labkit.serve("feed", over=stack, updates=20, rate=200) as server, labkit.ws_connect(server.url) as ws:
        got = [json.loads(ws.recv(timeout=3)) for _ in range(20)]
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0.2)  # 20 and no more
    assert updates_in(got) == list(range(1, 21))
    assert [m["t"] for m in got] == sorted(m["t"] for m in got)
    assert all(len(json.dumps(m)) <= 100 for m in got)


def test_the_feed_emits_update_events_over_socketio() -> None:
    with labkit.serve("feed", over="socketio", updates=10, rate=100) as server:
        client = labkit.sio_connect(server.url)
        try:
            got = [client.receive(timeout=3) for _ in range(10)]
        finally:
            client.disconnect()
    assert [name for name, _ in got] == ["update"] * 10 and updates_in([m for _, m in got]) == list(range(1, 11))


def test_polling_long_polling_and_server_sent_events_over_http() -> None:
    with labkit.serve("feed", over="http", updates=5, rate=20) as server:
        first = json.loads(urllib.request.urlopen(server.url + "/?after=0&wait=5", timeout=10).read())
        assert updates_in(first)[0] == 1  # the long poll was answered as soon as update 1 existed
        assert wait_for(lambda: len(json.loads(urllib.request.urlopen(server.url + "/?after=0").read())) == 5)
        with labkit.RawSocket(server.url) as raw:
            raw.send("GET / HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\nLast-Event-ID: 3\r\n\r\n")
            # bytes, not WireBytes: mypy takes "in" on a subclass of bytes for a search for one int.
            head: bytes = raw.recv_until(b"\r\n\r\n")
            assert b"Content-Type: text/event-stream" in head
            events = raw.recv_until(b'"id": 5}\n\n')
    # HTTP/1.1 frames the never-ending response in chunks (RFC 9112 §7.1): "4c" is a chunk's size.
    assert [line for line in events.split(b"\n") if line.startswith((b"id:", b"data:"))][::2] == [b"id: 4", b"id: 5"]


def test_a_long_poll_with_nothing_new_answers_empty_after_its_wait_and_bad_waits_get_400() -> None:
    with labkit.serve("chat", over="http") as server:
        assert json.loads(urllib.request.urlopen(server.url + "/?after=0&wait=0.2", timeout=10).read()) == []
        for wait in ("-1", "61", "x", "1e3", "²"):
            reply = labkit.raw_exchange(server.url, f"GET /?after=0&wait={wait} HTTP/1.1\r\nHost: x\r\n\r\n")
            assert reply.split(b"\r\n")[0].endswith(b" 400 Bad Request"), wait


def test_a_chat_message_reaches_a_server_sent_events_client_at_once() -> None:
    with labkit.serve("chat", over="http") as server, labkit.RawSocket(server.url) as stream:
        stream.send("GET / HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
        stream.recv_until(b"\r\n\r\n")
        request = urllib.request.Request(server.url, data=b"hola por SSE", method="POST")
        urllib.request.urlopen(request, timeout=5).read()
        event: bytes = stream.recv_until(b"}\n\n")
    assert b"\r\nid: 1\ndata: {" in event  # after the chunk size line
    assert json.loads(event.split(b"data: ")[1])["text"] == "hola por SSE"


@pytest.mark.parametrize(("options", "words"), [({"updates": 0}, "updates must be"), ({"rate": 0}, "rate must be")])
def test_feed_options_are_checked(options: dict[str, object], words: str) -> None:
    with pytest.raises(labkit.LabkitError, match=words):
        labkit.serve("feed", over="websocket", **options)  # type: ignore[arg-type]
