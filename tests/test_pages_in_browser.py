"""Pages labkit serves, in a real Chromium, used as students use them: typing, pressing Enter.

Two browsers are two people in the class chat, on each of the three stacks; every request a
page makes is recorded (DevTools' Network domain) to prove it loads nothing from another host;
and a student's handler that raises is recorded while the server keeps serving the page.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
import socketio
from websockets.sync.client import ClientConnection

import labkit
from labkit.browser import Browser, find_chromium
from labkit.i18n import using
from labkit.servers import Server
from tests.conftest import wait_for

STACKS = ["websocket", "scratch", "socketio"]
MESSAGES = "Array.from(document.querySelectorAll('#messages p')).map((p) => p.textContent)"
ONLINE = "Array.from(document.querySelectorAll('#online li')).map((li) => li.textContent)"
STATUS = "document.getElementById('status').textContent"


def two_browsers() -> Iterator[tuple[Browser, Browser]]:
    if find_chromium() is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the browser tests: python3 dev.py setup installs Chromium", pytrace=False)
        pytest.skip("no Chromium here (python3 dev.py setup installs it on Debian as root)")
    with Browser() as ana, Browser() as beto:
        yield ana, beto


@pytest.fixture(scope="module")
def people() -> Iterator[tuple[Browser, Browser]]:
    """Two people, each in their own browser (own profile, own connections)."""
    yield from two_browsers()


def page_url(server: Server) -> str:
    """Where a browser opens the page a server serves: the same port as its WebSocket."""
    return server.url.replace("ws://", "http://", 1) + "/"


def open_chat(browser: Browser, url: str, connected: str) -> None:
    browser.navigate(url)
    browser.wait_for(f"{STATUS} === {json.dumps(connected)}", what="the chat to connect")


def type_into(browser: Browser, field: str, text: str) -> None:
    """Click the field, type, press Enter: the form is submitted as a person submits it."""
    browser.click(f"input[name={field}]")
    browser.type(text)
    browser.press("Enter")


@pytest.mark.parametrize("stack", STACKS)
def test_two_chat_pages_talk_through_each_stack(people: tuple[Browser, Browser], stack: str) -> None:
    ana, beto = people
    with labkit.serve("chat", over=stack) as server:
        for person, nick in ((ana, "Ana"), (beto, "Beto")):
            open_chat(person, page_url(server), "connected")
            type_into(person, "nick", nick)
        for person in people:
            person.wait_for(f"{ONLINE}.join() === 'Ana,Beto'", what="both names online")
        type_into(ana, "text", "hola, ¿me lees?")
        beto.wait_for(f"{MESSAGES}.includes('Ana: hola, ¿me lees?')", what="Ana's message")
        type_into(beto, "text", "sí, <b>te leo</b>")
        ana.wait_for(f"{MESSAGES}.includes('Beto: sí, <b>te leo</b>')", what="Beto's message")
        assert ana.evaluate(MESSAGES) == ["you: hola, ¿me lees?", "Beto: sí, <b>te leo</b>"]
        assert beto.evaluate(MESSAGES) == ["Ana: hola, ¿me lees?", "you: sí, <b>te leo</b>"]
        assert ana.evaluate("document.querySelectorAll('#messages b').length") == 2  # names only: text stays text
        assert ana.evaluate("document.querySelector('input[name=text]').value") == ""
    texts = [e.data for e in server.record.entries("recv")]
    if stack == "socketio":
        texts = [e.data.args[0] for e in server.record.entries("recv") if e.data.name == "chat"]
    else:
        texts = [t for t in texts if not t.startswith('{"nick"')]
    assert texts == ["hola, ¿me lees?", "sí, <b>te leo</b>"]


def test_the_spanish_chat_page_is_spanish(people: tuple[Browser, Browser]) -> None:
    ana, beto = people
    with using("es"), labkit.serve("chat", over="socketio") as server:
        open_chat(ana, page_url(server), "conectado")
        open_chat(beto, page_url(server), "conectado")
        type_into(ana, "text", "hola")
        beto.wait_for(f"{MESSAGES}.length === 1", what="the message")
        shown = ana.evaluate("""({
          lang: document.documentElement.lang,
          title: document.title,
          text: document.body.innerText,
          placeholder: document.querySelector('input[name=text]').placeholder,
          buttons: Array.from(document.querySelectorAll('button')).map((b) => b.textContent),
        })""")
        assert beto.evaluate(MESSAGES) == ["conexión 1: hola"]
    assert shown["lang"] == "es" and shown["title"] == "Chat de la clase"
    assert shown["placeholder"] == "Escribe un mensaje" and shown["buttons"] == ["Usar", "Enviar"]
    lines = [line for line in shown["text"].split("\n") if line]
    assert lines == ["Chat de la clase", "conectado", "tú: hola", "En línea", "Tu apodo:", "Usar", "Enviar"]
    english = ("Class chat", "connected", "you:", "Online", "Your nickname", "Send", "Write a message")
    assert not [word for word in english if word in shown["text"]]


@pytest.mark.parametrize("stack", STACKS)
def test_a_page_loads_nothing_from_another_host(people: tuple[Browser, Browser], stack: str) -> None:
    browser, _ = people
    requests = browser.keep_events("Network.")
    browser.call("Network.enable")
    try:
        with labkit.serve("chat", over=stack) as server:
            requests.clear()
            open_chat(browser, page_url(server), "connected")
            browser.evaluate("1")  # one more round trip: every event sent so far has been read
            urls = [
                e["params"]["request"]["url"] if e["method"] == "Network.requestWillBeSent" else e["params"]["url"]
                for e in requests
                if e["method"] in ("Network.requestWillBeSent", "Network.webSocketCreated")
            ]
    finally:
        browser.call("Network.disable")
    origin = f"127.0.0.1:{server.port}/"
    assert urls and all(url.split("://", 1)[1].startswith(origin) for url in urls), urls
    paths = {url.split(origin, 1)[1].split("?", 1)[0] for url in urls}
    expected = (
        {"", "labkit/chat.js", "labkit/socket.io.min.js", "socket.io/"}
        if stack == "socketio"
        else {
            "",
            "labkit/chat.js",
        }
    )
    assert expected <= paths
    assert any(url.startswith("ws://") for url in urls)  # the WebSocket, to the page's own host too


DIVIDE_PAGE = """<!doctype html><meta charset="utf-8"><title>dividir</title>
<script>
  // What a student's page does: open a WebSocket to the host that served it, ask, show the answer.
  function ask(text) {
    return new Promise((resolve) => {
      const ws = new WebSocket(location.href.replace(/^http/, "ws"));
      ws.onopen = () => ws.send(text);
      ws.onmessage = (event) => { resolve(["answer", event.data]); ws.close(); };
      ws.onclose = (event) => resolve(["closed", event.code]);
    });
  }
