"""Tests for labkit.protocol.handshake: RFC 6455 §4 on both sides."""

from __future__ import annotations

import base64

import pytest
from websockets.utils import accept_key as ws_accept_key

from labkit.protocol.errors import HandshakeError
from labkit.protocol.handshake import (
    GUID,
    accept_response_headers,
    accept_value,
    build_accept_response,
    build_client_request,
    build_reject_response,
    make_key,
    validate_request,
    validate_response,
)
from labkit.protocol.http11 import (
    Headers,
    Request,
    RequestParser,
    Response,
    ResponseParser,
)

RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
RFC_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

GOOD_HEADERS = [
    ("Host", "server.example.com"),
    ("Upgrade", "websocket"),
    ("Connection", "Upgrade"),
    ("Sec-WebSocket-Key", RFC_KEY),
    ("Sec-WebSocket-Version", "13"),
]


def request(
    headers: list[tuple[str, str]] = GOOD_HEADERS,
    method: str = "GET",
    version: str = "HTTP/1.1",
) -> Request:
    return Request(method, "/chat", version, Headers(headers))


def without(name: str) -> list[tuple[str, str]]:
    return [(k, v) for k, v in GOOD_HEADERS if k != name]


def replacing(name: str, value: str) -> list[tuple[str, str]]:
    return [(k, value if k == name else v) for k, v in GOOD_HEADERS]


def test_rfc_1_3_accept_vector() -> None:
    assert GUID == "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    assert accept_value(RFC_KEY) == RFC_ACCEPT


def test_accept_value_matches_websockets() -> None:
    for seed in range(20):
        key = base64.b64encode(bytes([seed]) * 16).decode("ascii")
        assert accept_value(key) == ws_accept_key(key)


def test_make_key_uses_the_injected_randomness() -> None:
    assert make_key(lambda n: bytes(range(n))) == base64.b64encode(bytes(range(16))).decode("ascii")
    assert len(base64.b64decode(make_key())) == 16
    assert make_key() != make_key()
    with pytest.raises(ValueError):
        make_key(lambda n: b"short")


def test_valid_request_returns_the_key() -> None:
    assert validate_request(request()) == RFC_KEY


@pytest.mark.parametrize(
    "headers",
    [
        replacing("Upgrade", "WebSocket"),
        replacing("Upgrade", "h2c, websocket"),
        replacing("Connection", "keep-alive, Upgrade"),
        replacing("Connection", "upgrade ,, keep-alive"),
        [*without("Connection"), ("Connection", "keep-alive"), ("Connection", "UPGRADE")],
        [*GOOD_HEADERS, ("Content-Length", "0")],
        [*GOOD_HEADERS, ("Sec-WebSocket-Extensions", "permessage-deflate")],
    ],
)
def test_lenient_where_http_allows_it(headers: list[tuple[str, str]]) -> None:
    assert validate_request(request(headers)) == RFC_KEY


