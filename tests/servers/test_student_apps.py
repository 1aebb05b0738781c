"""A student's own programs, run by labkit: websockets handlers, a socketio.AsyncServer, pages."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import socketio
from websockets.exceptions import ConnectionClosed

import labkit
from tests.conftest import wait_for

WS_STACKS = ["websocket", "scratch"]


async def shout(websocket: Any) -> None:
    """What a student writes in lesson 07: the same handler runs on both WebSocket stacks."""
    await websocket.send(f"hola, {websocket.remote_address[0]} en {websocket.request.path}")
    async for message in websocket:
        if message == "adiós":
            await websocket.close(4000, "hasta luego")
            return
        await websocket.send(message.upper() if isinstance(message, str) else message)


@pytest.mark.parametrize("stack", WS_STACKS)
def test_a_websockets_handler_runs_on_both_stacks_and_is_recorded(stack: str) -> None:
    with labkit.serve(shout, over=stack) as server:
        assert server.name == f"shout-{stack}" and server.app == "shout"
        with labkit.ws_connect(server.url + "/sala?token=abc") as ws:
            assert ws.recv(timeout=3) == "hola, 127.0.0.1 en /sala?token=abc"
            ws.send("eco")
            assert ws.recv(timeout=3) == "ECO"
            ws.send("adiós")
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=3)
            assert wait_for(lambda: server.record.entries("close"))
        assert ws.close_code == 4000 and ws.close_reason == "hasta luego"
    kinds = [(e.kind, e.direction) for e in server.record]
    assert kinds == [
        ("open", ""),
        ("request", ""),
        ("response", ""),
        ("send", "S→C"),
        ("recv", "C→S"),
        ("send", "S→C"),
        ("recv", "C→S"),
        ("close", ""),
    ]
    assert server.record.entries("close")[0].detail == (
        "received 4000 (private use) 'hasta luego'; sent 4000 (private use) 'hasta luego'"
    )


@pytest.mark.parametrize("stack", WS_STACKS)
def test_a_failing_handler_is_recorded_readably_and_the_server_keeps_serving(stack: str) -> None:
    async def fragile(websocket: Any) -> None:
        async for message in websocket:
            await websocket.send(str(10 / int(message)))

    with labkit.serve(fragile, over=stack) as server:
        with labkit.ws_connect(server.url) as ws:
            ws.send("0")
            with pytest.raises(Exception, match="1011"):
                ws.recv(timeout=3)
        with labkit.ws_connect(server.url) as ws:
            ws.send("4")
            assert ws.recv(timeout=3) == "2.5"
    errors = server.record.errors()
    assert len(errors) == 1
    text = repr(errors)
    assert "the handler failed: ZeroDivisionError('division by zero')" in text
    assert "in fragile" in text and "10 / int(message)" in text  # the student's own line, in the traceback


@pytest.mark.parametrize("stack", WS_STACKS)
def test_rerunning_the_cell_replaces_the_students_server(stack: str) -> None:
    first = labkit.serve(shout, over=stack)
    second = labkit.serve(shout, over=stack)
    assert not first.running and second.running and labkit.running() == [second]
    labkit.stop_all()


def make_chat_server() -> socketio.AsyncServer:
    """What a student writes in lesson 08: rooms, broadcast to others, acknowledgements."""
    sio = socketio.AsyncServer(async_mode="aiohttp")

    @sio.event  # type: ignore[untyped-decorator]
    async def connect(sid: str, environ: dict[str, Any], auth: Any) -> None:
        await sio.emit("welcome", "hola", to=sid)

    @sio.on("join")  # type: ignore[untyped-decorator]
    async def join(sid: str, room: str) -> str:
        await sio.enter_room(sid, room)
        return f"en {room}"

    @sio.on("chat")  # type: ignore[untyped-decorator]
    async def chat(sid: str, data: dict[str, str]) -> None:
        await sio.emit("chat", data["text"], to=data["room"], skip_sid=sid)

    @sio.on("broken")  # type: ignore[untyped-decorator]
    async def broken(sid: str, data: Any) -> None:
        raise KeyError("nope")

    return sio


def test_a_students_socketio_server_runs_recorded_and_survives_a_failing_handler() -> None:
    sio = make_chat_server()
    with labkit.serve(sio, over="socketio") as server:
        assert server.name == "socketio.AsyncServer-socketio"
        ana, beto = labkit.sio_connect(server.url), labkit.sio_connect(server.url)
        try:
            assert ana.receive(timeout=3) == ["welcome", "hola"]
            assert beto.receive(timeout=3) == ["welcome", "hola"]
            assert ana.call("join", "python", timeout=3) == "en python"
            assert beto.call("join", "python", timeout=3) == "en python"
            ana.emit("broken", 1)
            ana.emit("chat", {"room": "python", "text": "¿hay alguien?"})
            assert beto.receive(timeout=3) == ["chat", "¿hay alguien?"]
        finally:
            ana.disconnect()
            beto.disconnect()
    details = [e.detail for e in server.record.entries("send")]
    assert "welcome: 'hola' → session 1" in details[0] or details[0].startswith("welcome: 'hola'")
    assert "chat: '¿hay alguien?' → room 'python' but session 1" in details
    assert "ack: 'en python'" in details
    errors = repr(server.record.errors())
    assert "the 'broken' handler failed: KeyError('nope')" in errors and 'raise KeyError("nope")' in errors


def test_the_same_asyncserver_served_again_is_recorded_once() -> None:
    sio = make_chat_server()
    labkit.serve(sio, over="socketio").stop()
    with labkit.serve(sio, over="socketio") as server:
        client = labkit.sio_connect(server.url)
        try:
            assert client.call("join", "x", timeout=3) == "en x"
        finally:
            client.disconnect()
    assert [e.detail for e in server.record.entries("recv")] == ["join: 'x'"]
    assert "_trigger_event" not in vars(sio)  # labkit's hooks are gone once it stops


@pytest.mark.parametrize(
    ("app", "over", "words"),
    [
        (42, "websocket", "a websockets connection handler (async def handler(websocket)), not int"),
        (shout, "socketio", "a socketio.AsyncServer, not function"),
        (socketio.AsyncServer(async_mode="aiohttp"), "scratch", "a websockets-style connection handler"),
        (lambda ws: None, "websocket", "not function"),  # not async: it could never await a message
    ],
)
def test_what_cannot_be_served_gets_one_clear_error(app: Any, over: str, words: str) -> None:
    with pytest.raises(labkit.LabkitError, match="app must be the name of a labkit app") as caught:
        labkit.serve(app, over=over)
    assert words in str(caught.value)
    assert labkit.running() == []


def get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read()


PAGE_STACKS = ["websocket", "scratch", "socketio", "http"]


def http_url(server: labkit.Server) -> str:
    return server.url.replace("ws://", "http://")


@pytest.mark.parametrize("stack", PAGE_STACKS)
def test_a_page_is_served_next_to_the_endpoint_on_the_same_port(stack: str, tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<h1>mi página</h1>", encoding="utf-8")
    (tmp_path / "app.js").write_text("console.log(1)", encoding="utf-8")
    (tmp_path.parent / "secret.txt").write_text("no", encoding="utf-8")
    with labkit.serve("echo", over=stack, page=tmp_path) as server:
        url = http_url(server)
        assert get(url + "/") == (200, "text/html; charset=utf-8", "<h1>mi página</h1>".encode())
        status, content_type, body = get(url + "/app.js")
        assert status == 200 and content_type.startswith(("text/javascript", "application/javascript"))
        status, _, body = get(url + "/..%2Fsecret.txt")
        assert body != b"no" and (status == 404 or stack == "http")  # over http, other paths are the app's
        assert get(url + "/labkit/chat.js")[0] == 200
        if stack != "http":
            with labkit.ws_connect(
                server.url.replace("http://", "ws://")
                + ("/socket.io/?EIO=4&transport=websocket" if stack == "socketio" else "")
            ) as ws:
                assert ws.recv(timeout=3) if stack == "socketio" else True
    with labkit.serve("echo", over=stack, page="<p>en línea</p>") as server:
        assert get(http_url(server) + "/")[2] == "<p>en línea</p>".encode()


def fields(url: str) -> tuple[int, list[tuple[str, str]]]:
    """The status and every header field of a GET, repeated names included, in order."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
    try:
        connection.request("GET", parts.path or "/")
        response = connection.getresponse()
        response.read()
        return response.status, response.getheaders()
    finally:
        connection.close()


