"""Tests for labkit.protocol.frames: RFC 6455 §5 vectors and websockets parity."""

from __future__ import annotations

import random
import struct
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.exceptions import PayloadTooBig
from websockets.exceptions import ProtocolError as WsProtocolError
from websockets.frames import Frame as WsFrame
from websockets.frames import Opcode as WsOpcode
from websockets.streams import StreamReader
from websockets.utils import apply_mask as ws_apply_mask

from labkit.protocol.errors import CloseCode, ProtocolError
from labkit.protocol.frames import (
    DecodedFrame,
    Frame,
    FrameHeader,
    FrameParser,
    Opcode,
    apply_mask,
    build_close_payload,
    decode,
    encode,
    header_length,
    parse_close_payload,
)

SETTINGS = settings(max_examples=200, deadline=None, database=None)
KEY = bytes.fromhex("37 fa 21 3d")  # the masking key of the §5.7 examples

DATA_OPCODES = [Opcode.CONT, Opcode.TEXT, Opcode.BINARY]
CONTROL_OPCODES = [Opcode.CLOSE, Opcode.PING, Opcode.PONG]
RESERVED_OPCODES = [3, 4, 5, 6, 7, 11, 12, 13, 14, 15]


def h(text: str) -> bytes:
    return bytes.fromhex(text)


# ---------------------------------------------------------------------------
# RFC 6455 §5.7 examples, byte-exact in both directions

VECTORS = [
    # (description, frame, mask key, wire bytes)
    ("unmasked Hello", Frame(True, Opcode.TEXT, b"Hello"), None, "81 05 48656c6c6f"),
    (
        "masked Hello",
        Frame(True, Opcode.TEXT, b"Hello"),
        KEY,
        "81 85 37fa213d 7f9f4d5158",
    ),
    ("fragment Hel", Frame(False, Opcode.TEXT, b"Hel"), None, "01 03 48656c"),
    ("fragment lo", Frame(True, Opcode.CONT, b"lo"), None, "80 02 6c6f"),
    ("unmasked ping", Frame(True, Opcode.PING, b"Hello"), None, "89 05 48656c6c6f"),
    (
        "masked pong",
        Frame(True, Opcode.PONG, b"Hello"),
        KEY,
        "8a 85 37fa213d 7f9f4d5158",
    ),
]


@pytest.mark.parametrize(("name", "frame", "key", "wire"), VECTORS)
def test_rfc_5_7_encode(name: str, frame: Frame, key: bytes | None, wire: str) -> None:
    assert encode(frame, key) == h(wire)


@pytest.mark.parametrize(("name", "frame", "key", "wire"), VECTORS)
def test_rfc_5_7_decode(name: str, frame: Frame, key: bytes | None, wire: str) -> None:
    decoded = decode(h(wire))
    assert decoded.frame == frame
    assert decoded.mask_key == key


def test_rfc_5_7_binary_256_bytes_uses_16_bit_length() -> None:
    payload = bytes(range(256))
    wire = encode(Frame(True, Opcode.BINARY, payload))
    assert wire[:4] == h("82 7E 01 00")
    assert wire[4:] == payload
    assert decode(wire).payload == payload


def test_rfc_5_7_binary_64_kib_uses_64_bit_length() -> None:
    payload = bytes(65536)
    wire = encode(Frame(True, Opcode.BINARY, payload))
    assert wire[:10] == h("82 7F 00 00 00 00 00 01 00 00")
    assert len(wire) == 10 + 65536
    assert decode(wire).payload == payload


@pytest.mark.parametrize(
    ("length", "header"),
    [
        (0, "81 00"),
        (125, "81 7d"),
        (126, "81 7e 00 7e"),
        (65535, "81 7e ff ff"),
        (65536, "81 7f 00 00 00 00 00 01 00 00"),
    ],
)
def test_length_encoding_is_minimal_at_the_boundaries(length: int, header: str) -> None:
    wire = encode(Frame(True, Opcode.TEXT, b"a" * length))
    assert wire[: len(h(header))] == h(header)
    assert len(wire) == len(h(header)) + length


