"""Tests for labkit.protocol.connection: a client and a server over a fake wire."""

from __future__ import annotations

import itertools
import tracemalloc
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.frames import Frame as WsFrame
from websockets.frames import Opcode as WsOpcode
from websockets.protocol import Protocol as WsProtocol
from websockets.protocol import Side as WsSide

from labkit.protocol.connection import DEFAULT_MAX_FRAGMENTS, SEND_EOF, TRANSITIONS, Connection, Role, State
from labkit.protocol.errors import CloseCode, ConnectionStateError, ProtocolError
from labkit.protocol.events import (
    BinaryMessage,
    CloseReceived,
    Event,
    Ping,
    Pong,
    TextMessage,
)
from labkit.protocol.frames import Close, Frame, FrameParser, Opcode, decode, encode

SETTINGS = settings(max_examples=200, deadline=None, database=None)
KEY = bytes.fromhex("37 fa 21 3d")


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def client(max_message_size: int | None = 2**20, max_fragments: int | None = DEFAULT_MAX_FRAGMENTS) -> Connection:
    return Connection(
        Role.CLIENT, max_message_size=max_message_size, max_fragments=max_fragments, mask_key_source=lambda n: KEY
    )


def server(max_message_size: int | None = 2**20, max_fragments: int | None = DEFAULT_MAX_FRAGMENTS) -> Connection:
    return Connection(Role.SERVER, max_message_size=max_message_size, max_fragments=max_fragments)


def state(conn: Connection) -> State:
    """conn.state, without letting mypy narrow it across calls that change it."""
    return conn.state


def close_status(conn: Connection) -> tuple[int | None, str | None]:
    """conn's close code and reason, without letting mypy narrow them across calls that change them."""
    return conn.close_code, conn.close_reason


def wire(conn: Connection) -> bytes:
    """Every byte *conn* queued, as one string; an EOF it queued must come last."""
    items = conn.data_to_send()
    assert SEND_EOF not in items[:-1], items
    return b"".join(items)


def transfer(sender: Connection, receiver: Connection) -> list[Event]:
    """Move every pending byte across the fake wire."""
    return receiver.receive_data(wire(sender))


def from_client(frame: Frame) -> bytes:
    return encode(frame, KEY)


def fail(conn: Connection, data: bytes) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        conn.receive_data(data)
    assert conn.state is State.CLOSED
    return info.value


def close_frame_sent(conn: Connection) -> tuple[int, bytes]:
    """The code and reason bytes of the close frame *conn* queued."""
    frame = decode(wire(conn))
    assert frame.opcode is Opcode.CLOSE
    return int.from_bytes(frame.payload[:2], "big"), frame.payload[2:]


# ---------------------------------------------------------------------------
# Byte-exact sending (RFC 6455 §5.7)


def test_server_sends_unmasked_fragments() -> None:
    conn = server()
    conn.send_text("Hel", fin=False)
    conn.send_text("lo")
    conn.send_text("Hello")
    assert conn.data_to_send() == [h("01 03 48 65 6c"), h("80 02 6c 6f"), h("81 05 48656c6c6f")]
    assert conn.data_to_send() == []


def test_send_methods_return_nothing_everything_comes_out_of_data_to_send() -> None:
    conn = server()
    # mypy refuses to use the value of a call that returns None: that None is what this test checks.
    results = [conn.send_text("a"), conn.send_binary(b"b"), conn.send_ping(), conn.send_pong(), conn.send_close()]  # type: ignore[func-returns-value]
    assert results == [None] * 5
    assert conn.data_to_send() == [h("81 01 61"), h("82 01 62"), h("89 00"), h("8a 00"), h("88 02 03e8")]


def test_client_masks_with_the_injected_key() -> None:
    conn = client()
    conn.send_text("Hello")
    conn.send_pong(b"Hello")
    assert conn.data_to_send() == [h("81 85 37fa213d 7f9f4d5158"), h("8a 85 37fa213d 7f9f4d5158")]


def test_client_asks_for_a_fresh_key_per_frame() -> None:
    keys = iter([b"\x00\x00\x00\x01", b"\x00\x00\x00\x02"])
    conn = Connection(Role.CLIENT, mask_key_source=lambda n: next(keys))
    conn.send_binary(b"")
    conn.send_ping()
    assert conn.data_to_send() == [h("82 80 00000001"), h("89 80 00000002")]