LOGIN = [("Set-Cookie", "sesion=abc; Path=/; HttpOnly"), ("Set-Cookie", "idioma=es"), ("Cache-Control", "no-store")]


@pytest.mark.parametrize("stack", PAGE_STACKS)
def test_page_headers_go_with_the_pages_own_answers_only(stack: str, tmp_path: Path) -> None:
    """A page that sets its session cookie as an app does at login (lesson 10), on every stack."""
    (tmp_path / "index.html").write_text("<h1>hola</h1>", encoding="utf-8")
    (tmp_path / "app.js").write_text("1", encoding="utf-8")
    with labkit.serve("echo", over=stack, page=tmp_path, page_headers=LOGIN) as server:
        url = http_url(server)
        for path in ("/", "/app.js"):
            status, got = fields(url + path)
            assert status == 200 and [f for f in got if f[0] in ("Set-Cookie", "Cache-Control")] == LOGIN, got
        for path in ("/labkit/chat.js", "/no-such-file.js"):
            status, got = fields(url + path)
            assert status == (200 if "labkit" in path else 404) or stack == "http", (path, status)
            assert not [f for f in got if f[0] in ("Set-Cookie", "Cache-Control")], (path, got)
        if stack != "socketio":  # its record holds Socket.IO sessions, not page requests
            assert wait_for(lambda: len(server.record.entries("response")) >= 4)
            answers = [entry.data for entry in server.record.entries("response")]
            assert [("Set-Cookie", "idioma=es") in list(head.headers) for head in answers] == [True, True, False, False]
    with labkit.serve("echo", over=stack, page="<p>x</p>", page_headers={"Set-Cookie": "a=1"}) as server:
        assert ("Set-Cookie", "a=1") in fields(http_url(server) + "/")[1]


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"Set-Cookie": "a=1\r\nX-Evil: 1"}, "is not a valid header field"),
        ({"Set Cookie": "a=1"}, "is not a valid header field"),
        ({"Set-Cookie": "ñ=1"}, "is not a valid header field"),
        ({"Content-Length": "0"}, "labkit writes Content-Length itself"),
        ({"content-type": "text/plain"}, "labkit writes content-type itself"),
        ("Set-Cookie: a=1", "must be a dict of strings"),
        ([("Set-Cookie",)], "must be a dict of strings"),
        ({"Set-Cookie": 1}, "must be a dict of strings"),
    ],
)
def test_bad_page_headers_are_one_clear_error(headers: object, message: str) -> None:
    with pytest.raises(labkit.LabkitError, match=message):
        labkit.serve("echo", over="websocket", page="<p>x</p>", page_headers=headers)