@pytest.mark.parametrize(
    ("length", "masked", "expected"),
    [
        (0, False, 2),
        (125, False, 2),
        (126, False, 4),
        (65535, False, 4),
        (65536, False, 10),
        (0, True, 6),
        (125, True, 6),
        (126, True, 8),
        (65536, True, 14),
    ],
)
def test_header_length(length: int, masked: bool, expected: int) -> None:
    assert header_length(length, masked) == expected
    key = KEY if masked else None
    assert len(encode(Frame(True, Opcode.BINARY, bytes(length)), key)) == (expected + length)


def test_header_length_rejects_negative() -> None:
    with pytest.raises(ValueError):
        header_length(-1, False)


# ---------------------------------------------------------------------------
# Masking


def test_apply_mask_rfc_example() -> None:
    assert apply_mask(b"Hello", KEY) == h("7f9f4d5158")
    assert apply_mask(b"", KEY) == b""


@SETTINGS
@given(data=st.binary(max_size=300), key=st.binary(min_size=4, max_size=4))
def test_apply_mask_is_an_involution_and_matches_websockets(data: bytes, key: bytes) -> None:
    masked = apply_mask(data, key)
    assert masked == ws_apply_mask(data, key)
    assert apply_mask(masked, key) == data


@pytest.mark.parametrize("size", [511, 512, 513, 514, 515, 516, 4099, 65536, 2**20 + 1])
def test_long_payloads_take_the_other_path_and_still_match_websockets(size: int) -> None:
    data, key = random.Random(size).randbytes(size), b"\x37\xfa\x21\x3d"
    masked = apply_mask(data, key)
    assert type(masked) is bytes and masked == ws_apply_mask(data, key)
    assert apply_mask(bytearray(masked), bytearray(key)) == apply_mask(memoryview(masked), key) == data


@pytest.mark.parametrize("key", [b"", b"abc", b"abcde"])
def test_apply_mask_needs_a_4_byte_key(key: bytes) -> None:
    with pytest.raises(ValueError, match="4 bytes"):
        apply_mask(b"data", key)


# ---------------------------------------------------------------------------
# Frame and encode


def test_frame_normalises_opcode_and_payload() -> None:
    frame = Frame(True, 1, bytearray(b"hi"))  # type: ignore[arg-type]
    assert frame.opcode is Opcode.TEXT
    assert type(frame.payload) is bytes
    assert frame == Frame(True, Opcode.TEXT, b"hi")


def test_opcode_is_control() -> None:
    assert [op.is_control for op in Opcode] == [False] * 3 + [True] * 3


@pytest.mark.parametrize("opcode", CONTROL_OPCODES)
def test_encode_refuses_invalid_control_frames(opcode: Opcode) -> None:
    with pytest.raises(ValueError, match="fragmented"):
        encode(Frame(False, opcode, b""))
    with pytest.raises(ValueError, match="125"):
        encode(Frame(True, opcode, bytes(126)))
    assert len(encode(Frame(True, opcode, bytes(125)))) == 127


def test_encode_writes_rsv_bits() -> None:
    assert encode(Frame(True, Opcode.TEXT, b"", True, False, True)) == h("d1 00")


# ---------------------------------------------------------------------------
# decode and FrameParser


def raw(
    head1: int,
    length: int,
    payload: bytes = b"",
    *,
    key: bytes | None = None,
    width: int = 0,
) -> bytes:
    """Hand-build a frame, including invalid ones encode() refuses to make."""
    mask_bit = 0x80 if key is not None else 0
    if width == 0:
        width = 0 if length <= 125 else 2 if length <= 0xFFFF else 8
    if width == 0:
        head = bytes([head1, mask_bit | length])
    elif width == 2:
        head = bytes([head1, mask_bit | 126]) + struct.pack("!H", length)
    else:
        head = bytes([head1, mask_bit | 127]) + struct.pack("!Q", length)
    if key is not None:
        return head + key + apply_mask(payload, key)
    return head + payload


def test_decode_needs_exactly_one_frame() -> None:
    with pytest.raises(ValueError, match="incomplete"):
        decode(h("81 05 48 65"))
    with pytest.raises(ValueError, match="follow"):
        decode(h("81 00 81 00"))


