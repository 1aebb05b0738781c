"""The decoder: exact bytes in, HTTP messages, frames and packets out, as data; garbage never raises."""

from __future__ import annotations

import inspect
import tracemalloc
import typing
import zlib

from hypothesis import given, settings
from hypothesis import strategies as st

from labkit.protocol import Frame, Opcode, apply_mask, encode, engineio
from labkit.protocol.engineio import decode_engineio
from labkit.wiretap import INFLATE_BUDGET, Chunk, HttpMessage, Note, Packet, Recording, Undecodable, WebSocketFrame
from labkit.wiretap.decode import NoteCode, Reason, decode
from tests.wiretap.helpers import (
    HEL,
    LO,
    MASKED_HELLO,
    SWITCHING,
    UNMASKED_HELLO,
    UPGRADE_REQUEST,
    C,
    S,
    compressed,
    deflated,
    recording,
    socketio_over_polling,
    socketio_over_websocket,
    upgraded,
)


def frames_of(rec: Recording) -> list[WebSocketFrame]:
    return [u for u in rec.messages() if isinstance(u, WebSocketFrame)]


# RFC 6455 §5.7 examples ---------------------------------------------------------------


def test_unmasked_hello_from_the_server() -> None:
    (frame,) = frames_of(upgraded((S, UNMASKED_HELLO)))
    assert (frame.fin, frame.opcode, frame.masked, frame.length) == (True, Opcode.TEXT, False, 5)
    assert frame.data == UNMASKED_HELLO and frame.message == "Hello" and frame.header_size == 2
    assert frame.direction == S and frame.offset == len(SWITCHING)


def test_masked_hello_shows_key_and_unmasked_payload() -> None:
    (frame,) = frames_of(upgraded((C, MASKED_HELLO)))
    assert frame.mask_key == bytes.fromhex("37fa213d")
    assert frame.payload == b"Hello" and frame.message == "Hello"
    assert apply_mask(frame.payload, frame.mask_key) == MASKED_HELLO[6:]
    assert frame.data == MASKED_HELLO and frame.header_size == 6 and frame.notes == ()


def test_fragmented_hello_is_reassembled_on_the_last_frame() -> None:
    first, last = frames_of(upgraded((S, HEL + LO)))
    assert (first.fin, first.opcode, first.payload, first.fragment, first.message) == (
        False,
        Opcode.TEXT,
        b"Hel",
        1,
        None,
    )
    assert (last.fin, last.opcode, last.payload, last.fragment, last.message) == (True, Opcode.CONT, b"lo", 2, "Hello")
    assert first.notes == last.notes == ()


def test_a_control_frame_between_fragments_does_not_break_the_message() -> None:
    ping = bytes.fromhex("89 00")
    _, middle, last = frames_of(upgraded((S, HEL + ping + LO)))
    assert (middle.opcode, middle.payload, middle.fragment, middle.message) == (Opcode.PING, b"", 0, None)
    assert last.message == "Hello"


def test_256_byte_and_64_kib_binary_headers() -> None:
    medium = bytes.fromhex("82 7E 01 00") + bytes(range(256))
    large = bytes.fromhex("82 7F 00 00 00 00 00 01 00 00") + b"\xab" * 65536
    one, two = frames_of(upgraded((S, medium), (S, large)))
    assert (one.opcode, one.header_size, one.length, one.message) == (Opcode.BINARY, 4, 256, bytes(range(256)))
    assert (two.header_size, two.length, len(two.data), two.message) == (10, 65536, 65546, b"\xab" * 65536)


def test_ping_and_masked_pong() -> None:
    ping = bytes.fromhex("89 05 48 65 6c 6c 6f")
    pong = bytes.fromhex("8a 85 37 fa 21 3d 7f 9f 4d 51 58")
    got_ping, got_pong = frames_of(upgraded((S, ping), (C, pong)))
    assert (got_ping.opcode, got_ping.payload, got_ping.message) == (Opcode.PING, b"Hello", None)
    assert (got_pong.opcode, got_pong.payload, got_pong.masked) == (Opcode.PONG, b"Hello", True)


def test_close_frames_with_code_reason_or_nothing() -> None:
    coded = bytes.fromhex("88 05 03 e8") + b"bye"
    bare = bytes.fromhex("88 00")
    odd = bytes.fromhex("88 01 03")  # one byte cannot hold a code (§5.5.1)
    one, two, three = frames_of(upgraded((C, coded), (S, bare), (S, odd)))
    assert (one.close_code, one.close_reason, one.notes) == (1000, "bye", ())
    assert (two.close_code, two.close_reason, two.notes) == (None, None, ())
    ((code, detail, _),) = three.notes
    assert three.close_code is None and code == "invalid_close" and "1 byte" in detail


