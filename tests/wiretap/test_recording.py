"""The recording: bytes per connection and direction, bounded, with who closed first."""

from __future__ import annotations

from labkit.i18n import Text, using
from labkit.wiretap import Recording, WebSocketFrame
from labkit.wiretap.display import describe
from tests.wiretap.helpers import MASKED_HELLO, C, S, compressed, deflated, recording, upgraded


def test_streams_are_per_connection_and_direction() -> None:
    rec = recording((C, b"ab"), (S, b"1"), (C, b"cd"))
    recording((C, b"zz"), conn=2, into=rec)
    assert rec.stream(1, C) == b"abcd" and rec.stream(1, S) == b"1" and rec.stream(2, C) == b"zz"
    assert [(c.conn, c.direction, c.data) for c in rec.chunks()] == [
        (1, C, b"ab"),
        (1, S, b"1"),
        (1, C, b"cd"),
        (2, C, b"zz"),
    ]
    assert [c.data for c in rec.chunks(2)] == [b"zz"]
    times = [c.time for c in rec.chunks()]
    assert times == sorted(times) and times[0] >= 0
    info = rec.connections()[0]
    assert (info.conn, info.to_server, info.to_client, info.closed) == (1, 4, 1, None)


def test_who_closed_first_is_whoever_ended_sending_first() -> None:
    rec = Recording()
    for _ in range(3):
        rec.open_connection()
    rec.end(1, S)
    rec.end(1, C)
    rec.end(2, C)
    rec.close_connection(1)
    rec.close_connection(2)
    rec.close_connection(3, "cannot reach the server")
    rec.close_connection(3, "again")  # only the first close counts
    assert [c.closed_by for c in rec.connections()] == ["server", "client", "tap"]
    assert rec.errors == ["connection 3: cannot reach the server"]
    rec.error(Text("detenerlo tardó más de 3 s", "stopping took over 3 s"))
    assert rec.errors[-1] == "stopping took over 3 s"
    with using("es"):
        assert rec.errors == ["conexión 3: cannot reach the server", "detenerlo tardó más de 3 s"]


def test_memory_is_bounded_to_the_first_bytes_and_the_rest_is_counted() -> None:
    rec = Recording(max_bytes=10)
    rec.open_connection()
    rec.add(1, C, b"0123456")
    rec.add(1, S, b"abcdef")
    rec.add(1, C, b"more")
    assert rec.stream(1, C) == b"0123456" and rec.stream(1, S) == b"abc"
    assert rec.dropped == 7
    info = rec.connections()[0]
    assert (info.to_server, info.to_client, info.dropped) == (11, 6, 7)
    assert "7 bytes not kept: the recording stops at 10 bytes" in repr(rec.summary())
    with using("es"):
        assert "7 bytes sin guardar: la grabación se detiene en 10 bytes" in repr(rec.summary())


def test_decoding_is_cached_until_new_bytes_arrive() -> None:
    rec = upgraded()
    first = rec.decoded()
    assert rec.decoded() is first
    rec.add(1, C, MASKED_HELLO)
    assert rec.decoded() is not first and describe(rec.messages()[-1]) == "text 'Hello'"


def test_each_decode_has_the_whole_inflation_budget() -> None:
    """The budget bounds one decode of the recording; decoding again after new bytes starts afresh."""
    rec = Recording(inflate_budget=2**20)
    rec.open_connection()
    one_mib = compressed(bytes(2**20))
    for chunk in deflated([one_mib]):
        rec.add(1, chunk.direction, chunk.data)
    for _ in range(2):
        frames = [u for u in rec.messages() if isinstance(u, WebSocketFrame)]
        assert frames[0].message == bytes(2**20) and all(f.message is None for f in frames[1:])
        rec.add(1, S, one_mib)  # over the budget: shown compressed, and the first stays inflated


def test_a_recording_shows_summary_diagram_table_and_dump() -> None:
    rec = upgraded((C, MASKED_HELLO))
    text = repr(rec)
    assert text.startswith("tap: 1 connection, 172 bytes C→S, 129 bytes S→C\n")
    assert "sequenceDiagram" in text and "FIN=1 opcode=1 (text) MASK=1 len=5 key=37fa213d → 'Hello'" in text
    markdown = rec._repr_markdown_()
    assert "```mermaid\nsequenceDiagram" in markdown and "| # | conn |" in markdown