def test_binary_headers() -> None:
    conn = server()
    conn.send_binary(bytes(256))
    conn.send_binary(bytes(65536))
    conn.send_ping(b"Hello")
    short, long, ping = conn.data_to_send()
    assert short == h("82 7E 01 00") + bytes(256)
    assert long == h("82 7F 00 00 00 00 00 01 00 00") + bytes(65536)
    assert ping == h("89 05 48656c6c6f")


def test_replies_and_sent_frames_share_one_queue_in_wire_order() -> None:
    conn = server()
    assert conn.receive_data(from_client(Frame(True, Opcode.PING, b"p"))) == [Ping(b"p")]
    conn.send_text("x")
    assert conn.data_to_send() == [h("8a 01 70"), h("81 01 78")]
    assert conn.data_to_send() == []


# ---------------------------------------------------------------------------
# Messages over the fake wire


def test_text_and_binary_both_ways() -> None:
    c, s = client(), server()
    c.send_text("héllo, wörld ✓")
    c.send_binary(b"\x00\xff")
    assert transfer(c, s) == [
        TextMessage("héllo, wörld ✓"),
        BinaryMessage(b"\x00\xff"),
    ]
    s.send_text("")
    s.send_binary(b"")
    assert transfer(s, c) == [TextMessage(""), BinaryMessage(b"")]