def test_decoded_frame_keeps_the_mask_key_for_a_tap() -> None:
    frame = decode(h("81 85 37fa213d 7f9f4d5158"))
    assert isinstance(frame, DecodedFrame)
    assert frame.mask_key == KEY
    assert apply_mask(frame.payload, KEY) == h("7f9f4d5158")
    assert frame != Frame(True, Opcode.TEXT, b"Hello")  # different types
    assert frame.frame == Frame(True, Opcode.TEXT, b"Hello")


@pytest.mark.parametrize(
    ("wire", "section", "code"),
    [
        ("c1 00", "5.2", 1002),  # RSV1
        ("a1 00", "5.2", 1002),  # RSV2
        ("91 00", "5.2", 1002),  # RSV3
        ("83 00", "5.2", 1002),  # reserved data opcode
        ("8b 00", "5.2", 1002),  # reserved control opcode
        ("09 00", "5.5", 1002),  # fragmented ping
        ("08 00", "5.5", 1002),  # fragmented close
        ("89 7e 00 7e", "5.5", 1002),  # ping longer than 125
        ("8a 7f", "5.5", 1002),  # pong with a 64-bit length: fails at once
        ("82 7f 80 00 00 00 00 00 00 00", "5.2", 1002),  # 64-bit MSB set
    ],
)
def test_decode_rejects(wire: str, section: str, code: int) -> None:
    with pytest.raises(ProtocolError) as info:
        decode(h(wire))
    assert info.value.section == section
    assert info.value.close_code == code
    assert f"(RFC 6455 §{section})" in str(info.value)


def test_mask_requirements_per_role() -> None:
    unmasked, masked = h("81 00"), h("81 80 00 00 00 00")
    with pytest.raises(ProtocolError, match="not masked") as info:
        FrameParser(expect_masked=True).feed(unmasked)
    assert (info.value.close_code, info.value.section) == (1002, "5.1")
    with pytest.raises(ProtocolError, match="is masked"):
        FrameParser(expect_masked=False).feed(masked)
    assert FrameParser(expect_masked=True).feed(masked)[0].payload == b""
    assert FrameParser(expect_masked=False).feed(unmasked)[0].payload == b""
    tap = FrameParser(expect_masked=None)
    assert len(tap.feed(masked + unmasked)) == 2


def test_errors_are_detected_from_the_first_two_bytes() -> None:
    parser = FrameParser(expect_masked=True)
    with pytest.raises(ProtocolError):
        parser.feed(h("81 05"))  # unmasked, payload not even sent yet


def test_non_minimal_length_is_accepted_like_websockets() -> None:
    for wire in (raw(0x81, 5, b"Hello", width=2), raw(0x81, 5, b"Hello", width=8)):
        assert decode(wire).frame == Frame(True, Opcode.TEXT, b"Hello")
        assert ws_parse(wire, mask=False).data == b"Hello"


def test_max_payload_fails_with_1009_before_the_payload_arrives() -> None:
    parser = FrameParser(expect_masked=False, max_payload=100)
    assert parser.feed(raw(0x82, 100, bytes(100)))[0].payload == bytes(100)
    with pytest.raises(ProtocolError) as info:
        parser.feed(h("82 7e 00 65"))  # header only: 101 bytes announced
    assert info.value.close_code == CloseCode.MESSAGE_TOO_BIG
    assert info.value.section == "10.4"


def test_max_payload_does_not_apply_to_control_frames() -> None:
    parser = FrameParser(expect_masked=False, max_payload=0)
    assert parser.feed(raw(0x89, 125, bytes(125)))[0].opcode is Opcode.PING


def test_parser_stays_failed() -> None:
    parser = FrameParser(expect_masked=False)
    with pytest.raises(ProtocolError) as first:
        parser.feed(h("f1 00"))
    with pytest.raises(ProtocolError) as second:
        parser.feed(h("81 00"))
    assert second.value is first.value


def test_reserved_bits_allowed_by_an_extension() -> None:
    parser = FrameParser(expect_masked=False, reserved_bits_allowed=0x40)
    assert parser.feed(h("c1 00"))[0].rsv1
    with pytest.raises(ProtocolError):
        parser.feed(h("a1 00"))


