"""The browser inside the notebook: run_js and show_page, their JavaScript run in a real Chromium.

The widgets' modules run in a plain page with a stand-in for anywidget's ``model`` (get, set,
on, off, save_changes, send): the page starts from the state the Python widget would sync
(``get_state()``), and what the page sends reaches the widget through its comm's
``handle_msg``, the way the kernel hands it the frontend's messages. So both halves are checked
against each other.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import labkit
from labkit.browser import Browser, find_chromium
from labkit.errors import LabkitError
from labkit.i18n import using
from labkit.notebooks import kernelspec
from labkit.record import Clipped
from labkit.widgets import WIDGETS, BrowserEvent, PageWidget, RunJS, proxy_installed
from tests.conftest import wait_for
from tests.third_party import new_code_cell, new_notebook, write_notebook

WS_STACKS = ["websocket", "scratch"]

HARNESS = '<!doctype html><meta charset="utf-8"><title>cell</title><div id="cell"></div>'

#: anywidget's model, as little of it as the widgets use; `sent` is what went to the "kernel".
STAND_IN = """(async (state) => {
  const values = JSON.parse(JSON.stringify(state));
  const listeners = {};
  window.sent = [];
  window.saves = 0;
  const model = {
    get: (key) => values[key],
    set: (key, value) => {
      const changed = JSON.stringify(values[key]) !== JSON.stringify(value);
      values[key] = value;
      if (changed) for (const callback of listeners["change:" + key] || []) callback();
    },
    on: (name, callback) => { (listeners[name] = listeners[name] || []).push(callback); },
    off: (name, callback) => { listeners[name] = (listeners[name] || []).filter((f) => f !== callback); },
    save_changes: () => { window.saves += 1; },
    send: (content) => { window.sent.push(JSON.parse(JSON.stringify(content))); },
  };
  window.model = model;
  const source = URL.createObjectURL(new Blob([state._esm], {type: "text/javascript"}));
  const widget = (await import(source)).default;
  const el = document.getElementById("cell");
  el.replaceChildren();
  if (widget.initialize) window.cleanup = widget.initialize({model});
  widget.render({model, el});
  return true;
})(%s)"""

#: True once the page has sent the kernel an event of a kind.
SENT = "window.sent.some((m) => m.events.some((e) => e.kind === %s))"
#: What the page sent that the test has not delivered yet.
NOT_DELIVERED = """(() => {
  const from = window.delivered || 0;
  window.delivered = window.sent.length;
  return window.sent.slice(from);
})()"""

SHOWN_LINES = "Array.from(document.querySelectorAll('#cell .labkit-line')).map((line) => line.textContent)"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if find_chromium() is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the browser tests: python3 dev.py setup installs Chromium", pytrace=False)
        pytest.skip("no Chromium here (python3 dev.py setup installs it on Debian as root)")
    with Browser() as chromium:
        yield chromium


def in_page(browser: Browser, page_url: str, widget: Any) -> None:
    """Render ``widget`` in a plain page at ``page_url``, from the state Python would sync."""
    browser.navigate(page_url)
    state = widget.get_state()
    browser.evaluate(STAND_IN % json.dumps({key: value for key, value in state.items() if key != "layout"}))


def deliver(widget: RunJS, content: dict[str, Any]) -> None:
    """A custom message from the page, handed to the widget as the kernel hands it one."""
    widget.comm.handle_msg({"content": {"data": {"method": "custom", "content": content}}, "buffers": []})


def receive(browser: Browser, widget: RunJS, until: str = "done") -> None:
    """Wait until the page has sent an event of kind ``until``, then deliver what it sent since last time."""
    browser.wait_for(SENT % json.dumps(until), timeout=10, what=f"a {until} event")
    for content in browser.evaluate(NOT_DELIVERED):
        deliver(widget, content)


def run_in_page(browser: Browser, page_url: str, widget: RunJS) -> None:
    """Run ``widget``'s code in the page until it is done, and hand Python what the page sent."""
    in_page(browser, page_url, widget)
    receive(browser, widget)


async def welcome_and_echo(websocket: Any) -> None:
    """A student's handler: a welcome, then text back in capitals and bytes back reversed."""
    await websocket.send("bienvenida")
    async for message in websocket:
        await websocket.send(message.upper() if isinstance(message, str) else bytes(reversed(message)))


