"""labkit compare: the figures obey the protocols, and come from the wire.

Runs are small and bounded (10 updates at 20 per second, about half a second per transport);
nothing here checks a speed, only figures measured side by side in one run.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Iterator

import numpy
import pytest

import labkit
from labkit import cli
from labkit.browser import find_chromium
from labkit.compare import (
    TRANSPORTS,
    Comparison,
    Receipt,
    Reception,
    TransportFigures,
    WireCount,
    compare,
    count_wire,
    next_poll,
    published_json,
)
from labkit.errors import LabkitError
from labkit.i18n import using
from labkit.protocol.frames import Opcode
from labkit.protocol.http11 import Request
from labkit.record import CLIENT_TO_SERVER, SERVER_TO_CLIENT
from labkit.wiretap import HttpMessage, Recording, WebSocketFrame

UPDATES, RATE = 10, 20.0
#: The keys ``labkit compare --json`` promises in each object (more may follow).
CONTRACT = {
    "transport",
    "connections",
    "requests",
    "bytes_up",
    "bytes_down",
    "overhead_per_update",
    "latency_ms_median",
    "latency_ms_p95",
    "lost",
}


@pytest.fixture(scope="module")
def python_run() -> Comparison:
    return compare(updates=UPDATES, rate=RATE, progress=False)


def update_frames(recording: Recording) -> list[WebSocketFrame]:
    """The frames server → client that carry an update (WebSocket, or Socket.IO events)."""
    return [
        unit
        for unit in recording.messages()
        if isinstance(unit, WebSocketFrame)
        and unit.direction == SERVER_TO_CLIENT
        and unit.opcode == Opcode.TEXT
        and isinstance(unit.message, str)
        and '"seq"' in unit.message
    ]


def requests(recording: Recording) -> list[HttpMessage]:
    return [u for u in recording.messages() if isinstance(u, HttpMessage) and u.kind == "HTTP request"]


def target(request: HttpMessage) -> str:
    """The request line's target (path and query) of a message from :func:`requests`."""
    assert isinstance(request.head, Request)
    return request.head.target


# One run of Python clients ------------------------------------------------------------------


def test_no_transport_loses_or_repeats_an_update_at_this_rate(python_run: Comparison) -> None:
    assert [row.transport for row in python_run.rows] == list(TRANSPORTS)
    for row in python_run.rows:
        assert (row.delivered, row.lost, row.duplicated) == (UPDATES, 0, 0), row
        assert len(row.latencies_ms) == UPDATES and all(latency >= 0 for latency in row.latencies_ms), row


def test_websocket_is_one_connection_one_handshake_and_two_bytes_of_framing_per_update(
    python_run: Comparison,
) -> None:
    row, wire = python_run["websocket"], python_run.wire("websocket")
    assert (row.connections, row.requests) == (1, 1)
    frames = update_frames(wire)
    assert len(frames) == UPDATES
    for frame in frames:  # RFC 6455 §5.2: FIN + text, unmasked (server to client), 7-bit length, the JSON
        payload = published_json(json.loads(frame.payload))
        assert frame.data == b"\x81" + bytes([len(payload)]) + payload
    framing = sum(len(f.data) - len(f.payload) for f in frames) / UPDATES
    assert framing == 2 <= 8
    assert row.payload_bytes == sum(len(f.payload) for f in frames)


def test_server_sent_events_are_one_connection_and_one_request(python_run: Comparison) -> None:
    row = python_run["sse"]
    assert (row.connections, row.requests) == (1, 1)
    (request,) = requests(python_run.wire("sse"))
    assert request.head.headers.get("Accept") == "text/event-stream"


def test_new_connection_polling_opens_one_connection_per_request(python_run: Comparison) -> None:
    row, wire = python_run["polling-new-connection"], python_run.wire("polling-new-connection")
    assert row.connections == row.requests >= UPDATES // 2
    assert [r.conn for r in requests(wire)] == list(range(1, row.requests + 1))
    assert all(r.head.headers.get("Connection") == "close" for r in requests(wire))
    answers = [u for u in wire.messages() if isinstance(u, HttpMessage) and u.kind == "HTTP response"]
    assert [u.head.headers.get("Connection") for u in answers] == ["close"] * row.requests  # RFC 9112 §9.6