def test_page_headers_without_a_page_are_one_clear_error() -> None:
    with pytest.raises(labkit.LabkitError, match="they go with page="):
        labkit.serve("echo", over="websocket", page_headers={"Set-Cookie": "a=1"})


@pytest.mark.parametrize("bad", ["no-such-file.html", 42])
def test_a_page_that_is_neither_html_nor_a_path_is_one_clear_error(bad: object) -> None:
    with pytest.raises(labkit.LabkitError, match="page must be HTML text or"):
        labkit.serve("echo", over="websocket", page=bad)


@pytest.mark.parametrize("stack", ["websocket", "scratch", "socketio"])
def test_the_class_chat_answers_get_with_its_page(stack: str) -> None:
    with labkit.serve("chat", over=stack) as server:
        status, content_type, body = get(http_url(server) + "/")
    page = body.decode()
    assert status == 200 and content_type == "text/html; charset=utf-8"
    assert '<form id="send"><input name="text"' in page
    assert 'src="labkit/chat.js"' in page and "http" not in page.replace("http-equiv", "")  # nothing from other hosts
    assert ('src="labkit/socket.io.min.js"' in page) == (stack == "socketio")
    with labkit.i18n.using("es"), labkit.serve("chat", over=stack) as server:
        assert '<html lang="es">' in get(http_url(server) + "/")[2].decode()