</script>"""


async def divide(websocket: Any) -> None:
    """A student's handler with a bug: "0" raises ZeroDivisionError."""
    async for message in websocket:
        await websocket.send(str(10 / int(message)))


@pytest.mark.parametrize("stack", ["websocket", "scratch"])
def test_a_handler_that_raises_is_recorded_and_the_page_keeps_being_served(
    people: tuple[Browser, Browser], stack: str
) -> None:
    browser, _ = people
    with labkit.serve(divide, over=stack, page=DIVIDE_PAGE) as server:
        browser.navigate(page_url(server))
        assert browser.evaluate("ask('0')") == ["closed", 1011]  # §7.4.1: 1011, the server hit an error
        assert wait_for(lambda: len(server.record.errors()) == 1)
        assert browser.evaluate("ask('4')") == ["answer", "2.5"]
        browser.navigate(page_url(server))  # the page itself is still served
        assert browser.evaluate("ask('5')") == ["answer", "2.0"]
    errors = repr(server.record.errors())
    assert "ZeroDivisionError('division by zero')" in errors and "10 / int(message)" in errors


SOCKETIO_PAGE = """<!doctype html><meta charset="utf-8"><title>dividir</title>
<script src="labkit/socket.io.min.js"></script>
<script>
  const socket = io();
  function ask(text) {
    return new Promise((resolve) => {
      socket.timeout(1000).emit("divide", text, (error, answer) => resolve(error ? ["no answer"] : ["answer", answer]));
    });
  }
</script>"""


def test_a_socketio_handler_that_raises_is_recorded_and_the_page_keeps_being_served(
    people: tuple[Browser, Browser],
) -> None:
    browser, _ = people
    sio = socketio.AsyncServer(async_mode="aiohttp")

    @sio.on("divide")  # type: ignore[untyped-decorator]
    async def on_divide(sid: str, text: str) -> str:
        return str(10 / int(text))

    with labkit.serve(sio, over="socketio", page=SOCKETIO_PAGE) as server:
        browser.navigate(page_url(server))
        browser.wait_for("socket.connected", what="Socket.IO to connect")
        assert browser.evaluate("ask('0')") == ["no answer"]  # the handler failed: no acknowledgement
        assert browser.evaluate("ask('4')") == ["answer", "2.5"]
        assert browser.evaluate("socket.connected") is True  # the same session goes on
    errors = repr(server.record.errors())
    assert "ZeroDivisionError('division by zero')" in errors and "10 / int(text)" in errors


@pytest.fixture(scope="module")
def lab(people: tuple[Browser, Browser], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """JupyterLab with jupyter-server-proxy, as on JupyterHub or Binder, logged in in the first browser."""
    pytest.importorskip("jupyter_server_proxy", reason="jupyter-server-proxy is not installed")
    from tests.jupyterlab import TOKEN, JupyterLab

    browser, _ = people
    with JupyterLab(tmp_path_factory.mktemp("lab"), browser) as jupyterlab:
        browser.navigate(f"{jupyterlab.url}api/status?token={TOKEN}")
        yield jupyterlab


@pytest.mark.parametrize("stack", STACKS)
def test_the_chat_page_works_behind_jupyter_server_proxy(lab: Any, people: tuple[Browser, Browser], stack: str) -> None:
    from tests.jupyterlab import TOKEN

    browser, _ = people
    with labkit.serve("chat", over=stack) as server:
        proxied = f"{lab.url}proxy/{server.port}/"
        open_chat(browser, f"{proxied}?token={TOKEN}", "connected")  # its WebSocket goes through the proxy too
        listener = labkit.sio_connect(server.url) if stack == "socketio" else labkit.ws_connect(server.url)
        try:
            type_into(browser, "text", "por el proxy")
            if isinstance(listener, ClientConnection):  # stack is "websocket" or "scratch"
                heard = json.loads(listener.recv(timeout=5))
            else:
                heard = listener.receive(timeout=5)
        finally:
            if isinstance(listener, ClientConnection):
                listener.close()
            else:
                listener.disconnect()
    assert browser.evaluate("location.href").startswith(proxied)
    assert (heard[1] if stack == "socketio" else heard)["text"] == "por el proxy"
