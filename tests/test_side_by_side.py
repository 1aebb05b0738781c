"""The page beside the wire: a run's events paired with the frames a real tap recorded.

The page's side is a run_js widget fed the events a page would report (as the kernel hands it
the page's messages); the wire's side is a real tap in front of a real server, driven by
websockets' client doing on the wire what that page would do. The browser itself is exercised
by tests/test_lessons_in_browser.py, where lesson 07 shows these views in JupyterLab.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus

import labkit
from labkit.errors import LabkitError
from labkit.i18n import using
from labkit.side_by_side import Row, SideBySide, side_by_side
from labkit.widgets import RunJS
from labkit.wiretap import Tap

NOT_TOLD = "(la página no recibe ningún evento)"
BY_THE_BROWSER = "(lo envió el navegador, no tu código)"
#: The start of the body websockets sends with a refused handshake (403), as the wire column cuts it.
REFUSED = "Failed to open a WebSocket connection: i"


@pytest.fixture(autouse=True)
def spanish_and_nothing_left() -> Iterator[None]:
    with using("es"):
        yield
    labkit.stop_all()
    assert labkit.running() == []


async def echo_until_asked_to_close(websocket: Any) -> None:
    async for message in websocket:
        if message == "cierra":
            await websocket.close(4001, "me lo pediste")
        else:
            await websocket.send(message)


def page(run: RunJS, *events: dict[str, Any], done: bool = True) -> None:
    """The page's report, as the kernel hands the widget one: events numbered in order."""
    numbered = [{"seq": n, "at": 0.0, "socket": None, **event} for n, event in enumerate(events, 1)]
    if done:
        numbered.append({"seq": len(numbered) + 1, "at": 0.0, "socket": None, "kind": "done", "line": "done"})
    content = {"started": True, "events": numbered, "totals": {"received": 0, "sent": 0, "dropped": 0}}
    run.comm.handle_msg({"content": {"data": {"method": "custom", "content": content}}, "buffers": []})


def event(kind: str, socket: int | None, line: str, **facts: Any) -> dict[str, Any]:
    return {"kind": kind, "socket": socket, "line": line, **facts}


def text(kind: str, socket: int, payload: str) -> dict[str, Any]:
    return event(kind, socket, f"#{socket} {kind} {payload}", text=payload, size=len(payload))


def settled(tap: Tap) -> None:
    assert tap.wait(closed=True), "every connection through the tap closed"


def test_a_page_that_closes_first_lines_up_with_its_frames() -> None:
    server = labkit.serve(echo_until_asked_to_close, over="websocket")
    tap = labkit.tap(server.url)
    with labkit.ws_connect(tap.url) as ws:  # what the page below does, on the wire
        ws.send("hola")
        assert ws.recv() == "hola"
        ws.close(4000, "adiós")
    settled(tap)
    run = labkit.run_js("", tap)
    page(
        run,
        event("create", 1, "#1 new WebSocket", url=tap.url + "/"),
        event("open", 1, "#1 open"),
        text("send_text", 1, "hola"),
        text("message", 1, "hola"),
        event("closing", 1, "#1 close(4000)"),
        event("close", 1, "#1 closed 4000", code=4000, reason="adiós", was_clean=True),
    )

    assert side_by_side(run, tap).rows() == [
        Row("#1 new WebSocket", "C→S", "GET / HTTP/1.1 (Upgrade: websocket)", socket=1),
        Row("#1 open", "S→C", "HTTP/1.1 101 Switching Protocols (Upgrade: websocket)", socket=1),
        Row("#1 send_text hola", "C→S", "texto 'hola' (enmascarada)", socket=1),
        Row("#1 message hola", "S→C", "texto 'hola'", socket=1),
        Row("#1 close(4000)", "C→S", "cierre 4000 (uso privado) 'adiós' (enmascarada)", socket=1),
        Row("", "S→C", "cierre 4000 (uso privado) 'adiós'", NOT_TOLD, socket=1),
        Row("#1 closed 4000", "", "fin de la conexión TCP (la cerró el servidor)", socket=1),
    ]


def test_what_the_page_never_did_or_heard_gets_rows_of_its_own_in_wire_order() -> None:
    server = labkit.serve(echo_until_asked_to_close, over="websocket")
    tap = labkit.tap(server.url)
    with labkit.ws_connect(tap.url) as ws:
        ws.send(["frag", "mento"])  # one message in two frames (RFC 6455 §5.4)
        assert ws.recv() == "fragmento"
        assert ws.ping().wait(5)  # a ping no page can send, and the server's pong
        ws.send("cierra")
        with pytest.raises(Exception, match="4001"):
            ws.recv(timeout=5)
    settled(tap)
    run = labkit.run_js("", tap)
    page(
        run,
        event("create", 1, "#1 new WebSocket", url=tap.url + "/"),
        event("open", 1, "#1 open"),
        text("send_text", 1, "fragmento"),
        text("message", 1, "fragmento"),
        text("send_text", 1, "cierra"),
        event("log", None, "a line of the code's own"),
        event("close", 1, "#1 closed 4001", code=4001, reason="me lo pediste", was_clean=True),
    )

    rows = side_by_side(run, tap).rows()

    assert [(row.page, row.direction, row.note) for row in rows] == [
        ("#1 new WebSocket", "C→S", ""),
        ("#1 open", "S→C", ""),
        ("#1 send_text fragmento", "C→S", ""),
        ("", "C→S", ""),  # the second frame of the same send()
        ("", "C→S", ""),  # and its last, empty (websockets ends an iterable so)
        ("#1 message fragmento", "S→C", ""),
        ("", "C→S", BY_THE_BROWSER),  # the ping
        ("", "S→C", NOT_TOLD),  # its pong
        ("#1 send_text cierra", "C→S", ""),
        ("", "S→C", NOT_TOLD),  # the server's close frame
        ("", "C→S", BY_THE_BROWSER),  # the answer to it (RFC 6455 §5.5.1)
        ("a line of the code's own", "", ""),
        ("#1 closed 4001", "", ""),
    ]
    assert rows[2].wire == "texto fragmento 1 'frag' (enmascarada)"
    assert rows[3].wire == "continuación fragmento 2 'mento' (enmascarada)"
    assert rows[4].wire == "continuación fragmento 3, el último, '' → mensaje 'fragmento' (enmascarada)"
    assert rows[6].wire.startswith("ping ") and rows[7].wire.startswith("pong ")
    assert rows[9].wire == "cierre 4001 (uso privado) 'me lo pediste'"
    assert rows[-1].wire == "fin de la conexión TCP (la cerró el servidor)"