def test_hooks_see_the_header_first_then_unmasked_chunks() -> None:
    seen: list[object] = []
    parser = FrameParser(
        expect_masked=True,
        on_header=seen.append,
        on_payload=lambda header, chunk: seen.append(chunk),
    )
    wire = h("81 85 37fa213d 7f9f4d5158")
    assert parser.feed(wire[:7]) == []
    header = seen[0]
    assert isinstance(header, FrameHeader)
    assert (header.payload_length, header.mask_key, header.size) == (5, KEY, 6)
    assert parser.feed(wire[7:9]) == []  # key rotation across chunks (§5.3)
    frames = parser.feed(wire[9:])
    assert seen[1:] == [b"H", b"el", b"lo"]
    assert frames[0].payload == b"Hello"


def test_parse_close_payload() -> None:
    assert parse_close_payload(b"") == (1005, "")
    assert parse_close_payload(h("03e8")) == (1000, "")
    assert parse_close_payload(h("0bb8") + "déjà".encode()) == (3000, "déjà")
    assert parse_close_payload(h("1387")) == (4999, "")


@pytest.mark.parametrize(
    ("payload", "code", "section"),
    [
        (h("03"), 1002, "5.5.1"),
        (h("03e7"), 1002, "7.4"),  # 999
        (h("03ec"), 1002, "7.4"),  # 1004 reserved
        (h("03ed"), 1002, "7.4"),  # 1005 never on the wire
        (h("03ee"), 1002, "7.4"),  # 1006 never on the wire
        (h("03f7"), 1002, "7.4"),  # 1015 never on the wire
        (h("03f8"), 1002, "7.4"),  # 1016 unassigned
        (h("0bb7"), 1002, "7.4"),  # 2999
        (h("1388"), 1002, "7.4"),  # 5000
        (h("03e8 ff"), 1007, "5.5.1"),  # invalid UTF-8 reason
        (h("03e8 eda080"), 1007, "5.5.1"),  # UTF-8-encoded surrogate
    ],
)
def test_parse_close_payload_rejects(payload: bytes, code: int, section: str) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_close_payload(payload)
    assert (info.value.close_code, info.value.section) == (code, section)


def test_build_close_payload() -> None:
    assert build_close_payload(1000) == h("03e8")
    assert build_close_payload(1001, "bye") == h("03e9") + b"bye"
    assert len(build_close_payload(1000, "x" * 123)) == 125
    with pytest.raises(ValueError, match="123"):
        build_close_payload(1000, "x" * 124)
    for code in (1005, 1006, 1015, 999, 5000):
        with pytest.raises(ValueError, match="cannot be sent"):
            build_close_payload(code)


# ---------------------------------------------------------------------------
# Property tests against websockets.frames, in both directions


def ws_parse(data: bytes, *, mask: bool, max_size: int | None = None) -> WsFrame:
    """Run websockets' generator-based parser over complete input."""
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    parser = WsFrame.parse(reader.read_exact, mask=mask, max_size=max_size)
    try:
        while True:
            next(parser)
    except StopIteration as stop:
        frame: WsFrame = stop.value
    assert not reader.buffer, "websockets left bytes unread"
    return frame