def test_fragmented_messages_with_control_frames_in_between() -> None:
    c, s = client(), server()
    c.send_text("κό", fin=False)
    c.send_ping(b"1")
    c.send_text("σμε", fin=False)
    c.send_pong(b"2")
    c.send_text("")
    c.send_binary(b"a", fin=False)
    c.send_binary(b"b")
    assert transfer(c, s) == [
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
    c.send_text("Hello, ", fin=False)
    c.send_ping(b"!")
    c.send_text("world")
    data = wire(c)
    events = [e for i in range(len(data)) for e in s.receive_data(data[i : i + 1])]
    assert events == [Ping(b"!"), TextMessage("Hello, world")]


def test_ping_is_answered_with_an_identical_pong() -> None:
    c, s = client(), server()
    c.send_ping(b"are you there?")
    assert transfer(c, s) == [Ping(b"are you there?")]
    assert s.data_to_send() == [h("8a 0e") + b"are you there?"]
    c.send_ping(b"again")
    transfer(c, s)
    assert transfer(s, c) == [Pong(b"again")]


# ---------------------------------------------------------------------------
# Closing handshake (§5.5.1, §7) and the TCP close (§7.1.1)


def test_close_started_by_the_client() -> None:
    c, s = client(), server()
    c.send_close(1000, "bye")
    assert c.data_to_send() == [encode(Frame(True, Opcode.CLOSE, h("03e8") + b"bye"), KEY)]
    assert state(c) is State.CLOSING
    assert c.close_sent == Close(1000, "bye") and c.close_code is None
    wire_close = encode(Frame(True, Opcode.CLOSE, h("03e8") + b"bye"), KEY)
    assert s.receive_data(wire_close) == [CloseReceived(1000, "bye")]
    assert s.state is State.CLOSED
    # Code and reason echoed, as websockets does; then the server closes TCP first (§7.1.1).
    assert s.data_to_send() == [h("88 05 03e8") + b"bye", SEND_EOF]
    assert (s.close_code, s.close_reason) == (1000, "bye")
    assert c.receive_data(h("88 05 03e8") + b"bye") == [CloseReceived(1000, "bye")]
    assert state(c) is State.CLOSED
    assert c.data_to_send() == []  # a client waits for the server to close TCP
    assert (c.close_sent, c.close_received) == (Close(1000, "bye"), Close(1000, "bye"))
    assert close_status(c) == (1000, "bye")


def test_close_started_by_the_server() -> None:
    c, s = client(), server()
    s.send_close(CloseCode.GOING_AWAY, "restart")
    assert s.data_to_send() == [h("88 09 03e9") + b"restart"]
    assert s.close_expected()
    c.receive_data(h("88 09 03e9") + b"restart")
    assert c.state is State.CLOSED
    assert c.close_received == Close(1001, "restart")
    assert c.data_to_send() == [encode(Frame(True, Opcode.CLOSE, h("03e9") + b"restart"), KEY)]
    s.receive_data(encode(Frame(True, Opcode.CLOSE, h("03e9") + b"restart"), KEY))
    assert state(s) is State.CLOSED
    assert s.data_to_send() == [SEND_EOF]


def test_close_without_status_is_answered_without_status() -> None:
    c, s = client(), server()
    s.send_close(None)
    assert s.close_sent == Close(1005, "")
    assert s.data_to_send() == [h("88 00")]
    assert c.receive_data(h("88 00")) == [CloseReceived(CloseCode.NO_STATUS_RECEIVED, "")]
    assert c.data_to_send() == [encode(Frame(True, Opcode.CLOSE, b""), KEY)]
    assert (c.close_code, c.close_reason) == (1005, "")


def test_after_sending_close_data_is_ignored_pings_answered_close_awaited() -> None:
    c, s = client(), server()
    s.send_close()
    close = wire(s)
    c.send_text("late", fin=False)  # the client has not seen the close yet
    c.send_ping(b"p")
    data = wire(c) + from_client(Frame(True, Opcode.BINARY, b"late"))  # even a bad sequence
    assert s.receive_data(data) == [Ping(b"p")]
    assert state(s) is State.CLOSING
    assert s.data_to_send() == [h("8a 01 70")]  # §5.5.2: still MUST pong
    c.receive_data(close)
    assert transfer(c, s) == [CloseReceived(1000, "")]
    assert state(s) is State.CLOSED
    assert s.data_to_send() == [SEND_EOF]


def test_bytes_after_the_peer_close_are_discarded() -> None:
    s = server()
    data = from_client(Frame(True, Opcode.CLOSE, h("03e8")))
    data += from_client(Frame(True, Opcode.TEXT, b"ignored")) + b"garbage"
    assert s.receive_data(data) == [CloseReceived(1000, "")]
    assert s.receive_data(b"more garbage") == []
    assert s.data_to_send() == [h("88 02 03e8"), SEND_EOF]


def test_close_in_the_middle_of_a_fragmented_message() -> None:
    s = server()
    data = from_client(Frame(False, Opcode.TEXT, b"half")) + from_client(Frame(True, Opcode.CLOSE, h("0bb8")))
    assert s.receive_data(data) == [CloseReceived(3000, "")]


def test_sending_is_refused_once_closing_or_closed() -> None:
    c, s = client(), server()
    s.send_close()
    close = wire(s)
    with pytest.raises(ConnectionStateError, match="send message in state CLOSING"):
        s.send_text("no")
    with pytest.raises(ConnectionStateError, match="send ping"):
        s.send_ping()
    with pytest.raises(ConnectionStateError, match="send close"):
        s.send_close()
    s.send_pong(b"ok")  # answering pings stays legal
    assert s.data_to_send() == [h("8a 02 6f6b")]
    c.receive_data(close)
    assert c.state is State.CLOSED
    actions: list[Callable[[], None]] = [c.send_close, c.send_ping, c.send_pong, lambda: c.send_text("x")]
    for action in actions:
        with pytest.raises(ConnectionStateError, match="CLOSED"):
            action()
    assert decode(wire(c), expect_masked=True).opcode is Opcode.CLOSE  # the reply to the close is still queued


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
    with pytest.raises(ValueError, match="cannot be sent"):
        conn.fail(1006)
    assert conn.state is State.OPEN
    assert conn.data_to_send() == []
    assert conn.close_sent is None


def test_fragmented_sending_rules() -> None:
    conn = server()
    conn.send_binary(b"a", fin=False)
    with pytest.raises(ConnectionStateError, match="unfinished"):
        conn.send_text("b")
    conn.send_binary(b"b")
    conn.send_text("a", fin=False)
    conn.send_close()  # abandons the message
    assert conn.data_to_send() == [h("02 01 61"), h("80 01 62"), h("01 01 61"), h("88 02 03e8")]


# ---------------------------------------------------------------------------
# The peer closes TCP: receive_eof (§7.1.5, §7.1.1)


def test_eof_after_the_closing_handshake_lets_the_client_close_too() -> None:
    c = client()
    c.receive_data(h("88 02 03e8"))
    c.data_to_send()
    assert c.close_expected()  # the server should close TCP now (§7.1.1)
    c.receive_eof()
    assert c.data_to_send() == [SEND_EOF]
    assert not c.close_expected()
    assert (c.state, c.close_code, c.close_reason) == (State.CLOSED, 1000, "")


def test_eof_without_a_close_frame_is_an_abnormal_closure() -> None:
    s = server()
    s.send_text("hi")
    assert (s.close_code, s.close_reason) == (None, None)
    s.receive_eof()
    assert s.state is State.CLOSED
    assert (s.close_code, s.close_reason) == (1006, "")  # §7.1.5; 1006 never travels (§7.4.1)
    assert s.data_to_send() == [h("81 02 6869"), SEND_EOF]  # no close frame, only our EOF
    assert s.close_sent is None and not s.close_expected()
    assert s.receive_data(from_client(Frame(True, Opcode.TEXT, b"late"))) == []


def test_eof_while_waiting_for_the_close_reply_is_abnormal() -> None:
    c = client()
    c.send_close(1000)
    c.data_to_send()
    assert c.close_expected()
    c.receive_eof()
    assert (c.state, c.close_code) == (State.CLOSED, 1006)
    assert c.close_sent == Close(1000, "")
    assert c.data_to_send() == [SEND_EOF]


def test_eof_in_the_middle_of_a_frame_drops_it_and_is_idempotent() -> None:
    s = server()
    s.receive_data(from_client(Frame(True, Opcode.TEXT, b"cut short"))[:5])
    s.receive_eof()
    s.receive_eof()
    assert s.data_to_send() == [SEND_EOF]
    assert s.close_code == 1006


def test_server_eof_comes_once() -> None:
    s = server()
    s.receive_data(from_client(Frame(True, Opcode.CLOSE, h("03e8"))))
    s.receive_eof()
    assert s.data_to_send() == [h("88 02 03e8"), SEND_EOF]
    assert not s.close_expected()


# ---------------------------------------------------------------------------
# fail(): the front end fails the connection (§7.1.7)


def test_a_server_failing_sends_the_close_frame_then_closes_tcp() -> None:
    s = server()
    s.fail(CloseCode.POLICY_VIOLATION, "reader too slow")
    assert s.data_to_send() == [h("88 11 03f0") + b"reader too slow", SEND_EOF]
    assert s.state is State.CLOSED
    assert s.close_sent == Close(1008, "reader too slow")
    assert s.close_code == 1006  # no close frame came from the peer
    assert s.close_expected()  # the client should now close its side
    assert s.receive_data(from_client(Frame(True, Opcode.TEXT, b"late"))) == []
    s.receive_eof()
    assert not s.close_expected() and s.data_to_send() == []


def test_a_client_failing_waits_for_the_server_to_close_tcp() -> None:
    c = client()
    c.fail(1011)
    assert c.data_to_send() == [encode(Frame(True, Opcode.CLOSE, h("03f3")), KEY)]
    assert c.state is State.CLOSED and c.close_expected()


def test_failing_while_closing_sends_no_second_close_frame() -> None:
    s = server()
    s.send_close()
    s.data_to_send()
    s.fail(1011, "gave up waiting")
    assert s.data_to_send() == [SEND_EOF]
    assert s.close_sent == Close(1000, "")


def test_failing_a_closed_connection_changes_nothing() -> None:
    s = server()
    s.fail(1011)
    s.data_to_send()
    s.fail(1008)
    assert s.data_to_send() == []
    assert s.close_sent == Close(1011, "")


def test_fail_cuts_a_long_reason_to_fit_the_control_frame() -> None:
    s = server()
    s.fail(1008, "é" * 100)
    frame = decode(s.data_to_send()[0])
    assert len(frame.payload) == 124  # the code, then 61 é of 2 bytes: 123 would cut one in half
    assert s.close_sent == Close(1008, "é" * 61)


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
    [close] = c.data_to_send()  # a client leaves closing TCP to the server (§7.1.1)
    frame = decode(close, expect_masked=True)  # the client masks it
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
    data = from_client(Frame(True, Opcode.TEXT, b"valid" + h("f4 90 80 80") + b"more"))
    assert s.receive_data(data[:11]) == []  # header (6) + "valid"
    error = fail(s, data[11:13])
    assert error.close_code == 1007


def test_truncated_utf8_at_the_end_of_the_message_fails() -> None:
    s = server()
    data = from_client(Frame(False, Opcode.TEXT, b"ok")) + from_client(Frame(True, Opcode.CONT, b"\xe2\x82"))
    assert fail(s, data).close_code == 1007


def test_binary_messages_are_not_utf8_checked() -> None:
    s = server()
    data = from_client(Frame(True, Opcode.BINARY, b"\xff\xed\xa0"))
    assert s.receive_data(data) == [BinaryMessage(b"\xff\xed\xa0")]


def test_oversized_message_fails_with_1009_on_the_header() -> None:
    c, s = client(), server(max_message_size=10)
    c.send_text("123456", fin=False)
    assert transfer(c, s) == []
    c.send_text("12345")
    error = fail(s, wire(c)[:6])  # only the header (with mask key) of fragment 2
    assert (error.close_code, error.section) == (1009, "10.4")
    assert close_frame_sent(s)[0] == 1009


def test_message_at_the_limit_is_accepted() -> None:
    c, s = client(), server(max_message_size=10)
    c.send_binary(b"12345", fin=False)
    c.send_ping(bytes(125))  # control frames do not count
    c.send_binary(b"12345")
    assert transfer(c, s)[-1] == BinaryMessage(b"1234512345")


def test_no_limit() -> None:
    c, s = client(), server(max_message_size=None)
    c.send_binary(bytes(2**20 + 1))
    assert transfer(c, s) == [BinaryMessage(bytes(2**20 + 1))]


def empty_fragments(count: int, last: bytes = b"end") -> bytes:
    """A binary message in ``count`` frames: ``count - 1`` empty ones, then ``last``."""
    first = from_client(Frame(False, Opcode.BINARY, b""))
    more = from_client(Frame(False, Opcode.CONT, b""))
    return first + more * (count - 2) + from_client(Frame(True, Opcode.CONT, last))


def test_a_message_may_have_max_fragments_frames() -> None:
    s = server(max_fragments=5)
    assert s.receive_data(empty_fragments(5)) == [BinaryMessage(b"end")]
    assert s.receive_data(empty_fragments(5)) == [BinaryMessage(b"end")]  # the count starts again


def test_one_fragment_more_fails_with_1009_on_its_header() -> None:
    s = server(max_fragments=5)
    data = empty_fragments(6)
    assert s.receive_data(data[: 5 * 6]) == []  # five empty frames of 6 bytes each
    error = fail(s, data[5 * 6 : 5 * 6 + 6])  # the sixth frame's header alone
    assert (error.close_code, error.section) == (1009, "10.4")
    assert str(error) == "message in more than 5 frames (RFC 6455 §10.4)"
    assert close_frame_sent(s)[0] == 1009


def test_control_frames_between_fragments_do_not_count() -> None:
    s = server(max_fragments=2)
    data = from_client(Frame(False, Opcode.TEXT, b"a")) + from_client(Frame(True, Opcode.PING, b"")) * 3
    data += from_client(Frame(True, Opcode.CONT, b"b"))
    assert s.receive_data(data) == [Ping(b""), Ping(b""), Ping(b""), TextMessage("ab")]


def test_the_default_fragment_limit_lets_autobahn_9_3_1_through() -> None:
    # Autobahn 9.3.1/9.4.1: 4 MiB in 64-byte fragments, 65536 of them, then an
    # empty one with FIN (its fragmenter sends one when the size divides evenly).
    s = Connection(Role.SERVER)
    assert s.max_fragments == DEFAULT_MAX_FRAGMENTS
    assert s.receive_data(empty_fragments(4 * 2**20 // 64 + 1)) == [BinaryMessage(b"end")]


def test_no_fragment_limit() -> None:
    s = server(max_message_size=None, max_fragments=None)
    assert s.receive_data(empty_fragments(DEFAULT_MAX_FRAGMENTS + 1)) == [BinaryMessage(b"end")]


def test_empty_fragments_do_not_grow_memory() -> None:
    s = server(max_fragments=None)
    s.receive_data(from_client(Frame(False, Opcode.BINARY, b"x")))
    more = from_client(Frame(False, Opcode.CONT, b"")) * 1000
    tracemalloc.start()
    try:
        s.receive_data(more)
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(20):
            s.receive_data(more)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 4096, f"20000 empty fragments kept {grown} bytes"
    assert s.receive_data(from_client(Frame(True, Opcode.CONT, b"y"))) == [BinaryMessage(b"xy")]


def test_failure_while_closing_sends_no_second_close() -> None:
    s = server()
    s.send_close()
    s.data_to_send()
    error = fail(s, from_client(Frame(True, Opcode.PING, b"x", rsv2=True)))
    assert error.close_code == 1002
    assert s.data_to_send() == [SEND_EOF]


def test_events_before_the_failure_are_kept_on_the_error() -> None:
    s = server()
    data = from_client(Frame(True, Opcode.TEXT, b"first")) + h("81 00")
    error = fail(s, data)
    assert error.events == (TextMessage("first"),)


def test_next_event_lets_a_reply_precede_the_failing_close_frame() -> None:
    # Autobahn 4.1.3: a message, then a reserved opcode, in one read.  The
    # echo must go out before the 1002 close frame; receive_data has already
    # queued the close frame when it hands the message over.
    s = server()
    s.feed_data(from_client(Frame(True, Opcode.TEXT, b"Hello")) + h("85 80") + KEY)
    assert s.next_event() == TextMessage("Hello")
    s.send_text("Hello")
    with pytest.raises(ProtocolError) as info:
        s.next_event()
    assert info.value.close_code == 1002 and info.value.events == ()
    echo, close, eof = s.data_to_send()
    assert echo == h("81 05") + b"Hello"
    assert decode(close).payload[:2] == h("03ea")
    assert eof == SEND_EOF
    assert s.next_event() is None


def test_next_event_lets_a_reply_precede_the_close_reply() -> None:
    # Autobahn 7.1.1: a message then a Close in one read; the echo comes first.
    s = server()
    s.feed_data(from_client(Frame(True, Opcode.TEXT, b"Hi")) + from_client(Frame(True, Opcode.CLOSE, h("03 e8"))))
    assert s.next_event() == TextMessage("Hi")
    s.send_text("Hi")
    assert s.next_event() == CloseReceived(1000)
    assert s.data_to_send() == [h("81 02") + b"Hi", h("88 02 03 e8"), SEND_EOF]
    s.feed_data(from_client(Frame(True, Opcode.TEXT, b"late")))
    assert s.next_event() is None


def test_next_event_waits_for_more_bytes_and_keeps_the_pong_order() -> None:
    s = server()
    data = from_client(Frame(True, Opcode.PING, b"p")) + from_client(Frame(True, Opcode.TEXT, b"abc"))
    s.feed_data(data[:-1])
    assert s.next_event() == Ping(b"p")
    assert s.next_event() is None
    s.feed_data(data[-1:])
    assert s.next_event() == TextMessage("abc")
    assert s.data_to_send() == [h("8a 01") + b"p"]


def test_closed_connection_ignores_input() -> None:
    s = server()
    fail(s, b"\xff\xff")
    assert s.receive_data(b"\xff\xff") == []
    assert s.receive_data(from_client(Frame(True, Opcode.TEXT, b"x"))) == []


# ---------------------------------------------------------------------------
# The state table drives the connection


def test_transition_table_covers_every_state() -> None:
    assert set(TRANSITIONS) == set(State)
    assert TRANSITIONS[State.CLOSED] == {"fail": State.CLOSED, "receive_eof": State.CLOSED}
    assert TRANSITIONS[State.OPEN]["send_close"] is State.CLOSING
    assert TRANSITIONS[State.CLOSING]["receive_close"] is State.CLOSED
    for state in (State.OPEN, State.CLOSING):
        assert TRANSITIONS[state]["receive_eof"] is TRANSITIONS[state]["fail"] is State.CLOSED
    for row in TRANSITIONS.values():
        assert all(isinstance(state, State) for state in row.values())


def test_connection_consults_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(TRANSITIONS[State.OPEN], "send_ping")
    with pytest.raises(ConnectionStateError, match="send ping in state OPEN"):
        server().send_ping()
    monkeypatch.delitem(TRANSITIONS[State.OPEN], "receive_eof")
    with pytest.raises(ConnectionStateError, match="receive eof in state OPEN"):
        server().receive_eof()


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
            if conn.role is Role.SERVER:  # §7.1.1: a server closes TCP first
                assert out[-1] == SEND_EOF
                out.pop()
            assert SEND_EOF not in out
            if was_open:  # §7.1.7: last comes a close frame with the error's code
                parser = FrameParser(expect_masked=conn.role is Role.CLIENT)
                last = parser.feed(b"".join(out))[-1]
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
    for kind, parts in script:
        for i, part in enumerate(parts):
            fin = i == len(parts) - 1
            if kind == "text":
                ours.send_text(part.decode(), fin=fin)
            elif kind == "binary":
                ours.send_binary(part, fin=fin)
            else:
                ours.send_ping(part)
    ours.send_close(1000, "done")
    theirs.receive_data(wire(ours))

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

    # Their pongs and their close reply come back to us, then their EOF: a
    # websockets server closes TCP first too (§7.1.1), and so does our client.
    *frames, eof = theirs.data_to_send()
    assert eof == SEND_EOF
    events = ours.receive_data(b"".join(frames))
    pings = [e.payload for e in expected_events(script) if isinstance(e, Ping)]
    assert events == [*map(Pong, pings), CloseReceived(1000, "done")]
    assert ours.state is State.CLOSED
    assert ours.data_to_send() == [] and ours.close_expected()
    ours.receive_eof()
    assert ours.data_to_send() == [SEND_EOF]
    assert (ours.close_code, ours.close_reason) == (1000, "done")


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

    *replies, eof = ours.data_to_send()
    assert eof == SEND_EOF
    theirs.receive_data(b"".join(replies))
    frames = theirs.events_received()
    assert [f.opcode for f in frames if isinstance(f, WsFrame)][-1] is WsOpcode.CLOSE
    assert theirs.close_rcvd is not None
    assert theirs.close_rcvd.code == 1001
    # Our EOF is what websockets' client waits for; it then closes its side too.
    assert theirs.close_expected()
    theirs.receive_eof()
    assert theirs.data_to_send() == [SEND_EOF]
    assert theirs.close_code == 1001


@pytest.mark.parametrize(
    ("wire", "plain"),
    [
        (b"", True),  # nothing waits: parsing on cannot fail
        (h("81"), True),  # one byte: not enough to tell, nothing to parse yet
        (h("81 85"), True),  # a masked text frame starts
        (h("82 80"), True),  # a masked binary frame starts
        (h("89 80"), False),  # a ping: the front end answers first what came before
        (h("88 82"), False),  # a close
        (h("c1 85"), False),  # RSV1 without an extension (§5.2)
        (h("83 80"), False),  # reserved opcode (§5.2)
        (h("81 05"), False),  # unmasked client frame (§5.1)
        (h("80 85"), False),  # a continuation with no message to continue (§5.4)
    ],
)
def test_a_server_can_see_whether_parsing_on_only_delivers_data(wire: bytes, plain: bool) -> None:
    server = Connection(Role.SERVER)
    server.feed_data(wire)
    assert server.next_is_plain_data() is plain


def test_inside_a_fragmented_message_only_a_continuation_is_plain() -> None:
    server = Connection(Role.SERVER)
    server.feed_data(encode(Frame(False, Opcode.TEXT, b"Hel"), KEY))
    assert server.next_event() is None  # the first fragment: no event yet
    server.feed_data(encode(Frame(True, Opcode.TEXT, b"lo"), KEY))
    assert server.next_is_plain_data() is False  # §5.4: a new message while one is unfinished
    other = Connection(Role.SERVER)
    other.feed_data(encode(Frame(False, Opcode.TEXT, b"Hel"), KEY))
    assert other.next_event() is None
    other.feed_data(encode(Frame(True, Opcode.CONT, b"lo"), KEY))
    assert other.next_is_plain_data() is True
    assert other.next_event() == TextMessage("Hello")