@pytest.mark.parametrize(
    ("req", "status", "reason", "headers"),
    [
        (request(method="POST"), 405, "method must be GET", (("Allow", "GET"),)),
        (request(version="HTTP/1.0"), 400, "HTTP/1.1 or higher", ()),
        (request(without("Host")), 400, "missing Host", ()),
        (
            request([*GOOD_HEADERS, ("Host", "other")]),
            400,
            "more than one Host",
            (),
        ),
        (
            request(without("Upgrade")),
            426,
            "Upgrade header must contain 'websocket'",
            (("Upgrade", "websocket"), ("Connection", "Upgrade")),
        ),
        (
            request(replacing("Upgrade", "websocket2")),
            426,
            "Upgrade header must contain 'websocket'",
            (("Upgrade", "websocket"), ("Connection", "Upgrade")),
        ),
        (
            request(without("Connection")),
            426,
            "Connection header must contain 'upgrade'",
            (("Upgrade", "websocket"), ("Connection", "Upgrade")),
        ),
        (
            request(replacing("Connection", "keep-alive")),
            426,
            "Connection header must contain 'upgrade'",
            (("Upgrade", "websocket"), ("Connection", "Upgrade")),
        ),
        (request(without("Sec-WebSocket-Key")), 400, "missing Sec-WebSocket-Key", ()),
        (
            request([*GOOD_HEADERS, ("Sec-WebSocket-Key", RFC_KEY)]),
            400,
            "more than one Sec-WebSocket-Key",
            (),
        ),
        (
            request(replacing("Sec-WebSocket-Key", "not base64!")),
            400,
            "is not base64 of 16 bytes",
            (),
        ),
        (
            request(replacing("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAA")),  # 15 bytes
            400,
            "is not base64 of 16 bytes",
            (),
        ),
        (
            request(replacing("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAAAA")),  # 18
            400,
            "is not base64 of 16 bytes",
            (),
        ),
        (
            request(replacing("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ")),  # no pad
            400,
            "is not base64 of 16 bytes",
            (),
        ),
        (
            request(without("Sec-WebSocket-Version")),
            426,
            "missing Sec-WebSocket-Version",
            (("Sec-WebSocket-Version", "13"),),
        ),
        (
            request(replacing("Sec-WebSocket-Version", "8")),
            426,
            "Sec-WebSocket-Version must be 13",
            (("Sec-WebSocket-Version", "13"),),
        ),
        (
            request([*GOOD_HEADERS, ("Sec-WebSocket-Version", "13")]),
            426,
            "Sec-WebSocket-Version must be 13",
            (("Sec-WebSocket-Version", "13"),),
        ),
        (
            request([*GOOD_HEADERS, ("Content-Length", "5")]),
            400,
            "cannot have a body",
            (),
        ),
        (
            request([*GOOD_HEADERS, ("Transfer-Encoding", "chunked")]),
            400,
            "cannot have a body",
            (),
        ),
    ],
)
def test_invalid_requests(req: Request, status: int, reason: str, headers: tuple[tuple[str, str], ...]) -> None:
    with pytest.raises(HandshakeError) as info:
        validate_request(req)
    error = info.value
    assert error.status == status
    assert error.headers == headers
    assert reason in error.reason
    assert str(error) == f"{error.reason} (RFC 6455 §{error.section})"
    assert error.section.startswith("4.")


def test_accept_response_is_byte_exact() -> None:
    assert accept_response_headers(RFC_KEY) == (
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", RFC_ACCEPT),
    )
    response = build_accept_response(RFC_KEY)
    assert response == Response(
        "HTTP/1.1", 101, "Switching Protocols", Headers(accept_response_headers(RFC_KEY)), body=b""
    )
    assert response.serialize() == (
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
        b"\r\n"
    )
    extra = build_accept_response(RFC_KEY, [("Server", "labkit")])
    assert extra.headers["Server"] == "labkit"
    assert extra.serialize().endswith(b"Server: labkit\r\n\r\n")


def test_the_response_object_is_what_the_bytes_parse_back_to() -> None:
    """What a server keeps for its record equals what a client parses from the wire."""
    response = build_accept_response(RFC_KEY, [("X-Name", "caf\u00e9")])
    assert ResponseParser().feed(response.serialize()) == response
    with pytest.raises(HandshakeError) as info:
        validate_request(request(without("Host")))
    rejection = build_reject_response(info.value)
    parser = ResponseParser()
    head = parser.feed(rejection.serialize())
    assert head is not None
    assert (head.status, head.reason, head.headers) == (rejection.status, rejection.reason, rejection.headers)
    assert parser.trailing == rejection.body


def test_reject_response_for_a_bad_version() -> None:
    with pytest.raises(HandshakeError) as info:
        validate_request(request(replacing("Sec-WebSocket-Version", "8")))
    body = b"Sec-WebSocket-Version must be 13 (RFC 6455 \xc2\xa74.2.2)\n"
    response = build_reject_response(info.value)
    assert (response.status, response.reason, response.body) == (426, "Upgrade Required", body)
    assert (
        response.serialize()
        == (
            b"HTTP/1.1 426 Upgrade Required\r\n"
            b"Sec-WebSocket-Version: 13\r\n"
            b"Connection: close\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\n"
            b"Content-Length: %d\r\n"
            b"\r\n" % len(body)
        )
        + body
    )


def test_reject_response_merges_connection_tokens() -> None:
    with pytest.raises(HandshakeError) as info:
        validate_request(request(without("Upgrade")))
    response = ResponseParser().feed(build_reject_response(info.value).serialize())
    assert response is not None
    assert response.status == 426
    assert response.reason == "Upgrade Required"
    assert response.headers.get_all("Connection") == ["Upgrade, close"]
    assert response.headers.get("Upgrade") == "websocket"