def payloads(max_small: int) -> st.SearchStrategy[bytes]:
    """Mostly small payloads, sometimes 16-bit and 64-bit lengths."""
    big = st.tuples(st.integers(126, 70_000), st.binary(min_size=1, max_size=8)).map(
        lambda pair: (pair[1] * (pair[0] // len(pair[1]) + 1))[: pair[0]]
    )
    return st.one_of(st.binary(max_size=max_small), big)


valid_frames = st.one_of(
    st.builds(
        Frame,
        fin=st.booleans(),
        opcode=st.sampled_from(DATA_OPCODES),
        payload=payloads(200),
    ),
    st.builds(
        Frame,
        fin=st.just(True),
        opcode=st.sampled_from(CONTROL_OPCODES),
        payload=st.binary(max_size=125),
    ),
)
mask_keys = st.none() | st.binary(min_size=4, max_size=4)


@SETTINGS
@given(frame=valid_frames, key=mask_keys)
def test_websockets_parses_our_frames(frame: Frame, key: bytes | None) -> None:
    theirs = ws_parse(encode(frame, key), mask=key is not None)
    assert (theirs.fin, int(theirs.opcode), bytes(theirs.data)) == (
        frame.fin,
        int(frame.opcode),
        frame.payload,
    )
    assert not (theirs.rsv1 or theirs.rsv2 or theirs.rsv3)


@SETTINGS
@given(frame=valid_frames, key=mask_keys)
def test_we_parse_websockets_frames_byte_for_byte(frame: Frame, key: bytes | None) -> None:
    theirs = WsFrame(WsOpcode(int(frame.opcode)), frame.payload, frame.fin)
    with mock.patch("secrets.token_bytes", return_value=key):
        wire = theirs.serialize(mask=key is not None)
    assert wire == encode(frame, key)  # same bytes, mask included
    decoded = decode(wire, expect_masked=key is not None)
    assert decoded.frame == frame
    assert decoded.mask_key == key


@SETTINGS
@given(
    frames=st.lists(st.tuples(valid_frames, mask_keys), max_size=6),
    cuts=st.lists(st.integers(0, 200_000), max_size=10),
)
def test_any_chunking_gives_the_same_frames(frames: list[tuple[Frame, bytes | None]], cuts: list[int]) -> None:
    wire = b"".join(encode(frame, key) for frame, key in frames)
    parser = FrameParser(expect_masked=None)
    decoded: list[DecodedFrame] = []
    start = 0
    for cut in [*sorted(c % (len(wire) + 1) for c in cuts), len(wire)]:
        decoded += parser.feed(wire[start:cut])
        start = max(start, cut)
    assert [(d.frame, d.mask_key) for d in decoded] == frames
    assert parser.buffered == 0


def bad_frames() -> st.SearchStrategy[bytes]:
    """Frames that both parsers must reject (unmasked, client side)."""
    rsv = st.builds(
        lambda bits, op, payload: raw(0x80 | bits | op, len(payload), payload),
        st.sampled_from([0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70]),
        st.sampled_from([1, 2, 8, 9, 10]),
        st.binary(max_size=20),
    )
    opcode = st.builds(
        lambda fin, op, payload: raw(fin | op, len(payload), payload),
        st.sampled_from([0, 0x80]),
        st.sampled_from(RESERVED_OPCODES),
        st.binary(max_size=20),
    )
    fragmented_control = st.builds(
        lambda op, payload: raw(op, len(payload), payload),
        st.sampled_from([8, 9, 10]),
        st.binary(max_size=125),
    )
    long_control = st.builds(
        lambda op, n: raw(0x80 | op, n, bytes(n)),
        st.sampled_from([8, 9, 10]),
        st.integers(126, 1000),
    )
    return st.one_of(rsv, opcode, fragmented_control, long_control)


@SETTINGS
@given(wire=bad_frames())
def test_both_parsers_reject_the_same_bad_frames(wire: bytes) -> None:
    with pytest.raises(WsProtocolError):
        ws_parse(wire, mask=False)
    with pytest.raises(ProtocolError) as info:
        decode(wire, expect_masked=False)
    assert info.value.close_code == CloseCode.PROTOCOL_ERROR


@SETTINGS
@given(frame=valid_frames, masked=st.booleans())
def test_both_parsers_reject_the_wrong_masking(frame: Frame, masked: bool) -> None:
    wire = encode(frame, KEY if masked else None)
    with pytest.raises(WsProtocolError, match="masking"):
        ws_parse(wire, mask=not masked)
    with pytest.raises(ProtocolError) as info:
        decode(wire, expect_masked=not masked)
    assert (info.value.close_code, info.value.section) == (1002, "5.1")


@SETTINGS
@given(payload=payloads(300), limit=st.integers(0, 300))
def test_both_parsers_enforce_the_size_limit(payload: bytes, limit: int) -> None:
    wire = encode(Frame(True, Opcode.BINARY, payload))
    parser = FrameParser(expect_masked=False, max_payload=limit)
    if len(payload) > limit:
        with pytest.raises(PayloadTooBig):
            ws_parse(wire, mask=False, max_size=limit)
        with pytest.raises(ProtocolError) as info:
            parser.feed(wire)
        assert info.value.close_code == CloseCode.MESSAGE_TOO_BIG
    else:
        assert ws_parse(wire, mask=False, max_size=limit).data == payload
        assert parser.feed(wire)[0].payload == payload


def test_close_codes_are_plain_ints_even_for_no_status() -> None:
    assert [type(parse_close_payload(p)[0]) for p in (b"", b"\x03\xe8")] == [int, int]