def test_chat_nicknames_and_presence_over_websocket() -> None:
    with labkit.serve("chat", over="websocket") as server:
        with labkit.ws_connect(server.url) as ana, labkit.ws_connect(server.url) as plain:
            ana.send(json.dumps({"nick": "Ana"}))
            assert json.loads(ana.recv(timeout=3)) == {"online": [{"id": 1, "nick": "Ana"}]}
            plain.send("hola")
            assert json.loads(ana.recv(timeout=3)) == {"from": 2, "text": "hola"}
            ana.send("¿quién eres?")
            assert json.loads(plain.recv(timeout=3)) == {"from": 1, "text": "¿quién eres?", "nick": "Ana"}
            with pytest.raises(TimeoutError):
                plain.recv(timeout=0.2)  # presence only for those who asked for it


def test_a_connect_handler_with_auth_accepts_a_client_that_sends_none() -> None:
    """python-socketio 5.14 first calls connect(sid, environ) when no auth came: a TypeError there is not a failure."""
    sio = socketio.AsyncServer(async_mode="aiohttp")
    seen: list[Any] = []

    @sio.event  # type: ignore[untyped-decorator]
    async def connect(sid: str, environ: dict[str, Any], auth: Any) -> None:
        seen.append(auth)

    with labkit.serve(sio, over="socketio") as server:
        client = labkit.sio_connect(server.url)
        client.disconnect()
    assert seen == [None] and server.record.count("open") == 1 and server.record.count("error") == 0


def test_a_connect_handler_that_fails_with_a_type_error_is_recorded_with_its_own_error() -> None:
    sio = socketio.AsyncServer(async_mode="aiohttp")

    @sio.event  # type: ignore[untyped-decorator]
    async def connect(sid: str, environ: dict[str, Any], auth: Any) -> None:
        len(5)  # type: ignore[arg-type]  # the student's own TypeError, not a signature mismatch

    with labkit.serve(sio, over="socketio") as server:
        with pytest.raises(socketio.exceptions.ConnectionError):  # refused, as a handler returning False
            labkit.sio_connect(server.url)
    [error] = server.record.errors().entries
    assert "TypeError(\"object of type 'int' has no len()\")" in error.detail


def test_a_connect_handler_without_auth_accepts_clients_and_is_recorded_once() -> None:
    """python-socketio calls connect(sid, environ, auth), then connect(sid, environ) on a TypeError."""
    sio = socketio.AsyncServer(async_mode="aiohttp")
    seen: list[str] = []

    @sio.event  # type: ignore[untyped-decorator]
    async def connect(sid: str, environ: dict[str, Any]) -> None:
        seen.append(sid)

    with labkit.serve(sio, over="socketio") as server:
        client = labkit.sio_connect(server.url)
        client.disconnect()
    assert len(seen) == 1 and server.record.count("open") == 1 and server.record.count("error") == 0


def test_a_students_server_logs_into_the_record_not_into_the_next_cell(capfd: pytest.CaptureFixture[str]) -> None:
    """python-socketio logs to stderr (its Redis manager, "Cannot receive from redis"); a kernel shows it anywhere."""
    sio = socketio.AsyncServer(async_mode="aiohttp")
    own = sio.logger
    with labkit.serve(sio, over="socketio") as server:
        sio.logger.error("Cannot receive from redis... retrying in 1 secs")
        sio.eio.logger.warning("an Engine.IO warning")
    assert capfd.readouterr().err == ""
    details = [entry.detail for entry in server.record.entries("error")]
    assert any("Cannot receive from redis" in d for d in details) and any("Engine.IO warning" in d for d in details)
    assert sio.logger is own  # given back when the server stops
