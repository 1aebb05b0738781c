"""The decoder: exact bytes in, HTTP messages, frames and packets out; garbage never raises."""

from __future__ import annotations

import base64
import inspect

from hypothesis import given, settings
from hypothesis import strategies as st

from labkit.protocol import Opcode, apply_mask
from labkit.tap import Chunk, HttpMessage, Packet, Undecodable, WebSocketFrame, decode
from labkit.tap.decode import decode_engineio, decode_polling_payload, decode_socketio
from tests.tap.helpers import (
    HEL,
    LO,
    MASKED_HELLO,
    SWITCHING,
    UNMASKED_HELLO,
    UPGRADE_REQUEST,
    C,
    S,
    recording,
    upgraded,
)


def frames_of(rec: object) -> list[WebSocketFrame]:
    return [u for u in rec.messages() if isinstance(u, WebSocketFrame)]  # type: ignore[attr-defined]


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
    assert frame.data == MASKED_HELLO and frame.header_size == 6
    assert frame.annotation == "FIN=1 opcode=1 (text) MASK=1 len=5 key=37fa213d → 'Hello'"


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
    assert first.summary == "text fragment 1 'Hel'"
    assert last.summary == "fragment 2, end of message 'Hello'"


def test_a_control_frame_between_fragments_does_not_break_the_message() -> None:
    ping = bytes.fromhex("89 00")
    _, middle, last = frames_of(upgraded((S, HEL + ping + LO)))
    assert middle.opcode == Opcode.PING and middle.summary == "ping"
    assert last.message == "Hello"


def test_256_byte_and_64_kib_binary_headers() -> None:
    medium = bytes.fromhex("82 7E 01 00") + bytes(range(256))
    large = bytes.fromhex("82 7F 00 00 00 00 00 01 00 00") + b"\xab" * 65536
    one, two = frames_of(upgraded((S, medium), (S, large)))
    assert (one.opcode, one.header_size, one.length, one.message) == (Opcode.BINARY, 4, 256, bytes(range(256)))
    assert (two.header_size, two.length, len(two.data)) == (10, 65536, 65546)
    assert two.summary == "binary ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab … (65536 bytes)"


def test_ping_and_masked_pong() -> None:
    ping = bytes.fromhex("89 05 48 65 6c 6c 6f")
    pong = bytes.fromhex("8a 85 37 fa 21 3d 7f 9f 4d 51 58")
    got_ping, got_pong = frames_of(upgraded((S, ping), (C, pong)))
    assert (got_ping.opcode, got_ping.payload, got_ping.summary) == (Opcode.PING, b"Hello", "ping 'Hello'")
    assert (got_pong.opcode, got_pong.payload, got_pong.masked) == (Opcode.PONG, b"Hello", True)


def test_close_frames_with_code_reason_or_nothing() -> None:
    coded = bytes.fromhex("88 05 03 e8") + b"bye"
    bare = bytes.fromhex("88 00")
    odd = bytes.fromhex("88 01 03")  # one byte cannot hold a code (§5.5.1)
    one, two, three = frames_of(upgraded((C, coded), (S, bare), (S, odd)))
    assert (one.close_code, one.close_reason, one.summary) == (1000, "bye", "close 1000 (normal) 'bye'")
    assert (two.close_code, two.summary) == (None, "close (no status code)")
    assert three.close_code is None and "invalid close payload" in three.note


def test_compressed_messages_are_inflated() -> None:
    import zlib

    deflater = zlib.compressobj(wbits=-15)
    body = deflater.compress(b"Hello") + deflater.flush(zlib.Z_SYNC_FLUSH)
    assert body.endswith(b"\x00\x00\xff\xff")
    payload = body[:-4]
    frame = bytes([0xC1, len(payload)]) + payload  # FIN, RSV1, text
    switching = SWITCHING.replace(b"\r\n\r\n", b"\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n")
    rec = recording((C, UPGRADE_REQUEST), (S, switching + frame))
    (got,) = frames_of(rec)
    assert got.rsv1 and got.message == "Hello" and got.summary == "text 'Hello' (compressed)"


