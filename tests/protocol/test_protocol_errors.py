"""Tests for labkit.protocol.errors: close codes and error messages."""

from __future__ import annotations

import pytest
from websockets.exceptions import ProtocolError as WsProtocolError
from websockets.frames import Close as WsClose
from websockets.frames import CloseCode as WsCloseCode

from labkit.protocol.errors import (
    CloseCode,
    ConnectionStateError,
    HandshakeError,
    HTTPParseError,
    ProtocolError,
    is_valid_close_code_on_wire,
)


def test_close_code_values() -> None:
    assert {code.name: int(code) for code in CloseCode} == {
        "NORMAL": 1000,
        "GOING_AWAY": 1001,
        "PROTOCOL_ERROR": 1002,
        "UNSUPPORTED_DATA": 1003,
        "NO_STATUS_RECEIVED": 1005,
        "ABNORMAL_CLOSURE": 1006,
        "INVALID_PAYLOAD": 1007,
        "POLICY_VIOLATION": 1008,
        "MESSAGE_TOO_BIG": 1009,
        "MANDATORY_EXTENSION": 1010,
        "INTERNAL_ERROR": 1011,
        "SERVICE_RESTART": 1012,
        "TRY_AGAIN_LATER": 1013,
        "BAD_GATEWAY": 1014,
        "TLS_HANDSHAKE": 1015,
    }
    assert {int(c) for c in CloseCode} == {int(c) for c in WsCloseCode}


@pytest.mark.parametrize(
    "code",
    [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999],
)
def test_valid_codes_on_the_wire(code: int) -> None:
    assert is_valid_close_code_on_wire(code)


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535, -1])
def test_invalid_codes_on_the_wire(code: int) -> None:
    assert not is_valid_close_code_on_wire(code)


def test_agrees_with_websockets_on_every_16_bit_code() -> None:
    for code in range(2**16):
        try:
            WsClose(code, "").check()
        except WsProtocolError:
            theirs = False
        else:
            theirs = True
        assert is_valid_close_code_on_wire(code) is theirs, code


def test_protocol_error_is_one_line_with_its_citation() -> None:
    error = ProtocolError("reserved bits set", section="5.2")
    assert str(error) == "reserved bits set (RFC 6455 §5.2)"
    assert (error.reason, error.section, error.close_code) == (
        "reserved bits set",
        "5.2",
        1002,
    )
    assert type(error.close_code) is int
    assert error.events == ()
    assert "5.2" in repr(error)


def test_specific_close_code() -> None:
    error = ProtocolError("bad UTF-8", section="8.1", close_code=CloseCode.INVALID_PAYLOAD)
    assert error.close_code == 1007


def test_handshake_error_carries_status_and_headers() -> None:
    error = HandshakeError(
        "Sec-WebSocket-Version must be 13",
        status=426,
        section="4.2.2",
        headers=(("Sec-WebSocket-Version", "13"),),
    )
    assert isinstance(error, ProtocolError)
    assert str(error) == "Sec-WebSocket-Version must be 13 (RFC 6455 §4.2.2)"
    assert error.status == 426
    assert error.headers == (("Sec-WebSocket-Version", "13"),)
    assert "426" in repr(error)


def test_http_parse_error_cites_rfc_9112() -> None:
    error = HTTPParseError("too many headers", status=431, section="5")
    assert isinstance(error, HandshakeError)
    assert str(error) == "too many headers (RFC 9112 §5)"
    assert error.headers == ()
    assert HTTPParseError("bad", section="3").status == 400


def test_connection_state_error_is_not_a_protocol_error() -> None:
    assert issubclass(ConnectionStateError, RuntimeError)
    assert not issubclass(ConnectionStateError, ProtocolError)