def test_compressed_messages_are_inflated() -> None:
    deflater = zlib.compressobj(wbits=-15)
    body = deflater.compress(b"Hello") + deflater.flush(zlib.Z_SYNC_FLUSH)
    assert body.endswith(b"\x00\x00\xff\xff")
    payload = body[:-4]
    frame = bytes([0xC1, len(payload)]) + payload  # FIN, RSV1, text
    switching = SWITCHING.replace(b"\r\n\r\n", b"\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n")
    rec = recording((C, UPGRADE_REQUEST), (S, switching + frame))
    (got,) = frames_of(rec)
    assert got.rsv1 and got.message == "Hello" and got.notes == (Note("compressed"),)


MIB = 2**20


def inflated_sizes(frames: list[WebSocketFrame]) -> list[int | None]:
    return [None if f.message is None else len(f.message) for f in frames]


def test_inflation_is_bounded_per_recording_not_per_message() -> None:
    """§8 of issue 6: 650 KB of recording once grew to 657 MB; now the inflated total is bounded."""
    one_mib = compressed(bytes(MIB))  # a megabyte of zeros deflates to about a kilobyte
    assert len(one_mib) < 1100
    chunks = deflated([one_mib] * 2000)  # about 2 MB recorded, 2000 MiB once inflated
    tracemalloc.start()
    try:
        frames = [u for u in decode(chunks).units if isinstance(u, WebSocketFrame)]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    fits = INFLATE_BUDGET // MIB
    assert len(frames) == 2000 and fits == 16
    assert inflated_sizes(frames) == [MIB] * fits + [None] * (2000 - fits)
    assert all(f.notes == (Note("compressed"),) for f in frames[:fits])
    assert all(f.notes == (Note("not_inflated", size=INFLATE_BUDGET),) for f in frames[fits:])
    assert peak < 48 * MIB  # the budget, the frames' own bytes and one message being inflated


def test_the_budget_is_shared_by_every_connection_and_direction() -> None:
    one_mib = compressed(bytes(MIB))
    chunks = deflated([one_mib, one_mib]) + deflated([one_mib, one_mib], conn=2)
    frames = [u for u in decode(chunks, inflate_budget=3 * MIB).units if isinstance(u, WebSocketFrame)]
    assert [(f.conn, size) for f, size in zip(frames, inflated_sizes(frames), strict=True)] == [
        (1, MIB),
        (1, MIB),
        (2, MIB),
        (2, None),
    ]


