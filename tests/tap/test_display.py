"""The views: exact text for a known exchange, and the same text for the same traffic."""

from __future__ import annotations

from hypothesis import given, settings

from labkit.tap import Chunk, Recording, decode
from labkit.tap.display import FrameTable, Hexdump, SequenceDiagram, Summary, Timeline
from tests.tap.helpers import HEL, LO, MASKED_HELLO, UNMASKED_HELLO, C, S, recording, upgraded
from tests.tap.test_decode import chunk_lists

CLOSE_1000 = bytes.fromhex("88 02 03 e8")
MASKED_CLOSE_1000 = bytes.fromhex("88 82 00 00 00 00 03 e8")


def echo_exchange() -> Recording:
    return upgraded((C, MASKED_HELLO), (S, UNMASKED_HELLO), (C, MASKED_CLOSE_1000), (S, CLOSE_1000))


def test_mermaid_sequence_of_a_websocket_echo_is_exact() -> None:
    assert repr(echo_exchange().sequence()) == "\n".join(
        [
            "sequenceDiagram",
            "    participant C as Client",
            "    participant S as Server",
            "    Note over C,S: connection 1",
            "    C->>S: GET /chat HTTP/1.1 (Upgrade: websocket)",
            "    S->>C: HTTP/1.1 101 Switching Protocols (Upgrade: websocket)",
            "    C->>S: text 'Hello' (masked)",
            "    S->>C: text 'Hello'",
            "    C->>S: close 1000 (normal) (masked)",
            "    S->>C: close 1000 (normal)",
        ]
    )
    markdown = echo_exchange().sequence()._repr_markdown_()
    assert markdown.startswith("```mermaid\nsequenceDiagram\n") and markdown.endswith("\n```")


def test_mermaid_escapes_what_would_break_the_diagram() -> None:
    text = bytes([0x81, 0x0B]) + b"a;b#c<d>e\nf"
    (line,) = [ln for ln in repr(upgraded((S, text)).sequence()).splitlines() if "text" in ln]
    assert line == "    S->>C: text 'a#59;b#35;c#lt;d#gt;e\\nf'"
    polling = recording(
        (C, b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\n\r\n"),
        (S, b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n2\x1e3\x1e40"),
    )
    assert repr(polling.sequence()).splitlines()[-1] == (
        "    S->>C: HTTP/1.1 200 OK<br/>Engine.IO ping<br/>Engine.IO pong<br/>Engine.IO message / Socket.IO connect"
    )
    assert repr(SequenceDiagram([])).endswith("Note over C,S: no traffic recorded")


def test_hexdump_annotates_each_frame_and_message() -> None:
    dump = repr(upgraded((C, MASKED_HELLO), (S, HEL + LO)).hexdump(conn=1))
    blocks = dump.split("\n\n")
    assert blocks[0].startswith(
        "conn 1 C→S  HTTP request: GET /chat HTTP/1.1 · 5 header fields, no body\n  0000  47 45 54"
    )
    assert blocks[2] == (
        "conn 1 C→S  FIN=1 opcode=1 (text) MASK=1 len=5 key=37fa213d → 'Hello'\n"
        "  00a1  81 85 37 fa 21 3d 7f 9f 4d 51 58                 ..7.!=..MQX"
    )
    assert blocks[3] == (
        "conn 1 S→C  FIN=0 opcode=1 (text) MASK=0 len=3 → 'Hel'\n"
        "  0081  01 03 48 65 6c                                   ..Hel"
    )
    assert blocks[4].startswith("conn 1 S→C  FIN=1 opcode=0 (continuation) MASK=0 len=2 → 'lo'\n")
    assert repr(Hexdump([])) == "(no traffic recorded)"


def test_hexdump_shows_packets_and_cuts_long_units() -> None:
    big = bytes.fromhex("82 7E 01 00") + bytes(256)
    dump = repr(upgraded((S, big)).hexdump(limit=32))
    assert dump.endswith(
        "  0091  00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00  ................\n  … 228 more bytes"
    )
    polled = recording(
        (C, b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\n\r\n"),
        (S, b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n6"),
    )
    assert "\n    = Engine.IO noop\n" in repr(polled.hexdump())


def test_frame_table_text_and_html() -> None:
    table = echo_exchange().frames()
    lines = repr(table).splitlines()
    assert lines[0].split() == [
        "#",
        "conn",
        "dir",
        "kind",
        "fin",
        "opcode",
        "masked",
        "key",
        "len",
        "payload",
        "meaning",
    ]
    assert lines[3].split() == [
        "3",
        "1",
        "C→S",
        "frame",
        "1",
        "1",
        "text",
        "yes",
        "37fa213d",
        "5",
        "'Hello'",
        "text",
        "'Hello'",
    ]
    assert lines[4].split()[6:10] == ["text", "no", "5", "'Hello'"]
    assert len(table) == 6
    html = table._repr_html_()
    assert html.startswith("<table><thead><tr><th>#</th>") and "&#x27;Hello&#x27;" in html
    assert repr(FrameTable([])) == "(no traffic recorded)"


def test_undecodable_bytes_appear_in_every_view() -> None:
    rec = recording((C, b"\x00\x01garbage\r\n\r\n"))
    assert "undecodable" in repr(rec.frames())
    assert "C->>S: 13 undecodable bytes" in repr(rec.sequence())
    assert repr(rec.hexdump()).startswith("conn 1 C→S  undecodable: 13 bytes: not HTTP:")


def test_summary_counts_connections_bytes_and_contents() -> None:
    rec = echo_exchange()
    recording((C, b"GET / HTTP/1.1\r\n\r\n"), conn=2, into=rec)
    assert repr(rec.summary("running")).splitlines() == [
        "tap (running): 2 connections, 198 bytes C→S, 140 bytes S→C",
        "  conn 1: 180 bytes C→S, 140 bytes S→C · 1 HTTP request, 1 HTTP response, 4 WebSocket frames",
        "  conn 2: 18 bytes C→S, 0 bytes S→C · 1 HTTP request",
    ]
    assert rec.summary()._repr_html_().startswith("<b>tap: 2 connections")


def test_timeline_shows_times_and_connection_events() -> None:
    rec = echo_exchange()
    rec.close_connection(1)
    lines = repr(rec.timeline()).splitlines()
    assert lines[0] == "  time (s)  conn  dir  what"
    assert lines[1].endswith("   1       opened") and lines[-1].endswith("   1       closed by tap")
    assert "C→S  frame: text 'Hello'" in lines[4]
    assert repr(Timeline([], [])) == "(nothing happened yet)"


def test_the_same_traffic_shows_the_same_whatever_the_times() -> None:
    exchange = [(C, MASKED_HELLO), (S, UNMASKED_HELLO)]
    a, b = upgraded(*exchange), upgraded(*exchange)
    b.start -= 1000.0  # another run, other times
    for view in ("hexdump", "frames", "sequence", "summary"):
        assert repr(getattr(a, view)()) == repr(getattr(b, view)())
    assert repr(a) == repr(b) and a._repr_markdown_() == b._repr_markdown_()


@settings(max_examples=75, deadline=None)
@given(chunk_lists())
def test_every_view_of_any_bytes_renders(chunks: list[Chunk]) -> None:
    units = decode(chunks).units
    for view in (Hexdump(units), FrameTable(units), SequenceDiagram(units)):
        assert repr(view)
    assert FrameTable(units)._repr_html_() and FrameTable(units).markdown()
    assert repr(Summary([], units, 0, 1, []))