LIFE = """const ws = new WebSocket(url);
ws.binaryType = "arraybuffer";
log("readyState when created:", ws.readyState);
ws.onopen = () => {
  ws.send("hola ñandú");
  ws.send(new Uint8Array([0, 1, 2, 255]));
  log("bufferedAmount:", ws.bufferedAmount);
};
let count = 0;
ws.onmessage = () => {
  count += 1;
  if (count === 3) ws.close(4000, "bye");
};
ws.onclose = () => {
  log("readyState when closed:", ws.readyState);
  ws.send("too late");  // sends nothing: it only grows bufferedAmount
};"""


@pytest.mark.parametrize("stack", WS_STACKS)
def test_run_js_watches_a_websockets_whole_life_and_python_reads_it(browser: Browser, stack: str) -> None:
    with labkit.serve(welcome_and_echo, over=stack, page=HARNESS) as server:
        widget = labkit.run_js(LIFE, server)
        run_in_page(browser, server.url.replace("ws://", "http://"), widget)
        shown = browser.evaluate(SHOWN_LINES)
        status = browser.evaluate("document.querySelector('#cell .labkit-status').textContent")
        assert wait_for(lambda: server.record.entries("close"))
    url = server.url
    lines = [
        f'code started; url = "{url}"',
        f'#1 new WebSocket("{url}/")',
        "readyState when created: 0",
        "#1 open (readyState 1)",
        '#1 → text "hola ñandú" (10 characters)',
        "#1 → binary, 4 bytes: 00 01 02 ff",
        "bufferedAmount: 16",  # 12 bytes of UTF-8 and 4 bytes, queued and not yet sent in this task
        '#1 ← text "bienvenida" (10 characters)',
        '#1 ← text "HOLA ÑANDÚ" (10 characters)',
        "#1 ← binary (ArrayBuffer), 4 bytes: ff 02 01 00",
        '#1 close(4000, "bye"): readyState 2',
        "#1 closed: 4000 (private use) 'bye', clean (wasClean)",
        "readyState when closed: 3",
        '#1 → text "too late" (8 characters)',
        "finished: the code returned and all its WebSockets are closed",
    ]
    assert [event.line for event in widget.log] == lines
    assert shown == lines  # the cell shows what Python reads
    assert status == "Browser: finished · 3 received · 2 sent"
    assert widget.received == ["bienvenida", "HOLA ÑANDÚ", b"\xff\x02\x01\x00"]
    assert widget.done and widget.errors == []
    close = next(event for event in widget.log if event.kind == "close")
    assert (close.socket, close.code, close.reason, close.was_clean) == (1, 4000, "bye", True)
    sends = ["hola ñandú", b"\x00\x01\x02\xff", "too late"]  # every call is logged, but the last sent nothing:
    assert [e.data for e in widget.log if e.kind.startswith("send")] == sends
    # The server saw the same conversation.
    assert [e.data for e in server.record.entries("recv")] == ["hola ñandú", b"\x00\x01\x02\xff"]
    assert [e.data for e in server.record.entries("send")] == ["bienvenida", "HOLA ÑANDÚ", b"\xff\x02\x01\x00"]
    assert server.record.entries("close")[0].detail == (
        "received 4000 (private use) 'bye'; sent 4000 (private use) 'bye'"
    )


BLOB_AND_MISTAKES = """const ws = new WebSocket(url);
ws.onmessage = (event) => {
  if (typeof event.data === "string") return ws.send(new Uint8Array([1, 2, 3]));
  log("a Blob?", event.data instanceof Blob);
  ws.close();
  notDefinedAnywhere();
};"""


