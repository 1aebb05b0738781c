"""Lessons whose cells act in a browser, run in JupyterLab in a real Chromium as a student runs them.

nbval runs every lesson without a browser: it skips the cells that wait on one (``# NBVAL_SKIP``)
and never sees what a page does. Here each such lesson runs in the lab, in Spanish and in English,
from a throwaway folder: no cell may show an error, and each browser cell must show what the
lesson's text promises. A page the lesson frames (``labkit.show_page``) is read from inside its
iframe through the DevTools protocol, as its own document.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import labkit
from labkit.browser import Browser, find_chromium
from labkit.notebooks import LESSONS_DIR
from labkit.wiretap import WebSocketFrame
from tests.jupyterlab import PANEL, CellShown, JupyterLab

if find_chromium() is None:
    if os.environ.get("CI"):
        pytest.fail("CI must run the browser tests: python3 dev.py setup installs Chromium", pytrace=False)
    pytest.skip("no Chromium here (python3 dev.py setup installs it on Debian as root)", allow_module_level=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with Browser(timeout=60) as chromium:
        yield chromium


def copy_lesson(root: Path, language: str, name: str) -> str:
    """The stored lesson, copied to ``root/<language>/`` (the folder tells the kernel its language)."""
    (root / language).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(LESSONS_DIR / language / name, root / language / name)
    return f"{language}/{name}"


def index_of(cells: list[CellShown], start: str) -> int:
    """The index (among all cells) of the one code cell whose source starts with ``start``."""
    found = [i for i, cell in enumerate(cells) if cell.kind == "code" and cell.source.startswith(start)]
    assert len(found) == 1, f"{len(found)} code cells start with {start!r}"
    return found[0]


def frame_text(browser: Browser, url: str, expression: str) -> Any:
    """Evaluate ``expression`` inside the iframe whose document is at ``url`` (its own DOM, not the lab's)."""

    def frames(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
        yield node["frame"]
        for child in node.get("childFrames", []):
            yield from frames(child)

    tree = browser.call("Page.getFrameTree")["frameTree"]
    matching = [frame for frame in frames(tree) if frame["url"].startswith(url)]
    assert len(matching) == 1, f"frames at {url}: {[frame['url'] for frame in frames(tree)]}"
    world = browser.call("Page.createIsolatedWorld", frameId=matching[0]["id"], worldName="labkit-test")
    result = browser.call(
        "Runtime.evaluate", expression=expression, contextId=world["executionContextId"], returnByValue=True
    )
    assert "exceptionDetails" not in result, result
    return result["result"].get("value")


# Lesson 08: your realtime chat with Socket.IO -----------------------------------------------------

LESSON_08 = "08-chat-con-socketio.ipynb"
PAGE_LOG = "Array.from(document.querySelectorAll('#log li')).map((line) => line.textContent)"
SERVED = {"es": "Página servida en ", "en": "Page served at "}
NOT_YET = {"es": "✘ Todavía no:", "en": "✘ Not yet:"}
NOTHING_LEFT = {"es": "nada en marcha: 0 servidores, 0 hilos", "en": "nothing left running: 0 servers, 0 threads"}
FIRST_WAIT = "# NBVAL_SKIP\n# waits for the page above, open in a browser"
SECOND_WAIT = "# NBVAL_SKIP\n# waits for the page above to reconnect"
#: What the page shows once it has joined, been written to from Python, and been told goodbye by stop().
PAGE_BEFORE_THE_RESTART = [
    "connect",
    'join → ["general"]',
    'private {"from":"Ana","text":"hola, Eva: te escribo desde Python"}',
    'chat {"from":"Ana","room":"general","text":"bienvenida a general"}',
    "disconnect io server disconnect",
]


@pytest.mark.parametrize("language", ["es", "en"])
def test_lesson_08_the_chat_page_talks_with_python_and_reconnects(
    browser: Browser, tmp_path: Path, language: str
) -> None:
    path = copy_lesson(tmp_path, language, LESSON_08)
    with JupyterLab(tmp_path, browser, timeout=90) as lab:
        notebook = lab.open(path)
        cells = notebook.run_all()
        shown = cells[index_of(cells, "labkit.show_page(chat")].text
        assert shown.startswith(SERVED[language] + "http://127.0.0.1:"), shown
        page_url = re.search(r"http://127\.0\.0\.1:\d+/", shown)
        assert page_url is not None
        page = frame_text(browser, page_url.group(), PAGE_LOG)

    code = [cell for cell in cells if cell.kind == "code" and cell.source.strip()]
    assert [cell.prompt for cell in code] == [f"[{n}]:" for n in range(1, len(code) + 1)]
    assert [cell.source[:60] for cell in cells if cell.errors] == []

    # The first browser cell: the page greeted the room, it is a session named Eva, Ana's private message found her.
    assert cells[index_of(cells, FIRST_WAIT)].text == (
        "['chat', {'from': 'Eva', 'room': 'general', 'text': 'hola, soy Eva'}]\n['Ana', 'Beto', 'Eva']\nTrue\n"
    )
    # The page joined, got Ana's private message and her chat, then stop() said goodbye.
    assert page[: len(PAGE_BEFORE_THE_RESTART)] == PAGE_BEFORE_THE_RESTART, page
    # It retried on its own schedule (at least once while the server was off), came back and joined again;
    # the lesson's last cell, stop_all(), said goodbye once more.
    retries = page[len(PAGE_BEFORE_THE_RESTART) :]
    back = next(i for i, line in enumerate(retries) if line.startswith("reconnect "))
    assert retries[0] == "reconnect_attempt 1", page
    assert all(re.fullmatch(r"reconnect_attempt \d+", line) for line in retries[:back]), page
    assert re.fullmatch(r"reconnect \d+", retries[back]), page
    assert retries[back + 1 : back + 4] == ["connect", 'join → ["general"]', "disconnect io server disconnect"], page
    assert all(re.fullmatch(r"reconnect_attempt \d+", line) for line in retries[back + 4 :]), page
    # The second browser cell: the new server's sessions, and what the page emitted when it came back.
    second = cells[index_of(cells, SECOND_WAIT)].text
    assert second.startswith("['Eva']\n"), second
    assert "join: 'general'" in second and "chat: {'room': 'general', 'text': 'hola, soy Eva'}" in second

    check = next(cell for cell in code if ".check(" in cell.source)
    assert check.text.startswith(NOT_YET[language]), check.text
    assert code[-1].text.strip() == NOTHING_LEFT[language]


# Lesson 07: the browser's interface -----------------------------------------------------------

LESSON_07 = "07-la-interfaz-del-navegador.ipynb"
#: A cell of the notebook on show, by its index among all cells.
CELL = f"{PANEL}.querySelectorAll('.jp-Notebook .jp-Cell')[INDEX]"
#: The lines of a run_js log, and the rows of a side_by_side table, as the page shows them.
LOG_LINES = f"Array.from({CELL}.querySelectorAll('.labkit-line')).map((line) => line.textContent)"
TABLE_ROWS = (
    f"Array.from({CELL}.querySelectorAll('.jp-OutputArea-output tbody tr'))"
    ".map((row) => Array.from(row.children).map((cell) => cell.textContent))"
)
PORT = re.compile(r"127\.0\.0\.1:\d+")
#: How lesson 07's browser cells start: skipped by nbval, checked here.
SKIPPED_07 = "# NBVAL_SKIP\n# runs in the browser: tests/test_lessons_in_browser.py checks it\n"

#: What lesson 07's first side_by_side shows: the page's whole life beside the wire (ports masked).
LIFE = {
    "es": [
        ('#1 new WebSocket("ws://127.0.0.1:PORT/")', "C→S", "GET / HTTP/1.1 (Upgrade: websocket)"),
        ("readyState 0", "", ""),
        ("InvalidStateError", "", ""),
        ("#1 abierto (readyState 1)", "S→C", "HTTP/1.1 101 Switching Protocols (Upgrade: websocket)"),
        ('#1 → texto "hola" (4 caracteres)', "C→S", "texto 'hola' (enmascarada)"),
        ('#1 → texto "ñandú" (5 caracteres)', "C→S", "texto 'ñandú' (enmascarada)"),
        ('#1 ← texto "hola" (4 caracteres)', "S→C", "texto 'hola'"),
        ('#1 ← texto "ñandú" (5 caracteres)', "S→C", "texto 'ñandú'"),
        ('#1 close(1000, "listo"): readyState 2', "C→S", "cierre 1000 (cierre normal) 'listo' (enmascarada)"),
        ("(la página no recibe ningún evento)", "S→C", "cierre 1000 (cierre normal) 'listo'"),
        (
            "#1 cerrado: 1000 (cierre normal) 'listo', limpio (wasClean)",
            "",
            "fin de la conexión TCP (la cerró el servidor)",
        ),
        ("readyState 3", "", ""),
    ],
    "en": [
        ('#1 new WebSocket("ws://127.0.0.1:PORT/")', "C→S", "GET / HTTP/1.1 (Upgrade: websocket)"),
        ("readyState 0", "", ""),
        ("InvalidStateError", "", ""),
        ("#1 open (readyState 1)", "S→C", "HTTP/1.1 101 Switching Protocols (Upgrade: websocket)"),
        ('#1 → text "hola" (4 characters)', "C→S", "text 'hola' (masked)"),
        ('#1 → text "ñandú" (5 characters)', "C→S", "text 'ñandú' (masked)"),
        ('#1 ← text "hola" (4 characters)', "S→C", "text 'hola'"),
        ('#1 ← text "ñandú" (5 characters)', "S→C", "text 'ñandú'"),
        ('#1 close(1000, "listo"): readyState 2', "C→S", "close 1000 (normal closure) 'listo' (masked)"),
        ("(no event reaches the page)", "S→C", "close 1000 (normal closure) 'listo'"),
        (
            "#1 closed: 1000 (normal closure) 'listo', clean (wasClean)",
            "",
            "end of the TCP connection (closed by the server)",
        ),
        ("readyState 3", "", ""),
    ],
}
#: Words of labkit's views that the lesson's other browser cells are checked by, in each language.
WORDS_07 = {
    "es": {
        "not_told": "(la página no recibe ningún evento)",
        "by_browser": "(lo envió el navegador, no tu código)",
        "not_tap": "(no pasa por el tap)",
        "text": "texto",
        "masked": "(enmascarada)",
        "binary": "binario 01 02 03 (3 bytes)",
        "fragment": "continuación fragmento",
        "blob": "#1 ← binario (Blob), 3 bytes: 01 02 03",
        "arraybuffer": "#1 ← binario (ArrayBuffer), 3 bytes: 01 02 03",
        "1005": "#1 cerrado: 1005 (sin código), limpio (wasClean)",
        "4000": "#1 cerrado: 4000 (uso privado) 'adiós', limpio (wasClean)",
        "4001": "#2 cerrado: 4001 (uso privado) 'me lo pediste', limpio (wasClean)",
        "1011": "#3 cerrado: 1011 (error interno), limpio (wasClean)",
        "error": "error (el navegador no da detalles; el evento close dice más)",
        "1006": "cerrado: 1006 (cierre anormal), no limpio (wasClean false)",
        "close_4001": "cierre 4001 (uso privado) 'me lo pediste' (enmascarada)",
        "handler": "el manejador falló: ValueError('falla')",
    },
    "en": {
        "not_told": "(no event reaches the page)",
        "by_browser": "(sent by the browser, not by your code)",
        "not_tap": "(not through the tap)",
        "text": "text",
        "masked": "(masked)",
        "binary": "binary 01 02 03 (3 bytes)",
        "fragment": "continuation fragment",
        "blob": "#1 ← binary (Blob), 3 bytes: 01 02 03",
        "arraybuffer": "#1 ← binary (ArrayBuffer), 3 bytes: 01 02 03",
        "1005": "#1 closed: 1005 (no status received), clean (wasClean)",
        "4000": "#1 closed: 4000 (private use) 'adiós', clean (wasClean)",
        "4001": "#2 closed: 4001 (private use) 'me lo pediste', clean (wasClean)",
        "1011": "#3 closed: 1011 (internal error), clean (wasClean)",
        "error": "error (the browser gives no details; the close event tells more)",
        "1006": "closed: 1006 (abnormal closure), not clean (wasClean false)",
        "close_4001": "close 4001 (private use) 'me lo pediste' (masked)",
        "handler": "the handler failed: ValueError('falla')",
    },
}


def in_order(lines: list[str], wanted: list[str]) -> bool:
    """Whether ``wanted`` appear in ``lines`` in this order (other lines may come between)."""
    rest = iter(lines)
    return all(any(line == want for line in rest) for want in wanted)


def masked(rows: list[list[str]]) -> list[tuple[str, ...]]:
    return [tuple(PORT.sub("127.0.0.1:PORT", cell) for cell in row) for row in rows]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("language", ["es", "en"])
def test_lesson_07_the_page_and_the_wire_side_by_side(browser: Browser, tmp_path: Path, language: str) -> None:
    words = WORDS_07[language]
    path = copy_lesson(tmp_path, language, LESSON_07)
    created = browser.keep_events("Network.webSocketCreated")
    browser.call("Network.enable")
    try:
        with JupyterLab(tmp_path, browser, timeout=120) as lab:
            cells = lab.open(path).run_all()
            shown: dict[int, tuple[list[str], list[tuple[str, ...]]]] = {
                i: (
                    browser.evaluate(LOG_LINES.replace("INDEX", str(i))),
                    masked(browser.evaluate(TABLE_ROWS.replace("INDEX", str(i)))),
                )
                for i, cell in enumerate(cells)
                if cell.kind == "code"
            }
    finally:
        browser.call("Network.disable")

    code = [cell for cell in cells if cell.kind == "code" and cell.source.strip()]
    assert [cell.prompt for cell in code] == [f"[{n}]:" for n in range(1, len(code) + 1)]
    assert [cell.source[:60] for cell in cells if cell.errors] == []

    def log(start: str) -> list[str]:
        return shown[index_of(cells, start)][0]

    def table(name: str) -> list[tuple[str, ...]]:
        return shown[index_of(cells, f"{SKIPPED_07}await side_by_side({name}, tap)")][1]

    # §2, a whole life: the log says it, and beside the wire, each call and event with its frames.
    life = log("tap = labkit.tap(servidor.url)\nvida = ")
    assert life[-1] in (
        "terminado: el código acabó y todos sus WebSocket están cerrados",
        "finished: the code returned and all its WebSockets are closed",
    )
    assert table("vida") == LIFE[language]

    # §3: bufferedAmount from a million to 0, Blob then ArrayBuffer, 1005, a send() after the close.
    queue = log("tap = labkit.tap(servidor.url)\ncola = ")
    assert in_order(
        queue,
        [
            "binaryType blob",
            "bufferedAmount 1000000",
            "bufferedAmount 0",
            words["blob"],
            "binaryType arraybuffer",
            words["arraybuffer"],
            words["1005"],
            "bufferedAmount 5",
        ],
    )
    rows = table("cola")
    big = next(i for i, row in enumerate(rows) if row[0].startswith("#1 → ") and "1000000" in row[0])
    assert rows[big + 1][:2] == ("", "C→S") and words["fragment"] in rows[big + 1][2]  # one send(), several frames
    assert [row[2] for row in rows if "01 02 03" in row[0] and "→" in row[0]] == [
        f"{words['binary']} {words['masked']}"
    ] * 2
    late = next(row for row in rows if '"tarde"' in row[0])
    assert late[1:] == ("", "")  # nothing on the wire

    # §4: close codes as the page sees them, and the wire behind each.
    closes = log("tap = labkit.tap(servidor.url)\ncierres = ")
    assert in_order(
        closes,
        [
            "close 1001 InvalidAccessError",
            "close 4000 SyntaxError",
            words["4000"],
            words["4001"],
            words["1011"],
            f"#4 {words['error']}",
            f"#4 {words['1006']}",
            f"#5 {words['error']}",
            f"#5 {words['1006']}",
        ],
    )
    rows = table("cierres")
    assert (words["by_browser"], "C→S", words["close_4001"]) in rows  # the browser answered the server's close
    assert rows[[row[0] for row in rows].index(f"#4 {words['error']}")][2].startswith("HTTP/1.1 101 Switching")
    assert rows[[row[0] for row in rows].index('#5 new WebSocket("ws://127.0.0.1:PORT/")')][2] == words["not_tap"]
    errors = next(cell for cell in cells if cell.source.endswith("servidor.record.errors()")).text
    assert words["handler"] in errors and "raise ValueError(mensaje)" in errors

    # §5: no headers from a page; what it chose (path, subprotocol) reached the server; a 101 the page never saw.
    page_headers = log("tap = labkit.tap(quien.url)\ncabeceras = ")
    assert page_headers[1] == "SyntaxError"
    assert in_order(
        page_headers,
        [f'#1 ← {words["text"]} "/sala?token=abc" (15 {"caracteres" if language == "es" else "characters"})'],
    )
    assert any(line.startswith(f'#1 ← {words["text"]} "Origin: http://127.0.0.1:') for line in page_headers)
    assert f"#2 {words['1006']}" in page_headers
    rows = table("cabeceras")
    failed = [row[0] for row in rows].index(f"#2 {words['error']}")
    assert rows[failed - 1] == (
        '#2 new WebSocket("ws://127.0.0.1:PORT/sala?token=abc")',
        "C→S",
        "GET /sala?token=abc HTTP/1.1 (Upgrade: websocket)",
    )
    assert rows[failed][1:] == ("S→C", "HTTP/1.1 101 Switching Protocols (Upgrade: websocket)")
    # Whatever the server got out before the browser cut the connection, the page heard none of it.
    assert all(row[:2] == (words["not_told"], "S→C") for row in rows[failed + 1 : -1])
    assert rows[-1][0] == f"#2 {words['1006']}"
    headers = next(cell for cell in cells if cell.source.endswith("quien.record.headers()")).text
    for header in (
        "Sec-WebSocket-Protocol: chat.v1",
        "Origin: http://127.0.0.1:",
        "Cookie: ",
        "Sec-WebSocket-Extensions: permessage-deflate",
    ):
        assert header in headers, header

    # §5: no ping or pong in the API; on the wire each ping has its pong, sent by the browser alone.
    assert "false false" in log("latidos = labkit.serve(")
    rows = table("pings")
    pings = [i for i, row in enumerate(rows) if row[2].startswith("ping ")]
    assert len(pings) >= 2 and all(rows[i][0] == words["not_told"] for i in pings)
    assert all(rows[i + 1][0] == words["by_browser"] and rows[i + 1][2].startswith("pong ") for i in pings)

    # §6: JupyterLab's own WebSocket to the kernel, which the lesson says DevTools also shows.
    urls = [event["params"]["url"] for event in created]
    assert any("/api/kernels/" in url and "/channels" in url for url in urls), urls

    check = next(cell for cell in code if ".check(" in cell.source)
    assert check.text.startswith({"es": "✘ Todavía no:", "en": "✘ Not yet:"}[language]), check.text
    assert (
        code[-1].text.strip()
        == {"es": "nada en marcha: 0 servidores, 0 hilos", "en": "nothing left running: 0 servers, 0 threads"}[language]
    )


DEVTOOLS_PAGE = """new Promise((resolve) => {
  const ws = new WebSocket(URL);
  ws.onopen = () => { ws.send("hola"); setTimeout(() => ws.close(4000, "adiós"), 700); };
  ws.onclose = resolve;
})"""


def test_lesson_07_devtools_lists_data_messages_but_no_control_frames(browser: Browser) -> None:
    """What lesson 07 says of DevTools' Messages tab, checked where the tab gets its rows, the DevTools
    protocol's frame events: the text messages are there; the pings, pongs and close frames the tap
    saw on the same connection are not."""
    with labkit.serve("echo", over="websocket", ping_interval=0.2, page="<!doctype html><title>x</title>") as server:
        tap = labkit.tap(server.url)
        frames = browser.keep_events("Network.webSocketFrame")
        browser.navigate(server.url.replace("ws://", "http://"))
        browser.call("Network.enable")
        try:
            browser.evaluate(DEVTOOLS_PAGE.replace("URL", json.dumps(tap.url)))
            browser.call("Runtime.evaluate", expression="1")  # read the events that came in meanwhile
        finally:
            browser.call("Network.disable")
        on_the_wire = {unit.opcode.name for unit in tap.messages() if isinstance(unit, WebSocketFrame)}
        tap.stop()
    assert {"TEXT", "PING", "PONG", "CLOSE"} <= on_the_wire
    assert [(event["method"], event["params"]["response"]["opcode"]) for event in frames] == [
        ("Network.webSocketFrameSent", 1),
        ("Network.webSocketFrameReceived", 1),
    ]


# Lesson 10: who may connect ----------------------------------------------------------------------

LESSON_10 = "10-quien-puede-conectarse.ipynb"
LESSON_10_INBOX = ["Beto: ¿nos vemos a las cinco?", "Banco: tu código de acceso es 4821"]
LESSON_10_SERVED = {"es": "Página servida en ", "en": "Page served at "}
LESSON_10_NOT_YET = {"es": "✘ Todavía no:", "en": "✘ Not yet:"}
LESSON_10_NOTHING_LEFT = {
    "es": "nada en marcha: 0 servidores, 0 hilos",
    "en": "nothing left running: 0 servers, 0 threads",
}
LESSON_10_CLOSED_1006 = {"es": "#1 cerrado: 1006", "en": "#1 closed: 1006"}


def lesson_10_cell(cells: list[CellShown], start: str, nth: int = 0) -> int:
    """The index of the ``nth`` code cell whose source starts with ``start``."""
    found = [i for i, cell in enumerate(cells) if cell.kind == "code" and cell.source.startswith(start)]
    assert len(found) > nth, f"{len(found)} code cells start with {start!r}"
    return found[nth]


def lesson_10_frames(browser: Browser, url: str) -> list[str]:
    """The text of every iframe whose document is at ``url``, in the order the notebook shows them."""

    def frames(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
        yield node["frame"]
        for child in node.get("childFrames", []):
            yield from frames(child)

    texts = []
    for frame in frames(browser.call("Page.getFrameTree")["frameTree"]):
        if frame["url"] == url:
            world = browser.call("Page.createIsolatedWorld", frameId=frame["id"], worldName="labkit-lesson-10")
            result = browser.call(
                "Runtime.evaluate",
                expression="document.body.innerText",
                contextId=world["executionContextId"],
                returnByValue=True,
            )
            texts.append(str(result["result"].get("value", "")).strip())
    return texts


@pytest.mark.timeout(300)
@pytest.mark.parametrize("language", ["es", "en"])
def test_lesson_10_another_origins_page_reads_the_inbox_until_the_allow_list_and_wss(
    browser: Browser, tmp_path: Path, language: str
) -> None:
    path = copy_lesson(tmp_path, language, LESSON_10)
    with JupyterLab(tmp_path, browser, timeout=120) as lab:
        cells = lab.open(path).run_all()
        served = [cell.text for cell in cells if cell.kind == "code" and "labkit.show_page(" in cell.source]
        urls = [re.search(r"http://127\.0\.0\.1:\d+/", text) for text in served]
        assert all(urls) and len(urls) == 4, served
        app, attacker = urls[0].group(), urls[1].group()  # type: ignore[union-attr]
        assert [url.group() for url in urls] == [app, attacker, attacker, app]  # type: ignore[union-attr]
        app_frames, attacker_frames = lesson_10_frames(browser, app), lesson_10_frames(browser, attacker)

    code = [cell for cell in cells if cell.kind == "code" and cell.source.strip()]
    assert [cell.prompt for cell in code] == [f"[{n}]:" for n in range(1, len(code) + 1)]
    assert [cell.source[:60] for cell in cells if cell.errors] == []
    assert all(text.startswith(LESSON_10_SERVED[language] + "http://127.0.0.1:") for text in served)
    app_origin, attacker_origin = app.rstrip("/"), attacker.rstrip("/")

    # The attacker's page read Ana's inbox and sent it home; both handshakes carried her session cookie.
    stolen = cells[lesson_10_cell(cells, "# NBVAL_SKIP\n# waits for the pages above")].text
    assert stolen.replace("\n ", " ").replace("  ", " ").strip() == (
        f"({LESSON_10_INBOX!r}, [({app_origin!r}, True), ({attacker_origin!r}, True)])"
    ), stolen
    # With the allow-list, Python's clients: the app's origin and a client without Origin in, the attacker's 403.
    checked = cells[lesson_10_cell(cells, "mi_origen = app.url")].text.splitlines()
    assert checked == [
        f"{app_origin} {LESSON_10_INBOX[0]}",
        f"{attacker_origin} 403",
        f"None {LESSON_10_INBOX[0]}",
    ], checked
    # Then the attacker's page again: refused with 403, which the page sees as 1006 with no reason.
    responses = cells[lesson_10_cell(cells, "# NBVAL_SKIP\n# waits for the page above")].text
    assert responses.count("403 Forbidden") == 2 and responses.rstrip().endswith("403 Forbidden"), responses
    assert attacker_frames == ["\n".join([*LESSON_10_INBOX, "close 1001"]), "close 1006"], attacker_frames
    # The app's own page: the inbox before the restart and after it, with the allow-list (stop_all says 1001).
    assert app_frames == ["\n".join([*LESSON_10_INBOX, "close 1001"])] * 2, app_frames

    # wss://: this Chromium does not trust labkit's authority (1006); one that trusts its key by hash does,
    # and from its https:// page, ws:// to a name is mixed content while loopback is exempt.
    untrusted = cells[lesson_10_cell(cells, "labkit.run_js(")].text
    assert LESSON_10_CLOSED_1006[language] in untrusted and "←" not in untrusted, untrusted
    mixed = cells[lesson_10_cell(cells, "# NBVAL_IGNORE_OUTPUT\n# depends on the browser installed")].text
    assert mixed.replace("\n", "").replace(" ", "") == (
        "{'wss://127.0.0.1':'open','ws://127.0.0.1':'open','ws://app.example':'SecurityError'}"
    ), mixed

    check = next(cell for cell in code if ".check(" in cell.source)
    assert check.text.startswith(LESSON_10_NOT_YET[language]), check.text
    assert code[-1].text.strip() == LESSON_10_NOTHING_LEFT[language]