def test_a_message_over_what_is_left_spends_the_budget_and_later_ones_stay_compressed() -> None:
    small = compressed(b"hola", Opcode.TEXT)
    chunks = deflated([compressed(bytes(MIB)), compressed(bytes(MIB)), small])
    frames = [u for u in decode(chunks, inflate_budget=MIB + MIB // 2).units if isinstance(u, WebSocketFrame)]
    assert inflated_sizes(frames) == [MIB, None, None]
    assert [f.notes for f in frames[1:]] == [(Note("not_inflated", size=MIB + MIB // 2),)] * 2
    last = decode(chunks, inflate_budget=3 * MIB).units[-1]
    assert isinstance(last, WebSocketFrame) and last.message == "hola"


def test_what_cannot_be_inflated_says_why_and_never_raises() -> None:
    broken = encode(Frame(True, Opcode.TEXT, b"\xff\xff\xff", rsv1=True))  # not deflate data
    hello = compressed(b"Hello", Opcode.TEXT)
    bad, after = [u for u in decode(deflated([broken, hello])).units if isinstance(u, WebSocketFrame)]
    ((code, detail, _),) = bad.notes
    assert (bad.message, code, after.message) == (None, "cannot_inflate", "Hello") and detail
    # With context takeover the window is lost with the broken message: the next one cannot be inflated.
    _, lost = [u for u in decode(deflated([broken, hello], takeover=True)).units if isinstance(u, WebSocketFrame)]
    assert (lost.message, lost.notes) == (None, (Note("window_lost"),))


def test_invalid_and_incomplete_frames_become_undecodable() -> None:
    reserved_opcode = bytes.fromhex("83 00")
    rec = upgraded((S, UNMASKED_HELLO + reserved_opcode + b"junk"), (C, MASKED_HELLO[:7]))
    units = rec.messages()
    bad = [u for u in units if isinstance(u, Undecodable)]
    assert [(u.direction, u.data) for u in bad] == [(S, reserved_opcode + b"junk"), (C, MASKED_HELLO[:7])]
    assert bad[0].reason == "invalid_frame" and "reserved opcode 0x3" in bad[0].detail
    assert (bad[1].reason, bad[1].have, bad[1].need) == ("incomplete_frame", 7, 11)


# HTTP/1.1 -------------------------------------------------------------------------------


def http_units(rec: Recording) -> list[HttpMessage]:
    return [u for u in rec.messages() if isinstance(u, HttpMessage)]


def test_keep_alive_requests_and_responses_alternate_on_one_connection() -> None:
    first_request = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nhola"
    first_response = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nhola"
    rec = recording(
        (C, first_request),
        (S, first_response),
        (C, b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n"),
        (S, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
    )
    units = http_units(rec)
    assert [(u.direction, u.start_line, u.body) for u in units] == [
        (C, "POST / HTTP/1.1", b"hola"),
        (S, "HTTP/1.1 200 OK", b"hola"),
        (C, "GET /b HTTP/1.1", b""),
        (S, "HTTP/1.1 200 OK", b"ok"),
    ]
    assert [u.offset for u in units] == [0, 0, len(first_request), len(first_response)]
    assert len(rec.messages()) == 4


def test_pipelined_requests_and_a_head_response_without_body() -> None:
    rec = recording(
        (C, b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"),
        (S, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"),
    )
    units = http_units(rec)
    assert [(u.start_line, u.body) for u in units] == [
        ("HEAD / HTTP/1.1", b""),
        ("GET / HTTP/1.1", b""),
        ("HTTP/1.1 200 OK", b""),
        ("HTTP/1.1 200 OK", b"hello"),
    ]


def test_chunked_and_close_delimited_bodies() -> None:
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nHel\r\n2;x=1\r\nlo\r\n0\r\n\r\n"
    rec = recording((C, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"), (S, chunked))
    assert http_units(rec)[1].body == b"Hello"
    rec = recording((C, b"GET / HTTP/1.0\r\n\r\n"), (S, b"HTTP/1.0 200 OK\r\n\r\nuntil the end"))
    assert http_units(rec)[1].body == b"until the end"


def test_101_and_frames_in_the_same_chunk() -> None:
    rec = recording((C, UPGRADE_REQUEST), (S, SWITCHING + UNMASKED_HELLO + UNMASKED_HELLO), (C, MASKED_HELLO))
    kinds = [(u.direction, u.kind) for u in rec.messages()]
    assert kinds == [(C, "HTTP request"), (S, "HTTP response"), (S, "frame"), (S, "frame"), (C, "frame")]


def test_a_refused_upgrade_stays_http() -> None:
    refusal = b"HTTP/1.1 426 Upgrade Required\r\nContent-Length: 0\r\n\r\n"
    rec = recording((C, UPGRADE_REQUEST), (S, refusal), (C, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
    assert [u.kind for u in rec.messages()] == ["HTTP request", "HTTP response", "HTTP request"]


def test_garbage_request_is_shown_raw_and_the_answer_still_decoded() -> None:
    answer = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 3\r\n\r\nno\n"
    rec = recording((C, b"\x16\x03\x01garbage\r\n\r\n"), (S, answer))
    garbage, response = rec.messages()
    assert isinstance(garbage, Undecodable) and garbage.reason == "not_http" and garbage.detail
    assert isinstance(response, HttpMessage) and response.start_line == "HTTP/1.1 400 Bad Request"


def test_incomplete_body_is_undecodable_not_lost() -> None:
    rec = recording((C, b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc"))
    (unit,) = rec.messages()
    assert isinstance(unit, Undecodable) and (unit.reason, unit.have, unit.need) == ("incomplete_body", 3, 10)


def test_units_follow_arrival_order_across_directions() -> None:
    push = bytes.fromhex("81 01 61")
    rec = upgraded((S, push), (C, MASKED_HELLO), (S, push + push))
    start_c, start_s = len(UPGRADE_REQUEST), len(SWITCHING)
    assert [(u.direction, u.offset) for u in rec.messages()[2:]] == [
        (S, start_s),
        (C, start_c),
        (S, start_s + 3),
        (S, start_s + 6),
    ]


def test_connections_come_in_number_order() -> None:
    rec = recording((C, b"GET /two HTTP/1.1\r\n\r\n"), conn=2)
    recording((C, b"GET /one HTTP/1.1\r\n\r\n"), conn=1, into=rec)
    assert [u.conn for u in rec.messages()] == [1, 2]


# Engine.IO and Socket.IO ----------------------------------------------------------------


def test_tap_packets_are_protocol_packets_seen_somewhere() -> None:
    decoded = decode_engineio('42["chat","hola"]')
    packet = Packet.of(decoded, 3, S)
    assert isinstance(packet, engineio.Packet)
    assert (packet.conn, packet.direction, packet.transport, packet.raw) == (3, S, "websocket", '42["chat","hola"]')
    assert (packet.socketio, packet.event, packet.args, packet.data) == ("event", "chat", ("hola",), decoded.data)


def fields(packet: Packet) -> tuple[object, ...]:
    return (packet.direction, packet.transport, packet.engineio, packet.socketio, packet.ack_id, packet.data)


def test_socketio_over_websocket_frames() -> None:
    rec = socketio_over_websocket()
    assert [fields(p) for p in rec.packets()] == [
        (S, "websocket", "open", None, None, {"sid": "a"}),
        (C, "websocket", "message", "connect", None, None),
        (S, "websocket", "message", "connect", None, {"sid": "b"}),
        (C, "websocket", "message", "event", 1, ["echo", "x"]),
        (S, "websocket", "message", "ack", 1, ["x"]),
        (S, "websocket", "ping", None, None, None),
        (C, "websocket", "pong", None, None, None),
        (S, "websocket", "message", "binary_event", None, ["up", {"_placeholder": True, "num": 0}]),
        (S, "websocket", "message", "attachment", None, None),
    ]
    assert rec.packets()[-1].payload == b"\xff\xee" and rec.packets()[-2].attachments == 1
    assert all(isinstance(p, Packet) and p.conn == 1 for p in rec.packets())


def test_socketio_long_polling_bodies() -> None:
    assert [fields(p) for p in socketio_over_polling().packets()] == [
        (S, "polling", "open", None, None, {"sid": "a"}),
        (C, "polling", "message", "connect", None, None),
        (S, "polling", "message", "connect", None, {"sid": "b"}),
        (S, "polling", "message", "event", None, ["hi"]),
    ]


def test_plain_websocket_paths_carry_no_packets() -> None:
    assert upgraded((S, bytes([0x81, 0x02]) + b"40")).packets() == []


# Garbage never raises ---------------------------------------------------------------------

_PIECES = [UPGRADE_REQUEST, SWITCHING, MASKED_HELLO, UNMASKED_HELLO, HEL, LO, b"\r\n", b"\x88\x01\x03", b"\x7f"]


@st.composite
def chunk_lists(draw: st.DrawFn) -> list[Chunk]:
    pieces = st.one_of(st.binary(max_size=40), st.sampled_from(_PIECES))
    items = draw(
        st.lists(st.tuples(st.integers(1, 3), st.sampled_from([C, S]), pieces), max_size=12),
    )
    return [Chunk(conn, d, float(i), data) for i, (conn, d, data) in enumerate(items) if data]


@settings(max_examples=150, deadline=None)
@given(chunk_lists())
def test_decoding_any_bytes_never_raises_and_keeps_every_byte(chunks: list[Chunk]) -> None:
    decoded = decode(chunks)
    for conn in {c.conn for c in chunks}:
        for direction in (C, S):
            sent = b"".join(c.data for c in chunks if c.conn == conn and c.direction == direction)
            units = sorted(
                (u for u in decoded.units if u.conn == conn and u.direction == direction), key=lambda u: u.offset
            )
            assert b"".join(u.data for u in units) == sent
    reasons, notes = typing.get_args(Reason), typing.get_args(NoteCode)
    for unit in decoded.units:
        if isinstance(unit, Undecodable):
            assert unit.reason in reasons
        if isinstance(unit, WebSocketFrame):
            assert all(note.code in notes for note in unit.notes)


def test_decoding_and_display_do_no_io() -> None:
    """Like labkit.protocol, the decoder and the views are pure: bytes in, objects and text out."""
    import ast
    import importlib

    for name in ("decode", "display"):
        module = importlib.import_module(f"labkit.wiretap.{name}")
        tree = ast.parse(inspect.getsource(module))
        imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert not imported & {"socket", "asyncio", "threading", "selectors"}, name