def test_run_js_honours_binary_type_blob_and_reports_errors_in_handlers_in_spanish(browser: Browser) -> None:
    with using("es"):
        with labkit.serve(welcome_and_echo, over="websocket", page=HARNESS) as server:
            widget = labkit.run_js(BLOB_AND_MISTAKES, server)
            run_in_page(browser, server.url.replace("ws://", "http://"), widget)
        lines = [event.line for event in widget.log]
        assert lines[3:] == [
            '#1 ← texto "bienvenida" (10 caracteres)',
            "#1 → binario, 3 bytes: 01 02 03",
            "#1 ← binario (Blob), 3 bytes: 03 02 01",
            "a Blob? true",
            "#1 close(): readyState 2",
            "error en tu código: ReferenceError: notDefinedAnywhere is not defined (línea 6)",
            "#1 cerrado: 1005 (sin código), limpio (wasClean)",
            "terminado: el código acabó y todos sus WebSocket están cerrados",
        ]
        assert widget.received == ["bienvenida", b"\x03\x02\x01"]
        assert widget.errors == ["error en tu código: ReferenceError: notDefinedAnywhere is not defined (línea 6)"]
        assert repr(widget) == "<run_js: terminado, 2 recibidos>"


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("const = 1;", "error in your code: SyntaxError: Unexpected token '='"),
        ('log("before");\nthrow new TypeError("boom");', "error in your code: TypeError: boom (line 2)"),
        ("await Promise.reject(new RangeError('late'));", "error in your code: RangeError: late (line 1)"),
        ("setTimeout(() => {\n  null.x;\n}, 0);", "error in your code: TypeError: Cannot read properties of null"),
    ],
)
def test_run_js_shows_errors_in_the_code_with_their_message(browser: Browser, code: str, error: str) -> None:
    with labkit.serve(welcome_and_echo, over="websocket", page=HARNESS) as server:
        widget = labkit.run_js(code, server)
        run_in_page(browser, server.url.replace("ws://", "http://"), widget)
        if "setTimeout" in code:  # the timer fires after the code returned: wait for its report
            receive(browser, widget, until="exception")
    assert len(widget.errors) == 1 and widget.errors[0].startswith(error)
    assert widget.done


def test_the_pages_own_errors_are_not_blamed_on_the_code(browser: Browser) -> None:
    code = "log(1n, {a: [1]}, undefined);\nawait new Promise((resolve) => setTimeout(resolve, 300));"
    with labkit.serve("echo", over="websocket", page=HARNESS) as server:
        widget = labkit.run_js(code)
        in_page(browser, server.url.replace("ws://", "http://"), widget)
        browser.evaluate("setTimeout(() => { throw new Error('the page, not the student'); }, 0); 1")
        receive(browser, widget)
    assert widget.errors == [] and [e.data for e in widget.log if e.kind == "log"] == ['1 {"a":[1]} undefined']


def test_the_code_runs_once_and_closing_the_widget_closes_its_websockets(browser: Browser) -> None:
    with labkit.serve("echo", over="scratch", page=HARNESS) as server:
        page = server.url.replace("ws://", "http://")
        widget = labkit.run_js("const ws = new WebSocket(url);\nws.onopen = () => log('open');", server)
        in_page(browser, page, widget)
        receive(browser, widget, until="open")
        browser.evaluate("window.cleanup()")  # what anywidget calls when the widget is closed
        assert wait_for(lambda: server.record.entries("close"), timeout=5)
        assert server.record.entries("close")[0].detail == "received 1000 (normal closure); sent 1000 (normal closure)"
        # The page reloaded, the widget restored from the kernel: it started, so nothing runs again,
        # and the log drawn is the one the kernel kept.
        assert widget.started
        in_page(browser, page, widget)
        browser.evaluate("new Promise((resolve) => setTimeout(resolve, 200))")
        assert browser.evaluate("[window.saves, window.sent.length]") == [0, 0]
        assert browser.evaluate(SHOWN_LINES) == [event.line for event in widget.log]
        assert browser.evaluate(SHOWN_LINES)[-1] == "open"
        upgrades = [e for e in server.record.entries("response") if e.detail.startswith("101")]
        assert len(upgrades) == 1  # one WebSocket in all: the reloaded page opened none


def test_run_js_without_a_url_and_the_log_is_bounded(browser: Browser) -> None:
    code = "log(url); for (let i = 0; i < 600; i++) log(i);"
    with labkit.serve("echo", over="websocket", page=HARNESS) as server:
        widget = labkit.run_js(code)
        run_in_page(browser, server.url.replace("ws://", "http://"), widget)
    lines = [event.line for event in widget.log]
    assert len(lines) == 500 and widget.totals["dropped"] == 103  # start, null, 600 numbers, done
    assert lines[0] == "101" and lines[-2:] == ["599", "finished: the code returned and all its WebSockets are closed"]


