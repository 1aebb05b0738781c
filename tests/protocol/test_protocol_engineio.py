"""Tests for labkit.protocol.engineio: exact strings, and round trips through python-socketio's encoders."""

from __future__ import annotations

import base64
from typing import Any

import engineio.packet
import pytest
import socketio.packet
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from labkit.protocol.engineio import (
    ENGINEIO_TYPES,
    SOCKETIO_TYPES,
    Attachments,
    Packet,
    decode_engineio,
    decode_polling_payload,
    decode_socketio,
)

SETTINGS = settings(max_examples=300, deadline=None, database=None)


def fields(packet: Packet) -> tuple[Any, ...]:
    return (packet.engineio, packet.socketio, packet.namespace, packet.ack_id, packet.data, packet.attachments)


# ---------------------------------------------------------------------------
# Exact strings


def test_engineio_packet_types() -> None:
    names = [decode_engineio(raw).engineio for raw in ["0{}", "1", "2", "3", "4x", "5", "6", "", "9", "b"]]
    assert names == ["open", "close", "ping", "pong", "message", "upgrade", "noop", "invalid", "invalid", "invalid"]
    assert decode_engineio("2probe") == Packet("2probe", "ping", "probe")
    assert decode_engineio("3") == Packet("3", "pong", "")


def test_the_open_packet_carries_the_handshake_as_json() -> None:
    raw = '0{"sid":"abc","upgrades":["websocket"],"pingInterval":25000}'
    packet = decode_engineio(raw)
    assert (packet.engineio, packet.socketio) == ("open", None)
    assert packet.data == {"sid": "abc", "upgrades": ["websocket"], "pingInterval": 25000}
    assert decode_engineio("0not json").data is None


def test_socketio_packets_inside_engineio_messages() -> None:
    assert fields(decode_engineio("40")) == ("message", "connect", "/", None, None, 0)
    assert fields(decode_engineio('40{"sid":"b"}')) == ("message", "connect", "/", None, {"sid": "b"}, 0)
    assert fields(decode_engineio("41")) == ("message", "disconnect", "/", None, None, 0)
    event = decode_engineio('42["chat","hola"]')
    assert fields(event) == ("message", "event", "/", None, ["chat", "hola"], 0)
    assert (event.event, event.args) == ("chat", ("hola",))
    ack = decode_engineio('431["hola"]')
    assert fields(ack) == ("message", "ack", "/", 1, ["hola"], 0)
    assert (ack.event, ack.args) == (None, ("hola",))
    assert decode_engineio('4212["echo","x"]').ack_id == 12
    admin = decode_engineio('40/admin,{"token":"t"}')
    assert (admin.namespace, admin.data, admin.args) == ("/admin", {"token": "t"}, ({"token": "t"},))
    assert decode_engineio("40/admin,").namespace == "/admin"
    in_chat = decode_engineio('42/chat,7["x"]')
    assert (in_chat.namespace, in_chat.ack_id, in_chat.event) == ("/chat", 7, "x")
    error = decode_engineio('44{"message":"no"}')
    assert (error.socketio, error.data) == ("connect_error", {"message": "no"})


def test_binary_events_count_their_attachments() -> None:
    binary = decode_socketio('51-["up",{"_placeholder":true,"num":0}]')
    assert binary == {
        "socketio": "binary_event",
        "namespace": "/",
        "ack_id": None,
        "data": ["up", {"_placeholder": True, "num": 0}],
        "attachments": 1,
    }
    assert decode_socketio('62-/x,3[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]')["ack_id"] == 3


@pytest.mark.parametrize(
    "raw", ["", "9", "2notjson", "2{}", "3[]", "5-[]", '2["x"', "2[1]", "2[]", "2" + "[" * 5000 + "]" * 5000]
)
def test_what_is_not_a_socketio_packet_is_invalid(raw: str) -> None:
    assert decode_socketio(raw) == {"socketio": "invalid"}
    packet = decode_engineio("4" + raw)
    assert (packet.engineio, packet.socketio, packet.event, packet.args) == ("message", "invalid", None, ())