def test_kept_alive_polling_and_long_polling_use_one_connection(python_run: Comparison) -> None:
    for transport, asks in (("polling", "/app?after="), ("long-polling", "&wait=30")):
        row = python_run[transport]
        assert row.connections == 1 and row.requests >= UPDATES // 2, row
        assert all(asks in target(r) for r in requests(python_run.wire(transport))), transport


def test_socketio_requests_are_its_handshakes_on_the_wire(python_run: Comparison) -> None:
    row, wire = python_run["socketio"], python_run.wire("socketio")
    targets = [target(r) for r in requests(wire)]
    assert row.requests == len(targets) >= 2 and all(t.startswith("/socket.io/") for t in targets)
    assert "transport=polling" in targets[0] and any("transport=websocket" in t for t in targets)
    events = [f for f in update_frames(wire) if isinstance(f.message, str) and f.message.startswith('42["update",')]
    assert len(events) == UPDATES  # after the upgrade, each update is one Socket.IO event in one frame


def test_websocket_delivers_sooner_than_polling_at_the_same_rate(python_run: Comparison) -> None:
    websocket, polling = python_run["websocket"], python_run["polling"]
    assert websocket.latency_ms_median is not None and polling.latency_ms_median is not None
    assert websocket.latency_ms_median < polling.latency_ms_median


def test_bytes_and_overhead_are_the_taps_counts(python_run: Comparison) -> None:
    """Python clients load no page: every byte through the tap is the transport's."""
    for row in python_run.rows:
        connections = python_run.wire(row.transport).connections()
        assert row.bytes_up == sum(c.to_server for c in connections) > 0
        assert row.bytes_down == sum(c.to_client for c in connections) > row.payload_bytes
        assert row.overhead_per_update == round((row.bytes_up + row.bytes_down - row.payload_bytes) / UPDATES, 1)
        assert 40 * UPDATES <= row.payload_bytes <= 100 * UPDATES
    overhead = {row.transport: row.overhead_per_update or math.inf for row in python_run.rows}
    assert overhead["websocket"] < overhead["polling"]


# The figures, computed ----------------------------------------------------------------------


def test_published_json_is_the_update_as_the_feed_sent_it() -> None:
    update = {"seq": 7, "t": 1700000000123, "price": "102.59", "id": 7}  # "t" as JavaScript hands it back
    assert published_json(update) == b'{"seq": 7, "t": 1700000000123.0, "price": "102.59"}'


def test_next_poll_is_half_an_interval_after_a_publication() -> None:
    assert next_poll(now=10.0, anchor=10.0, interval=0.1) == pytest.approx(10.05)
    assert next_poll(now=10.06, anchor=10.0, interval=0.1) == pytest.approx(10.15)
    assert next_poll(now=10.149, anchor=10.0, interval=0.1) == pytest.approx(10.15)
    assert next_poll(now=9.0, anchor=10.0, interval=0.5) == pytest.approx(9.25)


def test_lost_duplicated_and_latency_from_the_clients_first_request() -> None:
    payload = 50
    receipts = [
        Receipt(1, published_ms=1000.0, received_ms=1030.0, payload=payload),  # before the client asked (1020)
        Receipt(2, published_ms=1100.0, received_ms=1101.0, payload=payload),
        Receipt(2, published_ms=1100.0, received_ms=1150.0, payload=payload),  # again
        Receipt(4, published_ms=1300.0, received_ms=1304.0, payload=payload),
    ]
    wire = WireCount(connections=1, requests=1, bytes_up=100, bytes_down=300)
    row = TransportFigures.of("websocket", "python", 4, wire, Reception(1020.0, receipts))
    assert (row.delivered, row.lost, row.duplicated, row.payload_bytes) == (3, 1, 1, 150)
    assert row.latencies_ms == (10.0, 1.0, 4.0)
    assert (row.latency_ms_median, row.latency_ms_p95) == (4.0, 9.4)  # inclusive: 4 + 0.9 × (10 − 4)
    assert row.overhead_per_update == round((400 - 150) / 3, 1)
    nothing = TransportFigures.of("sse", "python", 4, wire, Reception(0.0, []))
    assert (nothing.lost, nothing.overhead_per_update, nothing.latency_ms_median) == (4, None, None)