def test_show_page_frames_the_chat_page_and_it_connects(browser: Browser) -> None:
    with labkit.serve("chat", over="websocket") as chat, labkit.serve("echo", over="websocket", page=HARNESS) as cell:
        widget = labkit.show_page(chat, height=300)
        in_page(browser, cell.url.replace("ws://", "http://"), widget)
        frame = browser.evaluate(
            "(() => { const f = document.querySelector('#cell iframe'); return [f.src, f.style.height]; })()"
        )
        assert frame == [f"http://127.0.0.1:{chat.port}/", "300px"]
        assert wait_for(lambda: chat.record.entries("open"), timeout=10)  # the framed page's WebSocket
        caption = browser.evaluate("document.querySelector('#cell .labkit-status').textContent")
    assert caption == f"Page served at http://127.0.0.1:{chat.port}/ · open in a new tab"


# The URL rule: where a browser elsewhere reaches the kernel's 127.0.0.1 -------------------------


def import_shared() -> str:
    """JavaScript that imports shared.js (the URL rule) as a module, as the widgets' modules start."""
    source = json.dumps((WIDGETS / "shared.js").read_text(encoding="utf-8"))
    return f'await import(URL.createObjectURL(new Blob([{source}], {{type: "text/javascript"}})))'


HUB = {"protocol": "https:", "host": "hub.example.org", "hostname": "hub.example.org", "baseUrl": "/user/ana/"}


def page(url: str, base: str | None = "/") -> dict[str, Any]:
    protocol, rest = url.split("//", 1)
    host = rest.split("/", 1)[0]
    hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return {"protocol": protocol, "host": host, "hostname": hostname, "baseUrl": base}


@pytest.mark.parametrize(
    ("url", "where", "proxy", "expected"),
    [
        ("ws://127.0.0.1:8765", page("http://127.0.0.1:8888/lab"), True, ("ws://127.0.0.1:8765", "direct")),
        ("ws://127.0.0.1:8765", page("http://localhost:8888/lab"), True, ("ws://127.0.0.1:8765", "direct")),
        ("ws://127.0.0.1:8765", page("http://[::1]:8888/lab"), False, ("ws://127.0.0.1:8765", "direct")),
        ("http://127.0.0.1:8765/", page("http://lab.localhost:8888/"), False, ("http://127.0.0.1:8765/", "direct")),
        (
            "ws://127.0.0.1:8765/sala?token=abc",
            HUB,
            True,
            ("wss://hub.example.org/user/ana/proxy/8765/sala?token=abc", "proxy"),
        ),
        ("http://127.0.0.1:8765", HUB, True, ("https://hub.example.org/user/ana/proxy/8765/", "proxy")),
        (
            "ws://127.0.0.1:8765",
            page("http://10.0.0.5:8000/user/ana/lab", "/user/ana"),
            True,
            ("ws://10.0.0.5:8000/user/ana/proxy/8765/", "proxy"),
        ),
        (
            "http://127.0.0.1:8765/",
            page("https://hub.mybinder.org:443/", "/binder/jupyter/user/org-repo-x1y2/"),
            True,
            ("https://hub.mybinder.org:443/binder/jupyter/user/org-repo-x1y2/proxy/8765/", "proxy"),
        ),
        ("ws://127.0.0.1:8765", HUB, False, ("ws://127.0.0.1:8765", "unsure")),
        ("ws://127.0.0.1:8765", {**HUB, "baseUrl": None}, True, ("ws://127.0.0.1:8765", "unsure")),
    ],
)
def test_the_url_rule_in_the_browser(
    browser: Browser, url: str, where: dict[str, Any], proxy: bool, expected: tuple[str, str]
) -> None:
    rule = f"(async () => (await {import_shared()}).reachable(...{json.dumps([url, where, proxy])}))()"
    found = browser.evaluate(rule)
    assert (found["url"], found["how"]) == expected