def test_a_refused_handshake_goes_with_the_error_event_and_a_socket_elsewhere_says_so() -> None:
    server = labkit.serve("echo", over="websocket", allow_origins=["https://example.org"])
    tap = labkit.tap(server.url)
    with pytest.raises(InvalidStatus):
        labkit.ws_connect(tap.url, origin="http://127.0.0.1:8888")
    settled(tap)
    run = labkit.run_js("", tap)
    hub = f"wss://hub.example.org/user/ana/proxy/{tap.port}/"  # the same tap, through jupyter-server-proxy
    page(
        run,
        event("create", 1, "#1 new WebSocket", url=hub),
        event("error", 1, "#1 error"),
        event("close", 1, "#1 closed 1006", code=1006, reason="", was_clean=False),
        event("create", 2, "#2 new WebSocket", url="ws://127.0.0.1:1/"),
        event("error", 2, "#2 error"),
        event("close", 2, "#2 closed 1006", code=1006, reason="", was_clean=False),
    )

    rows = side_by_side(run, tap).rows()
    # Who ends TCP after a refusal is a race (websockets' server aborts, its client closes): not asserted.
    assert rows[2].wire.startswith("fin de la conexión TCP (la ")
    assert rows == [
        Row("#1 new WebSocket", "C→S", "GET / HTTP/1.1 (Upgrade: websocket)", socket=1),
        Row("#1 error", "S→C", f"HTTP/1.1 403 Forbidden + cuerpo {REFUSED!r}… (85 caracteres)", socket=1),
        Row("#1 closed 1006", "", rows[2].wire, socket=1),
        Row("#2 new WebSocket", "", "(no pasa por el tap)", socket=2),
        Row("#2 error", socket=2),
        Row("#2 closed 1006", socket=2),
    ]


def test_the_view_says_when_no_browser_ran_the_code_and_when_it_is_still_running() -> None:
    server = labkit.serve("echo", over="websocket")
    tap = labkit.tap(server.url)
    run = labkit.run_js("", tap)
    view = side_by_side(run, tap)
    assert view.status == "not_started" and view.rows() == []
    assert repr(view).startswith("ningún navegador ejecutó este código: donde no hay navegador (nbval, nbconvert)")

    async def waited(view: SideBySide) -> SideBySide:
        return await view

    assert asyncio.run(waited(side_by_side(run, tap, timeout=0.1))).status == "not_started"  # bounded, no error
    page(run, event("log", None, "still going"), done=False)
    view = asyncio.run(waited(side_by_side(run, tap, timeout=0.1)))
    assert view.status == "running"
    assert (
        repr(view).splitlines()[0]
        == "el código de la página sigue en marcha tras 0.1 s: esto es lo que pasó hasta ahora"
    )
    with using("en"):
        assert repr(view).splitlines()[1:] == [
            "the page (your JavaScript)  dir  the wire (tap)",
            "still going",
        ]


def test_in_jupyterlab_notes_are_grey_and_sockets_are_ruled_apart() -> None:
    server = labkit.serve("echo", over="websocket")
    tap = labkit.tap(server.url)
    with labkit.ws_connect(tap.url) as ws:
        ws.send("<b>")
        assert ws.recv() == "<b>"
    settled(tap)
    run = labkit.run_js("", tap)
    page(
        run,
        event("create", 1, "#1 new WebSocket", url=tap.url + "/"),
        event("open", 1, "#1 open"),
        text("send_text", 1, "<b>"),
        event("create", 2, "#2 new WebSocket", url="ws://127.0.0.1:1/"),
    )
    shown = side_by_side(run, tap)._repr_html_()
    body = shown[shown.index("<tbody>") :]
    assert "texto &#x27;&lt;b&gt;&#x27; (enmascarada)" in body and "<b>" not in body
    # The echo no event claimed (the page above never reported it): a grey, italic note.
    assert re.search(r"<span style='font-style:italic;[^']*'>\(la página no recibe ningún evento\)</span>", shown)
    ruled = re.findall(r"<tr><td style='[^']*border-top[^']*'>(#\d)", shown)
    assert ruled == ["#2"]  # a line above the second socket, none above the first


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda tap: side_by_side(None, tap), "side_by_side(run, tap): run es lo que devuelve labkit.run_js"),
        (lambda tap: side_by_side(labkit.run_js(""), tap.url), "no RunJS y str"),
        (lambda tap: side_by_side(labkit.run_js(""), tap, timeout=0), "timeout debe ser un número de segundos"),
    ],
)
def test_mistakes_get_one_clear_sentence(call: Any, message: str) -> None:
    server = labkit.serve("echo", over="websocket")
    tap = labkit.tap(server.url)
    with pytest.raises(LabkitError, match=re.escape(message)):
        call(tap)
