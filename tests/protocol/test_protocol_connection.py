"""Tests for labkit.protocol.connection: a client and a server over a fake wire."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.frames import Frame as WsFrame
from websockets.frames import Opcode as WsOpcode
from websockets.protocol import Protocol as WsProtocol
from websockets.protocol import Side as WsSide

from labkit.protocol.connection import TRANSITIONS, Connection, Role, State
from labkit.protocol.errors import CloseCode, ConnectionStateError, ProtocolError
from labkit.protocol.events import (
    BinaryMessage,
    CloseReceived,
    Event,
    Ping,
    Pong,
    TextMessage,
)
from labkit.protocol.frames import Frame, FrameParser, Opcode, decode, encode

SETTINGS = settings(max_examples=200, deadline=None, database=None)
KEY = bytes.fromhex("37 fa 21 3d")


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def client(max_message_size: int | None = 2**20) -> Connection:
    return Connection(Role.CLIENT, max_message_size=max_message_size, mask_key_source=lambda n: KEY)


def server(max_message_size: int | None = 2**20) -> Connection:
    return Connection(Role.SERVER, max_message_size=max_message_size)


def state(conn: Connection) -> State:
    """conn.state, without letting mypy narrow it across calls that change it."""
    return conn.state


def transfer(sender: Connection, receiver: Connection) -> list[Event]:
    """Move every pending byte across the fake wire."""
    return receiver.receive_data(sender.data_to_send())


def from_client(frame: Frame) -> bytes:
    return encode(frame, KEY)


def fail(conn: Connection, data: bytes) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        conn.receive_data(data)
    assert conn.state is State.CLOSED
    return info.value


def close_frame_sent(conn: Connection) -> tuple[int, bytes]:
    """The code and reason bytes of the close frame *conn* queued."""
    frame = decode(conn.data_to_send())
    assert frame.opcode is Opcode.CLOSE
    return int.from_bytes(frame.payload[:2], "big"), frame.payload[2:]


# ---------------------------------------------------------------------------
# Byte-exact sending (RFC 6455 §5.7)


def test_server_sends_unmasked_fragments() -> None:
    conn = server()
    assert conn.send_text("Hel", fin=False) == h("01 03 48 65 6c")
    assert conn.send_text("lo") == h("80 02 6c 6f")
    assert conn.send_text("Hello") == h("81 05 48656c6c6f")


def test_client_masks_with_the_injected_key() -> None:
    assert client().send_text("Hello") == h("81 85 37fa213d 7f9f4d5158")
    assert client().send_pong(b"Hello") == h("8a 85 37fa213d 7f9f4d5158")


def test_client_asks_for_a_fresh_key_per_frame() -> None:
    keys = iter([b"\x00\x00\x00\x01", b"\x00\x00\x00\x02"])
    conn = Connection(Role.CLIENT, mask_key_source=lambda n: next(keys))
    assert conn.send_binary(b"") == h("82 80 00000001")
    assert conn.send_ping() == h("89 80 00000002")


def test_binary_headers() -> None:
    conn = server()
    assert conn.send_binary(bytes(256))[:4] == h("82 7E 01 00")
    assert conn.send_binary(bytes(65536))[:10] == h("82 7F 00 00 00 00 00 01 00 00")
    assert conn.send_ping(b"Hello") == h("89 05 48656c6c6f")


def test_send_returns_pending_replies_first() -> None:
    conn = server()
    assert conn.receive_data(from_client(Frame(True, Opcode.PING, b"p"))) == [Ping(b"p")]
    assert conn.send_text("x") == h("8a 01 70") + h("81 01 78")
    assert conn.data_to_send() == b""


# ---------------------------------------------------------------------------
# Messages over the fake wire


def test_text_and_binary_both_ways() -> None:
    c, s = client(), server()
    wire = c.send_text("héllo, wörld ✓") + c.send_binary(b"\x00\xff")
    assert s.receive_data(wire) == [
        TextMessage("héllo, wörld ✓"),
        BinaryMessage(b"\x00\xff"),
    ]
    wire = s.send_text("") + s.send_binary(b"")
    assert c.receive_data(wire) == [TextMessage(""), BinaryMessage(b"")]


def test_fragmented_messages_with_control_frames_in_between() -> None:
    c, s = client(), server()
    wire = (
        c.send_text("κό", fin=False)
        + c.send_ping(b"1")
        + c.send_text("σμε", fin=False)
        + c.send_pong(b"2")
        + c.send_text("")
        + c.send_binary(b"a", fin=False)
        + c.send_binary(b"b")
    )
    assert s.receive_data(wire) == [
        Ping(b"1"),
        Pong(b"2"),
        TextMessage("κόσμε"),
        BinaryMessage(b"ab"),
    ]
    assert transfer(s, c) == [Pong(b"1")]


def test_utf8_sequence_split_across_fragments_is_fine() -> None:
    s = server()
    euro = "€".encode()
    frames = [Frame(False, Opcode.TEXT, euro[:1]), Frame(True, Opcode.CONT, euro[1:])]
    assert s.receive_data(b"".join(map(from_client, frames))) == [TextMessage("€")]


def test_message_arriving_one_byte_at_a_time() -> None:
    c, s = client(), server()
    wire = c.send_text("Hello, ", fin=False) + c.send_ping(b"!") + c.send_text("world")
    events = [e for i in range(len(wire)) for e in s.receive_data(wire[i : i + 1])]
    assert events == [Ping(b"!"), TextMessage("Hello, world")]


def test_ping_is_answered_with_an_identical_pong() -> None:
    c, s = client(), server()
    assert s.receive_data(c.send_ping(b"are you there?")) == [Ping(b"are you there?")]
    assert s.data_to_send() == h("8a 0e") + b"are you there?"
    s.receive_data(c.send_ping(b"again"))
    assert transfer(s, c) == [Pong(b"again")]


# ---------------------------------------------------------------------------
# Closing handshake (§5.5.1, §7)


def test_close_started_by_the_client() -> None:
    c, s = client(), server()
    assert c.send_close(1000, "bye") == encode(Frame(True, Opcode.CLOSE, h("03e8") + b"bye"), KEY)
    assert state(c) is State.CLOSING
    wire = encode(Frame(True, Opcode.CLOSE, h("03e8") + b"bye"), KEY)
    assert s.receive_data(wire) == [CloseReceived(1000, "bye")]
    assert s.state is State.CLOSED
    assert s.data_to_send() == h("88 05 03e8") + b"bye"  # code and reason echoed, as websockets does
    assert c.receive_data(h("88 05 03e8") + b"bye") == [CloseReceived(1000, "bye")]
    assert state(c) is State.CLOSED
    assert c.data_to_send() == b""


def test_close_started_by_the_server() -> None:
    c, s = client(), server()
    wire = s.send_close(CloseCode.GOING_AWAY, "restart")
    assert wire == h("88 09 03e9") + b"restart"
    assert c.receive_data(wire) == [CloseReceived(1001, "restart")]
    assert c.state is State.CLOSED
    assert transfer(c, s) == [CloseReceived(1001, "restart")]
    assert s.state is State.CLOSED


def test_close_without_status_is_answered_without_status() -> None:
    c, s = client(), server()
    wire = s.send_close(None)
    assert wire == h("88 00")
    assert c.receive_data(wire) == [CloseReceived(CloseCode.NO_STATUS_RECEIVED, "")]
    assert c.data_to_send() == encode(Frame(True, Opcode.CLOSE, b""), KEY)


def test_after_sending_close_data_is_ignored_pings_answered_close_awaited() -> None:
    c, s = client(), server()
    close = s.send_close()
    wire = (
        c.send_text("late", fin=False)  # the client has not seen the close yet
        + c.send_ping(b"p")
        + from_client(Frame(True, Opcode.BINARY, b"late"))  # even a bad sequence
    )
    assert s.receive_data(wire) == [Ping(b"p")]
    assert state(s) is State.CLOSING
    assert s.data_to_send() == h("8a 01 70")  # §5.5.2: still MUST pong
    c.receive_data(close)
    assert transfer(c, s) == [CloseReceived(1000, "")]
    assert state(s) is State.CLOSED


def test_bytes_after_the_peer_close_are_discarded() -> None:
    s = server()
    wire = from_client(Frame(True, Opcode.CLOSE, h("03e8")))
    wire += from_client(Frame(True, Opcode.TEXT, b"ignored")) + b"garbage"
    assert s.receive_data(wire) == [CloseReceived(1000, "")]
    assert s.receive_data(b"more garbage") == []
    assert s.data_to_send() == h("88 02 03e8")


def test_close_in_the_middle_of_a_fragmented_message() -> None:
    s = server()
    wire = from_client(Frame(False, Opcode.TEXT, b"half")) + from_client(Frame(True, Opcode.CLOSE, h("0bb8")))
    assert s.receive_data(wire) == [CloseReceived(3000, "")]


def test_sending_is_refused_once_closing_or_closed() -> None:
    c, s = client(), server()
    close = s.send_close()
    with pytest.raises(ConnectionStateError, match="send message in state CLOSING"):
        s.send_text("no")
    with pytest.raises(ConnectionStateError, match="send ping"):
        s.send_ping()
    with pytest.raises(ConnectionStateError, match="send close"):
        s.send_close()
    assert s.send_pong(b"ok") == h("8a 02 6f6b")  # answering pings stays legal
    c.receive_data(close)
    assert c.state is State.CLOSED
    actions: list[Callable[[], bytes]] = [c.send_close, c.send_ping, c.send_pong, lambda: c.send_text("x")]
    for action in actions:
        with pytest.raises(ConnectionStateError, match="CLOSED"):
            action()
    assert c.data_to_send() != b""  # the reply to the close is still queued


def test_local_misuse_raises_value_error_and_changes_nothing() -> None:
    conn = server()
    with pytest.raises(ValueError, match="125"):
        conn.send_ping(bytes(126))
    with pytest.raises(ValueError, match="125"):
        conn.send_pong(bytes(126))
    with pytest.raises(ValueError, match="cannot be sent"):
        conn.send_close(1006)
    with pytest.raises(ValueError, match="123"):
        conn.send_close(1000, "é" * 62)
    with pytest.raises(ValueError, match="status code"):
        conn.send_close(None, "reason")
    assert conn.state is State.OPEN
    assert conn.data_to_send() == b""


def test_fragmented_sending_rules() -> None:
    conn = server()
    assert conn.send_binary(b"a", fin=False) == h("02 01 61")
    with pytest.raises(ConnectionStateError, match="unfinished"):
        conn.send_text("b")
    assert conn.send_binary(b"b") == h("80 01 62")
    assert conn.send_text("a", fin=False) == h("01 01 61")
    assert conn.send_close() == h("88 02 03e8")  # abandons the message


# ---------------------------------------------------------------------------
# Failing the connection (§7.1.7)


def test_unmasked_client_frame_is_rejected_by_the_server() -> None:
    s = server()
    error = fail(s, h("81 05 48656c6c6f"))
    assert (error.close_code, error.section) == (1002, "5.1")
    code, reason = close_frame_sent(s)
    assert code == 1002
    assert reason == b"client frame is not masked"


def test_masked_server_frame_is_rejected_by_the_client() -> None:
    c = client()
    error = fail(c, h("81 85 37fa213d 7f9f4d5158"))
    assert (error.close_code, error.section) == (1002, "5.1")
    frame = decode(c.data_to_send(), expect_masked=True)  # the client masks it
    assert frame.payload[:2] == h("03ea")


@pytest.mark.parametrize(
    ("frames", "section"),
    [
        ([Frame(True, Opcode.CONT, b"x")], "5.4"),
        ([Frame(False, Opcode.TEXT, b"x"), Frame(True, Opcode.TEXT, b"y")], "5.4"),
        ([Frame(False, Opcode.BINARY, b"x"), Frame(True, Opcode.TEXT, b"")], "5.4"),
        ([Frame(True, Opcode.CLOSE, b"\x03")], "5.5.1"),
        ([Frame(True, Opcode.CLOSE, h("03ee"))], "7.4"),
        ([Frame(True, Opcode.TEXT, b"x", rsv1=True)], "5.2"),
    ],
)
def test_protocol_errors_fail_with_1002(frames: list[Frame], section: str) -> None:
    s = server()
    error = fail(s, b"".join(map(from_client, frames)))
    assert (error.close_code, error.section) == (1002, section)
    assert close_frame_sent(s)[0] == 1002


def test_64_bit_length_with_the_top_bit_set_fails_with_1002() -> None:
    c = client()
    error = fail(c, h("82 7f 80 00 00 00 00 00 00 00"))
    assert (error.close_code, error.section) == (1002, "5.2")


def test_invalid_close_reason_fails_with_1007() -> None:
    s = server()
    error = fail(s, from_client(Frame(True, Opcode.CLOSE, h("03e8 ff"))))
    assert error.close_code == 1007
    assert close_frame_sent(s)[0] == 1007


def test_invalid_utf8_fails_at_the_fragment_that_contains_it() -> None:
    # Autobahn 6.4.1: valid fragment, then a fragment with an invalid
    # sequence, then more; the failure must not wait for the last fragment.
    s = server()
    first = from_client(Frame(False, Opcode.TEXT, "κόσμε".encode()))
    bad = from_client(Frame(False, Opcode.CONT, h("f4 90 80 80")))
    assert s.receive_data(first) == []
    error = fail(s, bad)
    assert (error.close_code, error.section) == (1007, "8.1")
    assert close_frame_sent(s)[0] == 1007


def test_invalid_utf8_split_across_fragments() -> None:
    # e0 80 can never start a valid sequence; each half alone looks harmless.
    s = server()
    assert s.receive_data(from_client(Frame(False, Opcode.TEXT, b"ok\xe0"))) == []
    error = fail(s, from_client(Frame(False, Opcode.CONT, b"\x80\x80")))
    assert error.close_code == 1007


def test_encoded_surrogate_fails_before_its_last_byte() -> None:
    # CPython's decoder would wait for a third byte after ed a0.
    s = server()
    error = fail(s, from_client(Frame(False, Opcode.TEXT, b"a\xed\xa0")))
    assert error.close_code == 1007


def test_invalid_utf8_fails_before_the_frame_is_complete() -> None:
    # Autobahn 6.4.3: one frame sent in chops; fail on the bad chop.
    s = server()
    wire = from_client(Frame(True, Opcode.TEXT, b"valid" + h("f4 90 80 80") + b"more"))
    assert s.receive_data(wire[:11]) == []  # header (6) + "valid"
    error = fail(s, wire[11:13])
    assert error.close_code == 1007


def test_truncated_utf8_at_the_end_of_the_message_fails() -> None:
    s = server()
    wire = from_client(Frame(False, Opcode.TEXT, b"ok")) + from_client(Frame(True, Opcode.CONT, b"\xe2\x82"))
    assert fail(s, wire).close_code == 1007


def test_binary_messages_are_not_utf8_checked() -> None:
    s = server()
    wire = from_client(Frame(True, Opcode.BINARY, b"\xff\xed\xa0"))
    assert s.receive_data(wire) == [BinaryMessage(b"\xff\xed\xa0")]


def test_oversized_message_fails_with_1009_on_the_header() -> None:
    c, s = client(), server(max_message_size=10)
    assert s.receive_data(c.send_text("123456", fin=False)) == []
    wire = c.send_text("12345")
    error = fail(s, wire[:6])  # only the header (with mask key) of fragment 2
    assert (error.close_code, error.section) == (1009, "10.4")
    assert close_frame_sent(s)[0] == 1009


def test_message_at_the_limit_is_accepted() -> None:
    c, s = client(), server(max_message_size=10)
    wire = (
        c.send_binary(b"12345", fin=False)
        + c.send_ping(bytes(125))  # control frames do not count
        + c.send_binary(b"12345")
    )
    assert s.receive_data(wire)[-1] == BinaryMessage(b"1234512345")


def test_no_limit() -> None:
    c, s = client(), server(max_message_size=None)
    wire = c.send_binary(bytes(2**20 + 1))
    assert s.receive_data(wire) == [BinaryMessage(bytes(2**20 + 1))]


def test_failure_while_closing_sends_no_second_close() -> None:
    s = server()
    s.send_close()
    error = fail(s, from_client(Frame(True, Opcode.PING, b"x", rsv2=True)))
    assert error.close_code == 1002
    assert s.data_to_send() == b""


def test_events_before_the_failure_are_kept_on_the_error() -> None:
    s = server()
    wire = from_client(Frame(True, Opcode.TEXT, b"first")) + h("81 00")
    error = fail(s, wire)
    assert error.events == (TextMessage("first"),)


def test_next_event_lets_a_reply_precede_the_failing_close_frame() -> None:
    # Autobahn 4.1.3: a message, then a reserved opcode, in one read.  The
    # echo must go out before the 1002 close frame; receive_data has already
    # queued the close frame when it hands the message over.
    s = server()
    s.feed_data(from_client(Frame(True, Opcode.TEXT, b"Hello")) + h("85 80") + KEY)
    assert s.next_event() == TextMessage("Hello")
    echo = s.send_text("Hello")
    with pytest.raises(ProtocolError) as info:
        s.next_event()
    assert info.value.close_code == 1002 and info.value.events == ()
    assert echo == h("81 05") + b"Hello"
    assert close_frame_sent(s)[0] == 1002
    assert s.next_event() is None


def test_next_event_lets_a_reply_precede_the_close_reply() -> None:
    # Autobahn 7.1.1: a message then a Close in one read; the echo comes first.
    s = server()
    s.feed_data(from_client(Frame(True, Opcode.TEXT, b"Hi")) + from_client(Frame(True, Opcode.CLOSE, h("03 e8"))))
    assert s.next_event() == TextMessage("Hi")
    assert s.send_text("Hi") == h("81 02") + b"Hi"
    assert s.next_event() == CloseReceived(1000)
    assert s.data_to_send() == h("88 02 03 e8")
    s.feed_data(from_client(Frame(True, Opcode.TEXT, b"late")))
    assert s.next_event() is None


def test_next_event_waits_for_more_bytes_and_keeps_the_pong_order() -> None:
    s = server()
    wire = from_client(Frame(True, Opcode.PING, b"p")) + from_client(Frame(True, Opcode.TEXT, b"abc"))
    s.feed_data(wire[:-1])
    assert s.next_event() == Ping(b"p")
    assert s.next_event() is None
    s.feed_data(wire[-1:])
    assert s.next_event() == TextMessage("abc")
    assert s.data_to_send() == h("8a 01") + b"p"


def test_closed_connection_ignores_input() -> None:
    s = server()
    fail(s, b"\xff\xff")
    assert s.receive_data(b"\xff\xff") == []
    assert s.receive_data(from_client(Frame(True, Opcode.TEXT, b"x"))) == []


# ---------------------------------------------------------------------------
# The state table drives the connection


def test_transition_table_covers_every_state() -> None:
    assert set(TRANSITIONS) == set(State)
    assert TRANSITIONS[State.CLOSED] == {}
    assert TRANSITIONS[State.OPEN]["send_close"] is State.CLOSING
    assert TRANSITIONS[State.CLOSING]["receive_close"] is State.CLOSED
    for row in TRANSITIONS.values():
        assert all(isinstance(state, State) for state in row.values())


def test_connection_consults_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(TRANSITIONS[State.OPEN], "send_ping")
    with pytest.raises(ConnectionStateError, match="send ping in state OPEN"):
        server().send_ping()


# ---------------------------------------------------------------------------
# Fuzzing: only ProtocolError may escape, and every call returns


def check_outcome(conn: Connection, chunks: list[bytes]) -> None:
    for chunk in chunks:
        was_open = conn.state is State.OPEN
        try:
            events = conn.receive_data(chunk)
        except ProtocolError as error:
            assert conn.state is State.CLOSED
            assert 1000 <= error.close_code <= 1011
            out = conn.data_to_send()
            if was_open:  # §7.1.7: last comes a close frame with the error's code
                parser = FrameParser(expect_masked=conn.role is Role.CLIENT)
                last = parser.feed(out)[-1]
                assert last.opcode is Opcode.CLOSE
                assert last.payload[:2] == error.close_code.to_bytes(2, "big")
            return
        for event in events:
            assert isinstance(event, TextMessage | BinaryMessage | Ping | Pong | CloseReceived)


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)] or [b""]


@SETTINGS
@given(data=st.binary(max_size=400), cuts=st.lists(st.integers(0, 400), max_size=8))
def test_fuzz_arbitrary_bytes(data: bytes, cuts: list[int]) -> None:
    check_outcome(server(max_message_size=256), chunked(data, cuts))
    check_outcome(client(max_message_size=256), chunked(data, cuts))


def raw_frame(head1: int, payload: bytes, masked: bool, length: int | None = None) -> bytes:
    """Any header at all: the fuzzer must be able to build wrong frames."""
    n = len(payload) if length is None else length
    mask_bit = 0x80 if masked else 0
    if n <= 125:
        head = bytes([head1, mask_bit | n])
    elif n <= 0xFFFF:
        head = bytes([head1, mask_bit | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([head1, mask_bit | 127]) + n.to_bytes(8, "big")
    if masked:
        return head + KEY + bytes(b ^ KEY[i % 4] for i, b in enumerate(payload))
    return head + payload


text_payloads = st.one_of(
    st.text(max_size=30).map(str.encode),
    st.binary(max_size=30),
    st.sampled_from([b"\xce", b"\xba", b"\xed\xa0\x80", b"\xf4\x90", b"\x03\xe8"]),
)
fuzz_frames = st.builds(
    raw_frame,
    head1=st.one_of(
        st.sampled_from([0x80, 0x00, 0x81, 0x01, 0x82, 0x02, 0x88, 0x89, 0x8A]),
        st.integers(0, 255),
    ),
    payload=text_payloads,
    masked=st.sampled_from([True, True, True, False]),  # mostly valid for a server
    length=st.one_of(st.none(), st.integers(0, 2**64 - 1)),  # None: the true length
)


@SETTINGS
@given(
    frames=st.lists(fuzz_frames, max_size=10),
    cuts=st.lists(st.integers(0, 2000), max_size=10),
)
def test_fuzz_frame_sequences(frames: list[bytes], cuts: list[int]) -> None:
    data = b"".join(frames)
    check_outcome(server(max_message_size=64), chunked(data, cuts))


# ---------------------------------------------------------------------------
# Interoperability with websockets' sans-I/O protocol

Script = list[tuple[str, list[bytes]]]  # (kind, payload of each fragment)

scripts: st.SearchStrategy[Script] = st.lists(
    st.one_of(
        st.tuples(st.just("text"), st.lists(st.text(max_size=20).map(str.encode), min_size=1, max_size=3)),
        st.tuples(st.just("binary"), st.lists(st.binary(max_size=20), min_size=1, max_size=3)),
        st.tuples(st.just("ping"), st.lists(st.binary(max_size=20), min_size=1, max_size=1)),
    ),
    max_size=5,
)


def expected_events(script: Script) -> list[Event]:
    events: list[Event] = []
    for kind, parts in script:
        if kind == "ping":
            events.append(Ping(parts[0]))
        elif kind == "text":
            events.append(TextMessage(b"".join(parts).decode()))
        else:
            events.append(BinaryMessage(b"".join(parts)))
    return events


@SETTINGS
@given(script=scripts)
def test_our_client_talks_to_a_websockets_server(script: Script) -> None:
    ours, theirs = client(), WsProtocol(WsSide.SERVER)
    wire = b""
    for kind, parts in script:
        for i, part in enumerate(parts):
            fin = i == len(parts) - 1
            if kind == "text":
                wire += ours.send_text(part.decode(), fin=fin)
            elif kind == "binary":
                wire += ours.send_binary(part, fin=fin)
            else:
                wire += ours.send_ping(part)
    theirs.receive_data(wire + ours.send_close(1000, "done"))

    # Reassemble the frames websockets hands out into our event types.
    received: list[Event] = []
    fragments: list[bytes] = []
    opcode = WsOpcode.CONT
    for frame in theirs.events_received():
        assert isinstance(frame, WsFrame)
        if frame.opcode is WsOpcode.PING:
            received.append(Ping(bytes(frame.data)))
        elif frame.opcode is not WsOpcode.CLOSE:
            opcode = frame.opcode if frame.opcode is not WsOpcode.CONT else opcode
            fragments.append(bytes(frame.data))
            if frame.fin:
                data = b"".join(fragments)
                fragments = []
                received.append(TextMessage(data.decode()) if opcode is WsOpcode.TEXT else BinaryMessage(data))
    assert received == expected_events(script)
    assert theirs.close_rcvd is not None
    assert (theirs.close_rcvd.code, theirs.close_rcvd.reason) == (1000, "done")

    # Their pongs and their close reply come back to us.
    events = ours.receive_data(b"".join(theirs.data_to_send()))
    pings = [e.payload for e in expected_events(script) if isinstance(e, Ping)]
    assert events == [*map(Pong, pings), CloseReceived(1000, "done")]
    assert ours.state is State.CLOSED


@SETTINGS
@given(script=scripts)
def test_a_websockets_client_talks_to_our_server(script: Script) -> None:
    theirs, ours = WsProtocol(WsSide.CLIENT), server()
    for kind, parts in script:
        if kind == "ping":
            theirs.send_ping(parts[0])
            continue
        send = theirs.send_text if kind == "text" else theirs.send_binary
        send(parts[0], fin=len(parts) == 1)
        for i, part in enumerate(parts[1:], start=2):
            theirs.send_continuation(part, fin=i == len(parts))
    theirs.send_close(1001, "bye")
    events = ours.receive_data(b"".join(theirs.data_to_send()))
    assert events == [*expected_events(script), CloseReceived(1001, "bye")]
    assert ours.state is State.CLOSED

    theirs.receive_data(ours.data_to_send())
    frames = theirs.events_received()
    assert [f.opcode for f in frames if isinstance(f, WsFrame)][-1] is WsOpcode.CLOSE
    assert theirs.close_rcvd is not None
    assert theirs.close_rcvd.code == 1001