def test_the_base_url_comes_from_jupyters_page_config(browser: Browser) -> None:
    config = '<script id="jupyter-config-data" type="application/json">{"baseUrl": "/user/ana/"}</script>'
    read = f"(async () => {{ const m = {import_shared()}; return [m.jupyterBaseUrl(), m.pageLocation()]; }})()"
    with labkit.serve("echo", over="websocket", page=HARNESS + config) as server:
        browser.navigate(server.url.replace("ws://", "http://"))
        base, location = browser.evaluate(read)
        browser.evaluate("document.getElementById('jupyter-config-data').remove()")
        without, _ = browser.evaluate(read)
    assert base == "/user/ana/" and without is None
    assert location == {
        "protocol": "http:",
        "host": f"127.0.0.1:{server.port}",
        "hostname": "127.0.0.1",
        "baseUrl": "/user/ana/",
    }


# The Python side, without a browser -------------------------------------------------------------


def test_what_the_widgets_hand_the_browser() -> None:
    with labkit.serve("echo", over="scratch") as server:
        widget = labkit.run_js("log(1)", server, height=120)
        page_widget = labkit.show_page(server)
    state = widget.get_state()
    assert (state["code"], state["url"], state["height"], state["proxy"]) == (
        "log(1)",
        server.url,
        120,
        proxy_installed(),
    )
    assert state["_esm"].startswith((WIDGETS / "shared.js").read_text(encoding="utf-8"))
    assert "export default { initialize, render }" in state["_esm"]
    assert isinstance(page_widget, PageWidget) and page_widget.url == f"http://127.0.0.1:{server.port}/"
    assert labkit.show_page("wss://example.org/chat").url == "https://example.org/chat"
    assert labkit.show_page("http://127.0.0.1:8000").url == "http://127.0.0.1:8000/"
    with using("es"):
        spanish = labkit.run_js("")
    assert spanish.words["done"] == "terminado: el código acabó y todos sus WebSocket están cerrados"
    assert spanish.words["close_codes"]["1011"] == "error interno"


def test_the_widgets_files_load_nothing_from_another_host() -> None:
    for path in WIDGETS.iterdir():
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"^\s*import\b|\bimport\(|@import|url\(", text, re.MULTILINE), path
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.IGNORECASE), path


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: labkit.run_js(42), "code must be the JavaScript as text, not int"),  # type: ignore[arg-type]
        (lambda: labkit.run_js("", url=8000), "url must be a labkit server (what labkit.serve returns) or a ws://"),
        (lambda: labkit.run_js("", url="127.0.0.1:8000"), "or https:// URL, not '127.0.0.1:8000'"),
        (lambda: labkit.run_js("", height=10), "height must be a whole number of pixels from 50 to 5000, not 10"),
        (lambda: labkit.show_page(None), "server_or_url must be a labkit server"),
        (lambda: labkit.show_page("http://x/", height=True), "height must be a whole number of pixels"),
    ],
)
def test_mistakes_get_one_clear_sentence(call: Any, message: str) -> None:
    with pytest.raises(LabkitError, match=re.escape(message)):
        call()


def message_event(seq: int, text: str) -> dict[str, Any]:
    return {"seq": seq, "at": 0.1, "socket": 1, "kind": "message", "line": text, "text": text, "size": len(text)}


def test_wait_returns_once_the_kernel_has_applied_the_browsers_report() -> None:
    widget = labkit.run_js("")
    widget._repr_mimebundle_()  # shown, as the cell's last value

    async def scenario() -> RunJS:
        waiting = asyncio.create_task(widget.wait(messages=2, timeout=5))
        await asyncio.sleep(0.2)
        assert not waiting.done()
        # The page's report, read by the kernel on its own loop while the cell awaits.
        deliver(
            widget,
            {"started": True, "events": [message_event(1, "a"), message_event(2, "b")], "totals": {"received": 2}},
        )
        return await waiting

    assert asyncio.run(scenario()) is widget
    assert widget.received == ["a", "b"] and not widget.done