def exchange(recording: Recording, request: bytes, response: bytes, conn: int) -> None:
    recording.add(conn, CLIENT_TO_SERVER, request)
    recording.add(conn, SERVER_TO_CLIENT, response)


def test_count_wire_leaves_out_the_page_and_connections_that_carried_only_the_page() -> None:
    page_get = b"GET /?transport=polling HTTP/1.1\r\nHost: x\r\n\r\n"
    page = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n<p>a>"
    poll = b"GET /app?after=0 HTTP/1.1\r\nHost: x\r\n\r\n"
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]"
    script_get = b"GET /labkit/socket.io.min.js HTTP/1.1\r\nHost: x\r\n\r\n"
    recording = Recording()
    first, second, idle = (recording.open_connection() for _ in range(3))
    exchange(recording, page_get, page, first)
    exchange(recording, poll, answer, first)  # the page's connection, kept alive for a poll
    exchange(recording, script_get, page, second)
    for conn in (first, second, idle):
        recording.close_connection(conn)
    assert count_wire(recording, "/app") == WireCount(1, 1, len(poll), len(answer))
    everything = WireCount(2, 3, len(page_get + poll + script_get), len(page + answer + page))
    assert count_wire(recording, "/") == everything


def test_count_wire_counts_an_upgrade_and_what_follows_it() -> None:
    upgrade = b"GET /feed HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    switched = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    recording = Recording()
    conn = recording.open_connection()
    exchange(recording, upgrade, switched + b"\x81\x02hi", conn)
    assert count_wire(recording, "/feed") == WireCount(1, 1, len(upgrade), len(switched) + 4)


# Showing them -------------------------------------------------------------------------------


def figures(transport: str, median: float | None) -> TransportFigures:
    return TransportFigures(transport, "python", 2, 2, 1, 3, 300, 500, 100, 350.0, median, median, 0, 0, (1.0, 2.0))


@pytest.fixture
def made_up() -> Comparison:
    rows = [figures("polling", 25.0), figures("websocket", 0.5), figures("sse", None)]
    return Comparison(rows, updates=2, rate=10.0, recordings={})


def test_the_table_speaks_the_lessons_language(made_up: Comparison) -> None:
    with using("es"):
        spanish = made_up.text()
        html = made_up._repr_html_()
    assert spanish.splitlines()[0].startswith("2 actualizaciones a 10 por segundo; cliente: Python")
    assert spanish.splitlines()[1].split()[:3] == ["transporte", "conexiones", "peticiones"]
    assert spanish.splitlines()[2].split() == ["polling", "1", "3", "300", "500", "350.0", "25.0", "25.0", "0", "0"]
    assert spanish.splitlines()[4].split()[6:8] == ["–", "–"]
    assert "<th" in html and "latencia mediana ms" in html and "<td" in html
    english = made_up.text()
    assert english.splitlines()[1].split()[:3] == ["transport", "connections", "requests"]


def test_to_json_has_the_contracts_keys_for_each_transport(made_up: Comparison) -> None:
    objects = made_up.to_json()
    assert [o["transport"] for o in objects] == ["polling", "websocket", "sse"]
    assert all(CONTRACT <= set(o) for o in objects)
    assert objects[2]["latency_ms_median"] is None
    assert json.loads(json.dumps(objects)) == objects


def test_plot_shows_bytes_and_latency_on_log_scales_in_the_lessons_language(made_up: Comparison) -> None:
    with using("es"):
        figure = made_up.plot()
    size, delay = figure.axes[:2]
    assert size.get_xscale() == delay.get_xscale() == "log"
    assert size.get_xlabel() == "bytes por actualización (escala log)"
    assert delay.get_xlabel() == "latencia en ms (escala log)"
    legend = size.get_legend()
    assert legend is not None and [t.get_text() for t in legend.get_texts()] == ["carga útil", "bytes en el cable"]
    payloads = numpy.asarray(size.lines[0].get_xdata())
    assert payloads[0] == 50.0  # the payload per update: 100 bytes over 2 updates
    assert [label.get_text() for label in size.get_yticklabels()] == ["polling", "websocket", "sse"]