def test_invalid_and_incomplete_frames_become_undecodable() -> None:
    reserved_opcode = bytes.fromhex("83 00")
    rec = upgraded((S, UNMASKED_HELLO + reserved_opcode + b"junk"), (C, MASKED_HELLO[:7]))
    units = rec.messages()
    bad = [u for u in units if isinstance(u, Undecodable)]
    assert [(u.direction, u.data) for u in bad] == [(S, reserved_opcode + b"junk"), (C, MASKED_HELLO[:7])]
    assert "reserved opcode 0x3" in bad[0].reason
    assert bad[1].reason == "incomplete frame: 7 of 11 bytes"


# HTTP/1.1 -------------------------------------------------------------------------------


def http_units(rec: object) -> list[HttpMessage]:
    return [u for u in rec.messages() if isinstance(u, HttpMessage)]  # type: ignore[attr-defined]


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
    assert isinstance(garbage, Undecodable) and garbage.reason.startswith("not HTTP:")
    assert isinstance(response, HttpMessage) and response.start_line == "HTTP/1.1 400 Bad Request"


def test_incomplete_body_is_undecodable_not_lost() -> None:
    rec = recording((C, b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc"))
    (unit,) = rec.messages()
    assert isinstance(unit, Undecodable) and unit.reason == "incomplete body: 3 of 10 bytes"


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


def test_engineio_packet_types() -> None:
    names = [decode_engineio(raw).engineio for raw in ["0{}", "1", "2", "3", "4x", "5", "6", "", "9", "b"]]
    assert names == ["open", "close", "ping", "pong", "message", "upgrade", "noop", "invalid", "invalid", "invalid"]
    assert decode_engineio("2probe").summary == "Engine.IO ping 'probe'"
    assert decode_engineio("3").summary == "Engine.IO pong"
    assert decode_engineio('0{"sid":"abc","pingInterval":25000}').summary == (
        'Engine.IO open {"sid": "abc", "pingInterval": 25000}'
    )


def test_socketio_packets_inside_engineio_messages() -> None:
    connect = decode_engineio("40")
    assert (connect.engineio, connect.socketio, connect.namespace, connect.args) == ("message", "connect", "/", ())
    assert connect.summary == "Engine.IO message / Socket.IO connect"
    event = decode_engineio('42["chat","hola"]')
    assert (event.socketio, event.event, event.args, event.ack_id) == ("event", "chat", ("hola",), None)
    assert event.summary == 'Engine.IO message / Socket.IO event "chat" ["hola"]'
    ack = decode_engineio('431["hola"]')
    assert (ack.socketio, ack.ack_id, ack.args) == ("ack", 1, ("hola",))
    assert ack.summary == 'Engine.IO message / Socket.IO ack 1 ["hola"]'
    asked = decode_engineio('4212["echo","x"]')
    assert asked.summary == 'Engine.IO message / Socket.IO event "echo" ["x"] (ack 12)'
    admin = decode_engineio('40/admin,{"token":"t"}')
    assert (admin.namespace, admin.args) == ("/admin", ({"token": "t"},))
    assert admin.summary == 'Engine.IO message / Socket.IO connect /admin {"token": "t"}'
    assert decode_engineio("41").summary == "Engine.IO message / Socket.IO disconnect"
    error = decode_engineio('44{"message":"no"}')
    assert error.summary == 'Engine.IO message / Socket.IO connect_error {"message": "no"}'


def test_binary_events_and_invalid_socketio() -> None:
    binary = decode_socketio('51-["up",{"_placeholder":true,"num":0}]')
    assert (binary["socketio"], binary["attachments"], binary["event"]) == ("binary_event", 1, "up")
    for raw in ["", "9", "2notjson", "2{}", "3[]", "5-[]", '2["x"', "2" + "[" * 5000 + "]" * 5000]:
        assert decode_socketio(raw) == {"socketio": "invalid"}, raw
    assert decode_engineio("4hello", socketio=False).summary == "Engine.IO message 'hello'"
    assert decode_engineio("4hello").summary == "Engine.IO message / not a Socket.IO packet: 'hello'"


def test_polling_payload_is_split_on_record_separators() -> None:
    body = b'40{"sid":"s"}\x1e42["echo","x"]\x1e2\x1eb' + base64.b64encode(b"\x00\x01")
    packets = decode_polling_payload(body, 3, S)
    assert [p.transport for p in packets] == ["polling"] * 4
    assert [(p.conn, p.direction) for p in packets] == [(3, S)] * 4
    assert [p.summary for p in packets] == [
        'Engine.IO message / Socket.IO connect {"sid": "s"}',
        'Engine.IO message / Socket.IO event "echo" ["x"]',
        "Engine.IO ping",
        "Engine.IO binary message 00 01 (2 bytes)",
    ]
    assert decode_polling_payload(b"") == ()


def test_socketio_over_websocket_frames() -> None:
    def text(payload: bytes) -> bytes:
        return bytes([0x81, len(payload)]) + payload

    def masked(payload: bytes) -> bytes:
        key = b"\x01\x02\x03\x04"
        return bytes([0x81, 0x80 | len(payload)]) + key + apply_mask(payload, key)

    target = b"/socket.io/?EIO=4&transport=websocket"
    attachment = bytes.fromhex("82 02 ff ee")
    rec = upgraded(
        (S, text(b'0{"sid":"a"}')),
        (C, masked(b"40")),
        (S, text(b'40{"sid":"b"}')),
        (C, masked(b'421["echo","x"]')),
        (S, text(b'431["x"]')),
        (S, text(b"2")),
        (C, masked(b"3")),
        (S, text(b'451-["up",{"_placeholder":true,"num":0}]') + attachment),
        target=target,
    )
    summaries = [(p.direction, p.summary) for p in rec.packets()]
    assert summaries == [
        (S, 'Engine.IO open {"sid": "a"}'),
        (C, "Engine.IO message / Socket.IO connect"),
        (S, 'Engine.IO message / Socket.IO connect {"sid": "b"}'),
        (C, 'Engine.IO message / Socket.IO event "echo" ["x"] (ack 1)'),
        (S, 'Engine.IO message / Socket.IO ack 1 ["x"]'),
        (S, "Engine.IO ping"),
        (C, "Engine.IO pong"),
        (S, 'Engine.IO message / Socket.IO binary_event "up" [{"_placeholder": true, "num": 0}] (1 attachment)'),
        (S, "Engine.IO binary message / Socket.IO attachment ff ee (2 bytes)"),
    ]
    assert all(isinstance(p, Packet) and p.transport == "websocket" for p in rec.packets())


def test_socketio_long_polling_bodies() -> None:
    rec = recording(
        (C, b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n"),
        (S, b'HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n0{"sid":"a"}'),
        (C, b"POST /socket.io/?EIO=4&transport=polling&sid=a HTTP/1.1\r\nContent-Length: 2\r\n\r\n40"),
        (S, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
        (C, b"GET /socket.io/?EIO=4&transport=polling&sid=a HTTP/1.1\r\n\r\n"),
        (S, b'HTTP/1.1 200 OK\r\nContent-Length: 22\r\n\r\n40{"sid":"b"}\x1e42["hi"]'),
    )
    assert [(p.direction, p.transport, p.summary) for p in rec.packets()] == [
        (S, "polling", 'Engine.IO open {"sid": "a"}'),
        (C, "polling", "Engine.IO message / Socket.IO connect"),
        (S, "polling", 'Engine.IO message / Socket.IO connect {"sid": "b"}'),
        (S, "polling", 'Engine.IO message / Socket.IO event "hi" []'),
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
    for unit in decoded.units:
        assert unit.summary is not None and unit.annotation


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.text(max_size=30), st.binary(max_size=30)), st.sampled_from(["websocket", "polling"]))
def test_any_engineio_packet_decodes_without_raising(raw: str | bytes, transport: str) -> None:
    assert decode_engineio(raw, transport=transport).summary


def test_decoding_and_display_do_no_io() -> None:
    """Like labkit.protocol, the decoder and the views are pure: bytes in, objects and text out."""
    import ast
    import importlib

    for name in ("decode", "display"):
        module = importlib.import_module(f"labkit.tap.{name}")
        tree = ast.parse(inspect.getsource(module))
        imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert not imported & {"socket", "asyncio", "threading", "selectors"}, name