def test_wait_is_bounded_and_says_what_it_saw() -> None:
    widget = labkit.run_js("")
    with pytest.raises(LabkitError, match=r"^the browser runs the code once the widget is shown"):
        asyncio.run(widget.wait())
    widget._repr_mimebundle_()
    with pytest.raises(LabkitError, match=r"^in 0.1 s the browser did not start the code: is the widget shown"):
        asyncio.run(widget.wait(timeout=0.1))
    deliver(widget, {"started": True, "events": [message_event(1, "a")], "totals": {"received": 1}})
    with pytest.raises(LabkitError, match=r"^2 messages did not arrive within 0.1 s: the browser has received 1 "):
        asyncio.run(widget.wait(messages=2, timeout=0.1))
    with pytest.raises(LabkitError, match="timeout must be a number of seconds above 0 and up to 600, not 0"):
        asyncio.run(widget.wait(timeout=0))
    with pytest.raises(LabkitError, match="messages must be a whole number of messages, 0 or more, not -1"):
        asyncio.run(widget.wait(messages=-1))


def test_big_messages_come_back_clipped_like_the_records() -> None:
    entry = {"seq": 1, "at": 0.0, "socket": 1, "kind": "message", "line": "", "base64": "AAEC", "size": 70000}
    assert BrowserEvent.from_json(entry).data == Clipped(b"\x00\x01\x02", 70000)
    text = {**entry, "text": "x" * 4096, "size": 5000}
    assert BrowserEvent.from_json(text).data == Clipped("x" * 4096, 5000)
    assert BrowserEvent.from_json({**text, "size": 4096}).data == "x" * 4096


# In JupyterLab, as a student sees it ---------------------------------------------------------

LESSON_CELLS = [
    """import labkit

async def eco(websocket):
    await websocket.send("bienvenida")
    async for mensaje in websocket:
        await websocket.send(mensaje.upper() if isinstance(mensaje, str) else mensaje[::-1])

servidor = labkit.serve(eco, over="websocket")""",
    '''run = labkit.run_js("""
const ws = new WebSocket(url);
ws.binaryType = "arraybuffer";
ws.onopen = () => { ws.send("hola"); ws.send(new Uint8Array([1, 2, 3])); };
let n = 0;
ws.onmessage = () => { if (++n === 3) ws.close(4000, "adiós"); };
""", servidor)
run''',
    "await run.wait(timeout=20)  # the kernel reads the browser's reports while the cell awaits\nrun.received",
    'chat = labkit.serve("chat", over="websocket")\nlabkit.show_page(chat, height=200)',
]


def test_run_js_in_jupyterlab_shows_the_log_live_and_python_reads_it(browser: Browser, tmp_path: Path) -> None:
    from tests.jupyterlab import JupyterLab

    (tmp_path / "es").mkdir()
    notebook = new_notebook(cells=[new_code_cell(source) for source in LESSON_CELLS])
    notebook.metadata["kernelspec"] = kernelspec()
    write_notebook(notebook, tmp_path / "es" / "navegador.ipynb")
    with JupyterLab(tmp_path, browser) as lab:
        cells = lab.open("es/navegador.ipynb").run_all()
        page = browser.evaluate("document.querySelector('.labkit-page iframe').src")
    assert [cell.errors for cell in cells] == [[], [], [], []]
    log = cells[1].text
    assert log.startswith("Navegador: terminado · 3 recibidos · 2 enviados")
    for line in ('#1 ← texto "HOLA" (4 caracteres)', "#1 cerrado: 4000 (uso privado) 'adiós', limpio (wasClean)"):
        assert line in log
    assert cells[2].text == "['bienvenida', 'HOLA', b'\\x03\\x02\\x01']"
    assert page.startswith("http://127.0.0.1:") and cells[3].text.startswith("Página servida en " + page)


def test_a_blob_still_being_read_is_not_received_yet() -> None:
    widget = labkit.run_js("")
    blob = {"seq": 1, "at": 0.0, "socket": 1, "kind": "message", "line": "", "base64": "", "size": 3, "reading": True}
    deliver(widget, {"started": True, "events": [blob], "totals": {"received": 0}})
    assert widget.received == [] and widget.log[0].data is None
    deliver(widget, {"events": [{**blob, "base64": "AwIB", "reading": False}], "totals": {"received": 1}})
    assert widget.received == [b"\x03\x02\x01"] and len(widget.log) == 1  # the same event, filled in