@pytest.mark.parametrize("progress", [False, True])
def test_a_run_leaves_no_thread_behind(progress: bool) -> None:
    """A lesson ends with labkit.leftovers(): tqdm's monitor thread, never stopped, would show there."""
    before = set(threading.enumerate())
    compare(updates=2, rate=50, transports=["websocket"], progress=progress)
    deadline = time.monotonic() + 2
    while (started := [t.name for t in threading.enumerate() if t not in before]) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert started == []
    assert "tqdm_monitor" not in {t.name for t in threading.enumerate()}  # nor by an earlier run


# Mistakes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"updates": 0}, "updates must be a whole number from 1 to 10000"),
        ({"updates": 10_001}, "updates must be"),
        ({"updates": 2.5}, "updates must be"),
        ({"rate": 0.05}, "rate must be a number of times per second from 0.1 to 100"),
        ({"rate": 101}, "rate must be"),
        ({"rate": float("nan")}, "rate must be"),
        ({"transports": ["carrier-pigeon"]}, "transports must be a list of strings from polling"),
        ({"browser": "yes"}, "browser must be True or False"),
        ({"progress": 1}, "progress must be True or False"),
    ],
)
def test_bad_options_are_one_clear_error_before_anything_starts(options: dict[str, object], words: str) -> None:
    with pytest.raises(LabkitError, match=words):
        compare(**options)  # type: ignore[arg-type]
    assert labkit.running() == []


@pytest.mark.parametrize(
    "args",
    [
        ["--updates", "0"],
        ["--updates", "10001"],
        ["--updates", "diez"],
        ["--updates", "٨"],
        ["--rate", "0.05"],
        ["--rate", "101"],
        ["--rate", "nan"],
        ["--rate", "-1"],
        ["--rate", "1e3"],
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["compare", *args]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("labkit: ") and "Traceback" not in err
    assert ("updates" if args[0] == "--updates" else "rate") in err


def test_cli_browser_without_chromium_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("labkit.browser.find_chromium", lambda: None)
    assert cli.main(["compare", "--browser"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "needs Chromium" in err


def test_cli_json_is_the_last_line_one_object_per_transport(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["compare", "--updates", "4", "--rate", "40", "--json"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    objects = json.loads(lines[-1])
    assert [o["transport"] for o in objects] == list(TRANSPORTS)
    assert all(CONTRACT <= set(o) and o["lost"] == 0 for o in objects)
    assert lines[0].startswith("4 updates at 40 per second; client: Python")
    assert [line.split()[0] for line in lines[2:-1]] == list(TRANSPORTS)


# A real browser -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser_run() -> Iterator[Comparison]:
    if find_chromium() is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the browser tests: python3 dev.py setup installs Chromium", pytrace=False)
        pytest.skip("no Chromium here (python3 dev.py setup installs it on Debian as root)")
    yield compare(updates=UPDATES, rate=RATE, browser=True, progress=False)


def test_in_chromium_the_figures_obey_the_protocols_and_leave_the_page_out(browser_run: Comparison) -> None:
    assert all((row.client, row.lost, row.duplicated) == ("chromium", 0, 0) for row in browser_run.rows)
    websocket = browser_run["websocket"]
    assert (websocket.connections, websocket.requests) == (1, 1)
    frames = update_frames(browser_run.wire("websocket"))
    assert len(frames) == UPDATES and all(f.data[:2] == b"\x81" + bytes([len(f.payload)]) for f in frames)
    assert (browser_run["sse"].connections, browser_run["sse"].requests) == (1, 1)
    fresh = browser_run["polling-new-connection"]
    assert fresh.connections == fresh.requests >= UPDATES // 2
    assert websocket.latency_ms_median is not None and browser_run["polling"].latency_ms_median is not None
    assert websocket.latency_ms_median < browser_run["polling"].latency_ms_median
    for transport in ("polling", "sse"):
        sent = requests(browser_run.wire(transport))
        page = [r for r in sent if target(r).startswith(f"/?transport={transport}&")]
        asked = [r for r in sent if r not in page]
        assert len(page) == 1  # on the wire, left out of the figures
        assert browser_run[transport].requests == len(asked)
        assert all(target(r).startswith("/app") for r in asked)
        assert all("Mozilla/5.0" in (r.head.headers.get("User-Agent") or "") for r in asked)