def test_reject_response_for_a_parse_error() -> None:
    with pytest.raises(HandshakeError) as info:
        RequestParser(max_headers=0).feed(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    data = build_reject_response(info.value).serialize()
    assert data.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert data.endswith(b"more than 0 header fields (RFC 9112 \xc2\xa75)\n")


def test_client_request_is_byte_exact() -> None:
    request = build_client_request("server.example.com", "/chat", RFC_KEY)
    assert (request.method, request.target, request.path, request.version) == ("GET", "/chat", "/chat", "HTTP/1.1")
    assert request.headers["Sec-WebSocket-Key"] == RFC_KEY
    assert request.serialize() == (
        b"GET /chat HTTP/1.1\r\n"
        b"Host: server.example.com\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n"
        b"\r\n"
    )
    with pytest.raises(ValueError):
        build_client_request("example.com", "chat", RFC_KEY)


def test_full_round_trip_leaves_frames_for_the_frame_parser() -> None:
    key = make_key(lambda n: b"\x01" * n)
    sent = build_client_request("localhost:8765", "/echo", key, [("Origin", "http://localhost")])
    parsed_request = RequestParser().feed(sent.serialize())
    assert parsed_request == sent
    assert validate_request(parsed_request) == key
    assert parsed_request.headers.get("Origin") == "http://localhost"

    frame = bytes.fromhex("81 05 48656c6c6f")
    parser = ResponseParser()
    parsed_response = parser.feed(build_accept_response(key).serialize() + frame)
    assert parsed_response is not None
    assert validate_response(parsed_response, key) is None
    assert parser.trailing == frame


def response(status: int = 101, headers: list[tuple[str, str]] | None = None) -> Response:
    if headers is None:
        headers = list(accept_response_headers(RFC_KEY))
    return Response("HTTP/1.1", status, "Whatever", Headers(headers))


def test_validate_response_selected_subprotocol() -> None:
    headers = [*accept_response_headers(RFC_KEY), ("Sec-WebSocket-Protocol", "chat")]
    assert validate_response(response(headers=headers), RFC_KEY, ["chat", "v2"]) == ("chat")


RESPONSE_HEADERS = list(accept_response_headers(RFC_KEY))


@pytest.mark.parametrize(
    ("resp", "reason"),
    [
        (response(200), "expected status 101, got 200"),
        (response(headers=RESPONSE_HEADERS[1:]), "Upgrade header must be"),
        (
            response(headers=[("Upgrade", "h2c, websocket"), *RESPONSE_HEADERS[1:]]),
            "Upgrade header must be",
        ),
        (
            response(headers=[RESPONSE_HEADERS[0], RESPONSE_HEADERS[2]]),
            "Connection header must contain",
        ),
        (response(headers=RESPONSE_HEADERS[:2]), "missing Sec-WebSocket-Accept"),
        (
            response(headers=[*RESPONSE_HEADERS[:2], ("Sec-WebSocket-Accept", "x")]),
            "does not match",
        ),
        (
            response(headers=[*RESPONSE_HEADERS, *RESPONSE_HEADERS[2:]]),
            "does not match",
        ),
        (
            response(headers=[*RESPONSE_HEADERS, ("Sec-WebSocket-Extensions", "x-custom")]),
            "extensions we did not offer",
        ),
        (
            response(headers=[*RESPONSE_HEADERS, ("Sec-WebSocket-Protocol", "chat")]),
            "subprotocol we did not offer",
        ),
    ],
)
def test_invalid_responses(resp: Response, reason: str) -> None:
    with pytest.raises(HandshakeError) as info:
        validate_response(resp, RFC_KEY)
    assert reason in info.value.reason
    assert info.value.status == resp.status
    assert info.value.section == "4.1"


def test_response_upgrade_and_connection_are_case_insensitive() -> None:
    headers = [
        ("upgrade", "WebSocket"),
        ("connection", "keep-alive, UPGRADE"),
        ("sec-websocket-accept", RFC_ACCEPT),
    ]
    assert validate_response(response(headers=headers), RFC_KEY) is None