def test_engineio_only_endpoints_leave_the_message_alone() -> None:
    assert decode_engineio("4hello", socketio=False) == Packet("4hello", "message", "hello")


def test_binary_messages_websocket_and_polling() -> None:
    assert decode_engineio(b"\x00\x01") == Packet(b"\x00\x01", "message", b"\x00\x01")
    polled = decode_engineio("bAAE=", transport="polling")
    assert (polled.engineio, polled.payload, polled.transport) == ("message", b"\x00\x01", "polling")
    assert decode_engineio("b!!", transport="polling").engineio == "invalid"
    assert decode_engineio("bAAE=").engineio == "invalid"  # "b" is no type over WebSocket


def test_polling_payload_is_split_on_record_separators() -> None:
    body = b'40{"sid":"s"}\x1e42["echo","x"]\x1e2\x1eb' + base64.b64encode(b"\x00\x01")
    packets = decode_polling_payload(body)
    assert [p.transport for p in packets] == ["polling"] * 4
    assert [(p.engineio, p.socketio) for p in packets] == [
        ("message", "connect"),
        ("message", "event"),
        ("ping", None),
        ("message", None),
    ]
    assert packets[3].payload == b"\x00\x01"
    assert decode_polling_payload(b"") == ()


def test_attachments_follow_their_binary_event() -> None:
    marker = Attachments()
    stream = [
        decode_engineio('452-["up",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]'),
        decode_engineio(b"\x01"),
        decode_engineio("2"),  # control packets may come in between
        decode_engineio(b"\x02"),
        decode_engineio(b"\x03"),  # a third binary message is not an attachment
    ]
    assert [marker.mark(p).socketio for p in stream] == ["binary_event", "attachment", None, "attachment", None]


# ---------------------------------------------------------------------------
# Round trips: python-socketio and python-engineio encode, we decode

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53), st.text(max_size=10))
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)
namespaces = st.one_of(st.none(), st.just("/"), st.from_regex(r"/[a-z0-9_-]{1,8}", fullmatch=True))
ack_ids = st.one_of(st.none(), st.integers(0, 2**40))


@st.composite
def socketio_packets(draw: st.DrawFn) -> socketio.packet.Packet:
    """A packet as python-socketio would build it, with data of the shape its type requires."""
    kind = draw(st.sampled_from(["connect", "disconnect", "event", "ack", "connect_error", "binary"]))
    namespace = draw(namespaces)
    if kind == "connect":
        data = draw(st.one_of(st.none(), st.dictionaries(st.text(max_size=5), json_values, max_size=3)))
        return socketio.packet.Packet(socketio.packet.CONNECT, data, namespace)
    if kind == "disconnect":
        return socketio.packet.Packet(socketio.packet.DISCONNECT, None, namespace)
    if kind == "connect_error":
        data = draw(st.one_of(st.text(max_size=10), st.fixed_dictionaries({"message": st.text(max_size=10)})))
        return socketio.packet.Packet(socketio.packet.CONNECT_ERROR, data, namespace)
    if kind == "event":
        name = draw(st.text(min_size=1, max_size=10))
        args = draw(st.lists(json_values, max_size=3))
        return socketio.packet.Packet(socketio.packet.EVENT, [name, *args], namespace, draw(ack_ids))
    if kind == "ack":
        args = draw(st.lists(json_values, max_size=3))
        return socketio.packet.Packet(socketio.packet.ACK, args, namespace, draw(st.integers(0, 2**40)))
    # Binary data anywhere in an event or ack makes python-socketio send a binary one.
    blobs = draw(st.lists(st.binary(max_size=8), min_size=1, max_size=3))
    if draw(st.booleans()):
        return socketio.packet.Packet(socketio.packet.EVENT, ["up", *blobs], namespace, draw(ack_ids))
    return socketio.packet.Packet(socketio.packet.ACK, [{"files": blobs}], namespace, draw(st.integers(0, 99)))


