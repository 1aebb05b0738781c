"""Tests for labkit.protocol.http11: incremental parsing, limits, building."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit.protocol.errors import HandshakeError, HTTPParseError, ProtocolError
from labkit.protocol.http11 import (
    Headers,
    Request,
    RequestParser,
    Response,
    ResponseParser,
    build_request,
    build_response,
)

SETTINGS = settings(max_examples=200, deadline=None, database=None)

REQUEST = (
    b"GET /chat HTTP/1.1\r\n"
    b"Host: server.example.com\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"\r\n"
)
RESPONSE = (
    b"HTTP/1.1 101 Switching Protocols\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    b"\r\n"
)
FRAME = bytes.fromhex("81 05 48656c6c6f")


def parse_request(data: bytes, **limits: int) -> Request:
    request = RequestParser(**limits).feed(data)
    assert request is not None
    return request


def request_error(data: bytes, **limits: int) -> HTTPParseError:
    with pytest.raises(HTTPParseError) as info:
        RequestParser(**limits).feed(data)
    return info.value


# ---------------------------------------------------------------------------
# Headers


def test_headers_keep_order_and_case_but_look_up_case_insensitively() -> None:
    headers = Headers([("Host", "a"), ("X-Thing", "1"), ("x-thing", "2")])
    assert list(headers) == [("Host", "a"), ("X-Thing", "1"), ("x-thing", "2")]
    assert headers.get("HOST") == "a"
    assert headers.get("X-THING") == "1"
    assert headers.get_all("x-Thing") == ["1", "2"]
    assert headers.get("Missing") is None
    assert headers.get("Missing", "d") == "d"
    assert headers.get_all("Missing") == []
    assert "host" in headers
    assert "Other" not in headers
    assert 42 not in headers
    assert len(headers) == 3


def test_headers_index_like_websockets_headers() -> None:
    headers = Headers([("Host", "a"), ("X-Thing", "1"), ("x-thing", "2")])
    assert headers["host"] == "a"
    assert headers["X-THING"] == "1"  # the first value
    with pytest.raises(KeyError, match="Missing"):
        headers["Missing"]


def test_headers_are_hashable_values() -> None:
    assert Headers({"A": "1"}) == Headers([("A", "1")])
    assert hash(Headers({"A": "1"})) == hash(Headers([("A", "1")]))
    assert Headers({"A": "1"}) != Headers({"a": "1"})
    assert "A" in repr(Headers({"A": "1"}))


# ---------------------------------------------------------------------------
# Requests


def test_parse_request() -> None:
    request = parse_request(REQUEST)
    assert request.method == "GET"
    assert request.target == "/chat"
    assert request.version == "HTTP/1.1"
    assert request.version_info == (1, 1)
    assert request.headers.get("sec-websocket-key") == "dGhlIHNhbXBsZSBub25jZQ=="
    assert len(request.headers) == 5


@pytest.mark.parametrize("target", ["/chat", "/socket.io/?EIO=4&transport=websocket", "/?token=abc"])
def test_request_path_is_the_whole_target_as_in_websockets(target: str) -> None:
    assert Request("GET", target, "HTTP/1.1", Headers()).path == target


def test_request_fed_one_byte_at_a_time_keeps_the_frames_after_it() -> None:
    parser = RequestParser()
    data = REQUEST + FRAME
    results = [parser.feed(data[i : i + 1]) for i in range(len(REQUEST))]
    assert results[:-1] == [None] * (len(REQUEST) - 1)
    assert results[-1] == parse_request(REQUEST)
    assert parser.complete
    assert parser.message == results[-1]
    assert parser.trailing == b""
    with pytest.raises(RuntimeError, match="trailing"):
        parser.feed(FRAME)


def test_trailing_bytes_are_preserved() -> None:
    parser = RequestParser()
    assert parser.trailing == b""
    assert parser.feed(REQUEST + FRAME) is not None
    assert parser.trailing == FRAME


@SETTINGS
@given(cuts=st.lists(st.integers(0, len(REQUEST) + len(FRAME)), max_size=8))
def test_any_chunking_parses_the_same(cuts: list[int]) -> None:
    data = REQUEST + FRAME
    parser = RequestParser()
    result = None
    start = 0
    for cut in [*sorted(cuts), len(data)]:
        if result is None and cut > start:
            result = parser.feed(data[start:cut])
            start = cut
    assert result == parse_request(REQUEST)
    assert parser.trailing + data[start:] == FRAME


def test_ows_is_stripped_and_obs_text_kept_as_latin_1() -> None:
    request = parse_request(b"GET / HTTP/1.1\r\nHost:   example.com \t\r\nX-Name: caf\xe9\r\nX-Empty:\r\n\r\n")
    assert request.headers.get("Host") == "example.com"
    assert request.headers.get("X-Name") == "café"
    assert request.headers.get("X-Empty") == ""


def test_leading_empty_lines_are_ignored_a_few_times() -> None:
    # RFC 9112 §2.2: a server SHOULD ignore at least one empty line.
    assert parse_request(b"\r\n\r\n" + REQUEST).method == "GET"
    error = request_error(b"\r\n" * 9 + REQUEST)
    assert error.status == 400


def test_http_1_0_is_parsed() -> None:
    assert parse_request(b"GET / HTTP/1.0\r\n\r\n").version_info == (1, 0)


@pytest.mark.parametrize(
    ("data", "status", "section", "message"),
    [
        (b"GET /\r\n\r\n", 400, "3", "malformed request line"),
        (b"GET  / HTTP/1.1\r\n\r\n", 400, "3", "malformed request line"),
        (b"GET / HTTP/1.1 x\r\n\r\n", 400, "3", "malformed request line"),
        (b"G(T / HTTP/1.1\r\n\r\n", 400, "3.1", "invalid method"),
        (b"GET /\x7f HTTP/1.1\r\n\r\n", 400, "3.2", "invalid request target"),
        (b"GET / http/1.1\r\n\r\n", 400, "2.3", "invalid HTTP version"),
        (b"GET / HTTP/1.10\r\n\r\n", 400, "2.3", "invalid HTTP version"),
        (b"GET / HTTP/2.0\r\n\r\n", 505, "2.3", "unsupported HTTP version"),
        (b"GET / HTTP/1.1\nHost: a\n\n", 400, "2.2", "bare LF"),
        (b"GET / HTTP/1.1\r\nHost: a\n\r\n", 400, "2.2", "bare LF"),
        (b"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", 400, "2.2", "bare CR"),
        (b"GET / HTTP/1.1\r\nHost: a\r\n b\r\n\r\n", 400, "5.2", "folding"),
        (b"GET / HTTP/1.1\r\nHost a\r\n\r\n", 400, "5", "without colon"),
        (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400, "5.1", "whitespace"),
        (b"GET / HTTP/1.1\r\nHo(st: a\r\n\r\n", 400, "5.1", "invalid field name"),
        (b"GET / HTTP/1.1\r\n: a\r\n\r\n", 400, "5.1", "invalid field name"),
        (b"GET / HTTP/1.1\r\nHost: a\x00b\r\n\r\n", 400, "5", "invalid character"),
        (b"GET / HTTP/1.1\r\nHost: a\x01b\r\n\r\n", 400, "5", "invalid character"),
    ],
)
def test_bad_requests(data: bytes, status: int, section: str, message: str) -> None:
    error = request_error(data)
    assert (error.status, error.section) == (status, section)
    assert message in str(error)
    assert str(error).endswith(f"(RFC 9112 §{section})")


def test_bad_start_line_fails_before_the_header_block_ends() -> None:
    with pytest.raises(HTTPParseError):
        RequestParser().feed(b"NOT HTTP AT ALL\r\n")


def test_parse_error_is_a_handshake_error_and_sticks() -> None:
    parser = RequestParser()
    with pytest.raises(HTTPParseError) as first:
        parser.feed(b"GET /\r\n")
    assert isinstance(first.value, HandshakeError)
    assert isinstance(first.value, ProtocolError)
    with pytest.raises(HTTPParseError) as again:
        parser.feed(b"\r\n")
    assert again.value is first.value


def test_request_line_limit_is_414_and_detected_without_crlf() -> None:
    line = b"GET /" + b"a" * 95 + b" HTTP/1.1"
    assert parse_request(line[:-9] + b" HTTP/1.1\r\n\r\n", max_line_length=len(line))
    error = request_error(b"GET /" + b"a" * 200, max_line_length=100)
    assert (error.status, error.section) == (414, "3")
    error = request_error(b"GET /a" + b"a" * 95 + b" HTTP/1.1\r\n", max_line_length=100)
    assert error.status == 414


def test_header_line_limit_is_431() -> None:
    field = b"X: " + b"v" * 97  # exactly 100 bytes
    assert parse_request(b"GET / HTTP/1.1\r\n" + field + b"\r\n\r\n", max_line_length=100)
    error = request_error(b"GET / HTTP/1.1\r\n" + field + b"v\r\n", max_line_length=100)
    assert (error.status, error.section) == (431, "5")
    # Without any CRLF in sight the parser still stops early.
    error = request_error(b"GET / HTTP/1.1\r\n" + b"v" * 1000, max_line_length=100)
    assert error.status == 431


def test_default_limits() -> None:
    ok = b"GET / HTTP/1.1\r\n" + b"".join(b"X%d: v\r\n" % i for i in range(128))
    assert len(parse_request(ok + b"\r\n").headers) == 128
    error = request_error(ok + b"Y: v\r\n\r\n")
    assert (error.status, error.section) == (431, "5")
    assert "128" in str(error)
    assert parse_request(b"GET /" + b"a" * 8176 + b" HTTP/1.1\r\n\r\n")
    assert request_error(b"GET /" + b"a" * 8177 + b" HTTP/1.1\r\n\r\n").status == 414


def test_max_headers_is_configurable() -> None:
    data = b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\n\r\n"
    assert parse_request(data, max_headers=2)
    assert request_error(data, max_headers=1).status == 431


# ---------------------------------------------------------------------------
# Responses


def test_parse_response_and_frames_after_it() -> None:
    parser = ResponseParser()
    data = RESPONSE + FRAME
    result = None
    for i in range(len(data)):
        if result is None:
            result = parser.feed(data[i : i + 1])
            end = i + 1
    assert result == Response(
        version="HTTP/1.1",
        status=101,
        reason="Switching Protocols",
        headers=Headers(
            [
                ("Upgrade", "websocket"),
                ("Connection", "Upgrade"),
                ("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
            ]
        ),
    )
    assert result.version_info == (1, 1)
    assert parser.trailing + data[end:] == FRAME


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"HTTP/1.1 200 OK", "OK"),
        (b"HTTP/1.1 404 ", ""),
        (b"HTTP/1.1 404", ""),  # missing SP tolerated
        (b"HTTP/1.0 500 Internal Server Error", "Internal Server Error"),
    ],
)
def test_status_lines(line: bytes, reason: str) -> None:
    response = ResponseParser().feed(line + b"\r\n\r\n")
    assert response is not None
    assert response.reason == reason


@pytest.mark.parametrize(
    ("line", "status"),
    [
        (b"HTTP/1.1", 400),
        (b"HTTP/1.1 20 OK", 400),
        (b"HTTP/1.1 2000 OK", 400),
        (b"HTTP/1.1 099 Hmm", 400),
        (b"HTTP/1.1 600 Hmm", 400),
        (b"HTTP/1.1 abc OK", 400),
        (b"HTTP/1.1 200 O\x00K", 400),
        (b"HTTP/3 200 OK", 400),
        (b"HTTP/2.0 200 OK", 505),
        (b"\r\nHTTP/1.1 200 OK", 400),  # empty lines are skipped for requests only
    ],
)
def test_bad_status_lines(line: bytes, status: int) -> None:
    with pytest.raises(HTTPParseError) as info:
        ResponseParser().feed(line + b"\r\n\r\n")
    assert info.value.status == status


def test_status_line_limit() -> None:
    with pytest.raises(HTTPParseError) as info:
        ResponseParser(max_line_length=20).feed(b"HTTP/1.1 200 " + b"x" * 50)
    assert (info.value.status, info.value.section) == (431, "4")


# ---------------------------------------------------------------------------
# Building


def test_build_request_round_trips() -> None:
    data = build_request(
        "GET",
        "/chat",
        [
            ("Host", "server.example.com"),
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("Sec-WebSocket-Version", "13"),
        ],
    )
    assert data == REQUEST
    assert build_request("GET", "/", {"Host": "a"}) == b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"


def test_build_response_round_trips() -> None:
    data = build_response(
        101,
        "Switching Protocols",
        Headers(
            [
                ("Upgrade", "websocket"),
                ("Connection", "Upgrade"),
                ("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
            ]
        ),
    )
    assert data == RESPONSE


def test_parsed_messages_serialize_to_the_same_bytes() -> None:
    request = parse_request(REQUEST)
    assert request.serialize() == REQUEST
    response = ResponseParser().feed(RESPONSE)
    assert response is not None
    assert response.body == b""  # heads only: after a 101 come frames
    assert response.serialize() == RESPONSE


def test_serialize_keeps_version_order_and_body() -> None:
    request = Request("GET", "/", "HTTP/1.0", Headers([("B", "2"), ("A", "1")]))
    assert request.serialize() == b"GET / HTTP/1.0\r\nB: 2\r\nA: 1\r\n\r\n"
    response = Response("HTTP/1.1", 400, "Bad Request", Headers([("Content-Length", "4")]), b"nope")
    assert response.serialize() == b"HTTP/1.1 400 Bad Request\r\nContent-Length: 4\r\n\r\nnope"
    empty_reason = Response("HTTP/1.1", 204, "", Headers())
    assert empty_reason.serialize() == b"HTTP/1.1 204 \r\n\r\n"


@pytest.mark.parametrize(
    "message",
    [
        Request("GET", "/", "HTTP/2", Headers()),
        Request("GET", "/a b", "HTTP/1.1", Headers()),
        Request("GET", "/", "HTTP/1.1", Headers([("X", "a\r\nInjected: 1")])),
        Response("HTTP/1.1", 600, "x", Headers()),
        Response("HTTP/1.1", 200, "O\nK", Headers()),
        Response("HTTP/1.1", 200, "OK", Headers([("Content-Length", "3")]), b"hi"),
        Response("HTTP/1.1", 200, "OK", Headers([("X", "\u20ac")])),
    ],
)
def test_serialize_refuses_what_would_break_the_message(message: Request | Response) -> None:
    with pytest.raises(ValueError):
        message.serialize()


def test_build_response_with_body_adds_content_length() -> None:
    assert build_response(400, "Bad Request", [], b"nope") == (
        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 4\r\n\r\nnope"
    )
    assert build_response(200, "OK", [("Content-Length", "2")], b"hi").endswith(b"\r\nContent-Length: 2\r\n\r\nhi")
    with pytest.raises(ValueError, match="Content-Length"):
        build_response(200, "OK", [("Content-Length", "3")], b"hi")


def test_obs_text_round_trips_byte_for_byte() -> None:
    data = build_response(200, "OK", [("X-Name", "café")])
    assert b"X-Name: caf\xe9\r\n" in data
    response = ResponseParser().feed(data)
    assert response is not None
    assert response.headers.get("X-Name") == "café"


@pytest.mark.parametrize(
    ("method", "target", "headers"),
    [
        ("GE T", "/", []),
        ("GÉT", "/", []),
        ("GET", "/a b", []),
        ("GET", "/é", []),
        ("GET", "", []),
        ("GET", "/", [("Bad Name", "v")]),
        ("GET", "/", [("Naïve", "v")]),
        ("GET", "/", [("X", "a\r\nInjected: 1")]),
        ("GET", "/", [("X", "a\nb")]),
        ("GET", "/", [("X", "\u20ac")]),
        ("GET", "/", [("X", " padded")]),
    ],
)
def test_build_request_refuses_what_would_break_the_message(
    method: str, target: str, headers: list[tuple[str, str]]
) -> None:
    with pytest.raises(ValueError):
        build_request(method, target, headers)


@pytest.mark.parametrize(("status", "reason"), [(99, "x"), (600, "x"), (200, "O\nK")])
def test_build_response_refuses_bad_status_lines(status: int, reason: str) -> None:
    with pytest.raises(ValueError):
        build_response(status, reason, [])
    with pytest.raises(ValueError):
        build_response(200, "\u20ac", [])