@SETTINGS
@given(socketio_packets())
def test_socketio_packets_encoded_by_python_socketio_decode_to_the_same_fields(
    original: socketio.packet.Packet,
) -> None:
    encoded = original.encode()
    text, attachments = (encoded[0], encoded[1:]) if isinstance(encoded, list) else (encoded, [])
    # Each goes in an Engine.IO message, as python-engineio sends it over WebSocket.
    wire = [engineio.packet.Packet(engineio.packet.MESSAGE, text).encode()]
    wire += [engineio.packet.Packet(engineio.packet.MESSAGE, blob).encode() for blob in attachments]
    marker = Attachments()
    ours = [marker.mark(decode_engineio(item)) for item in wire]

    head = ours[0]
    assert head.engineio == "message"
    assert head.socketio == socketio.packet.packet_names[original.packet_type].lower()
    assert head.namespace == (original.namespace or "/")
    assert head.ack_id == original.id
    # Binary data travels as placeholders; python-socketio's own decoder sees the same.
    theirs = socketio.packet.Packet(encoded_packet=text)
    assert head.data == theirs.data
    assert head.attachments == len(attachments) == theirs.attachment_count
    if not attachments:
        assert head.data == original.data
    assert [(p.socketio, p.payload) for p in ours[1:]] == [("attachment", blob) for blob in attachments]
    if head.socketio in ("event", "binary_event"):
        assert [head.event, *head.args] == theirs.data


engineio_packets = st.one_of(
    st.builds(
        engineio.packet.Packet,
        st.sampled_from([engineio.packet.OPEN, engineio.packet.MESSAGE]),
        st.dictionaries(st.text(max_size=5), json_values, max_size=3),
    ),
    st.builds(
        engineio.packet.Packet,
        st.sampled_from(range(7)),
        st.one_of(st.none(), st.text(max_size=10)),
    ),
    st.builds(engineio.packet.Packet, st.just(engineio.packet.MESSAGE), st.binary(max_size=10)),
)


@SETTINGS
@given(engineio_packets, st.booleans())
def test_engineio_packets_encoded_by_python_engineio_decode_to_the_same_fields(
    original: engineio.packet.Packet, polling: bool
) -> None:
    encoded = original.encode(b64=polling)
    ours = decode_engineio(encoded, transport="polling" if polling else "websocket", socketio=False)
    assert ours.engineio == ENGINEIO_TYPES[str(original.packet_type)]
    assert ours.raw == encoded
    if isinstance(original.data, bytes):
        assert ours.payload == original.data
    else:
        assert isinstance(encoded, str)
        assert ours.payload == encoded[1:]
        if original.packet_type == engineio.packet.OPEN and isinstance(original.data, dict):
            assert ours.data == original.data


@SETTINGS
@given(st.lists(engineio_packets, min_size=1, max_size=5))
def test_polling_payloads_built_by_python_engineio_split_into_their_packets(
    originals: list[engineio.packet.Packet],
) -> None:
    # engine.io-protocol v4: packets joined by \x1e, binary ones as "b" + base64.
    # A separator inside a text packet would split it: it is not escaped.
    assume(not any(isinstance(p.data, str) and "\x1e" in p.data for p in originals))
    body = "\x1e".join(str(packet.encode(b64=True)) for packet in originals).encode()
    ours = decode_polling_payload(body, socketio=False)
    assert [p.engineio for p in ours] == [ENGINEIO_TYPES[str(p.packet_type)] for p in originals]


def test_the_type_tables_match_python_socketio_and_engineio() -> None:
    assert list(SOCKETIO_TYPES.values()) == [name.lower() for name in socketio.packet.packet_names]
    assert list(ENGINEIO_TYPES.values()) == [name.lower() for name in engineio.packet.packet_names]
