"""The opening handshake (RFC 6455 §4): an HTTP/1.1 Upgrade to WebSocket.

Server side: parse the request with :class:`~labkit.protocol.http11.RequestParser`,
call :func:`validate_request`, then send :func:`build_accept_response` or, on
:class:`~labkit.protocol.errors.HandshakeError`, :func:`build_reject_response`.

Client side: send :func:`build_client_request`, parse the answer with
:class:`~labkit.protocol.http11.ResponseParser`, call :func:`validate_response`.

The builders return :class:`~labkit.protocol.http11.Request` and
:class:`~labkit.protocol.http11.Response` objects; ``.serialize()`` gives the
bytes to write.  A front end keeps the object for its record, so it never
parses its own bytes back.

Status codes chosen where RFC 6455 leaves room (§4.2.1 says "such as 400"):

* method other than GET: 405 with ``Allow: GET`` (RFC 9110 §15.5.6);
* HTTP/1.0, missing or repeated Host, bad ``Sec-WebSocket-Key``, a request
  body: 400;
* no ``websocket`` in Upgrade or no ``upgrade`` in Connection: 426 with
  ``Upgrade: websocket`` and ``Connection: Upgrade`` (RFC 9110 §15.5.22,
  §7.8) -- either way the client did not ask to upgrade, and 426 tells it how;
* ``Sec-WebSocket-Version`` missing or not 13: 426 with
  ``Sec-WebSocket-Version: 13`` (§4.2.2, §4.4).

Extensions and subprotocols are never negotiated by the server helpers here:
the 101 response simply omits them, which §4.2.2 allows.
"""

from __future__ import annotations

__all__ = [
    "GUID",
    "accept_response_headers",
    "accept_value",
    "build_accept_response",
    "build_client_request",
    "build_reject_response",
    "check_origin",
    "make_key",
    "validate_request",
    "validate_response",
]

import base64
import binascii
import hashlib
import os
from collections.abc import Callable, Iterable

from .errors import HandshakeError
from .http11 import Headers, Request, Response

#: §1.3: the fixed GUID appended to the key before hashing.
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

_UPGRADE_HEADERS = (("Upgrade", "websocket"), ("Connection", "Upgrade"))
_VERSION_HEADERS = (("Sec-WebSocket-Version", "13"),)


def make_key(random_bytes: Callable[[int], bytes] = os.urandom) -> str:
    """A fresh ``Sec-WebSocket-Key``: base64 of 16 random bytes (§4.1).

    Pass *random_bytes* to make tests deterministic.
    """
    nonce = random_bytes(16)
    if len(nonce) != 16:
        raise ValueError(f"random_bytes(16) returned {len(nonce)} bytes")
    return base64.b64encode(nonce).decode("ascii")


def accept_value(key: str) -> str:
    """``Sec-WebSocket-Accept`` for *key*: base64(SHA-1(key + GUID)) (§1.3).

    The digest is encoded raw (20 bytes), not as hex: a classic mistake.
    """
    digest = hashlib.sha1((key + GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def _tokens(headers: Headers, name: str) -> list[str]:
    """Lower-cased elements of a comma-separated list field (RFC 9110 §5.6.1).

    Repeated field lines are combined (RFC 9110 §5.3) and empty elements are
    ignored, as recipients must.
    """
    return [
        item.strip(" \t").lower() for value in headers.get_all(name) for item in value.split(",") if item.strip(" \t")
    ]


def _decode_key(key: str) -> bytes | None:
    try:
        raw = base64.b64decode(key.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        return None
    return raw if len(raw) == 16 else None


def validate_request(request: Request) -> str:
    """Check a client handshake (§4.2.1) and return its ``Sec-WebSocket-Key``.

    Raises :class:`HandshakeError` whose ``status`` and ``headers`` are what
    the server should answer with (see the module docstring).
    """
    if request.method != "GET":
        raise HandshakeError(
            f"method must be GET, got {request.method}",
            status=405,
            section="4.2.1",
            headers=(("Allow", "GET"),),
        )
    if request.version_info < (1, 1):
        raise HandshakeError(
            f"HTTP/1.1 or higher is required, got {request.version}",
            status=400,
            section="4.2.1",
        )
    headers = request.headers
    hosts = headers.get_all("Host")
    if len(hosts) != 1:
        # RFC 9112 §3.2: 400 for a missing Host or more than one.
        raise HandshakeError(
            "missing Host header" if not hosts else "more than one Host header",
            status=400,
            section="4.2.1",
        )
    if "websocket" not in _tokens(headers, "Upgrade"):
        raise HandshakeError(
            "Upgrade header must contain 'websocket'",
            status=426,
            section="4.2.1",
            headers=_UPGRADE_HEADERS,
        )
    if "upgrade" not in _tokens(headers, "Connection"):
        raise HandshakeError(
            "Connection header must contain 'upgrade'",
            status=426,
            section="4.2.1",
            headers=_UPGRADE_HEADERS,
        )
    keys = headers.get_all("Sec-WebSocket-Key")
    if len(keys) != 1:
        raise HandshakeError(
            "missing Sec-WebSocket-Key header" if not keys else "more than one Sec-WebSocket-Key header",
            status=400,
            section="4.2.1",
        )
    key = keys[0]
    if _decode_key(key) is None:
        raise HandshakeError(
            f"Sec-WebSocket-Key {key[:40]!r} is not base64 of 16 bytes",
            status=400,
            section="4.2.1",
        )
    versions = headers.get_all("Sec-WebSocket-Version")
    if versions != ["13"]:
        raise HandshakeError(
            "Sec-WebSocket-Version must be 13" if versions else "missing Sec-WebSocket-Version header",
            status=426,
            section="4.2.2",
            headers=_VERSION_HEADERS,
        )
    # Bytes after the head are WebSocket frames; a body would be misread as
    # frames (RFC 9112 §6.3 says a body follows if either field is present).
    if "Transfer-Encoding" in headers or headers.get("Content-Length", "0") != "0":
        raise HandshakeError("a handshake request cannot have a body", status=400, section="4.1")
    return key


def check_origin(request: Request, allowed: Iterable[str] | None) -> None:
    """Refuse a browser page from another origin (§4.2.1 step 8, §10.2): 403 Forbidden.

    Browsers send ``Origin`` with every WebSocket handshake and, unlike ``fetch``, no CORS
    rule stops a page on another site from opening one with the user's cookies; only the
    server can say no. ``allowed`` None accepts every origin; a request without ``Origin``
    does not come from a browser page and is accepted.
    """
    if allowed is None:
        return
    origins = request.headers.get_all("Origin")
    if origins and origins[0] not in allowed:
        raise HandshakeError(f"Origin {origins[0][:80]!r} is not allowed", status=403, section="10.2")


def accept_response_headers(key: str) -> tuple[tuple[str, str], ...]:
    """Header fields of the 101 response for *key* (§4.2.2 step 5)."""
    return (*_UPGRADE_HEADERS, ("Sec-WebSocket-Accept", accept_value(key)))


def build_accept_response(key: str, extra_headers: Iterable[tuple[str, str]] = ()) -> Response:
    """The ``101 Switching Protocols`` response completing the handshake (§4.2.2)."""
    headers = Headers([*accept_response_headers(key), *extra_headers])
    return Response("HTTP/1.1", 101, "Switching Protocols", headers)


_REASONS = {
    400: "Bad Request",
    403: "Forbidden",
    405: "Method Not Allowed",
    414: "URI Too Long",
    426: "Upgrade Required",
    431: "Request Header Fields Too Large",
    505: "HTTP Version Not Supported",
}


def build_reject_response(error: HandshakeError) -> Response:
    """An HTTP error response for a failed handshake, closing the connection.

    Carries the error's headers, a plain-text body with the reason, and
    ``Connection: close`` (merged with the error's own Connection tokens).
    """
    connection = ["close"]
    fields: list[tuple[str, str]] = []
    for name, value in error.headers:
        if name.lower() == "connection":
            connection.insert(0, value)
        else:
            fields.append((name, value))
    body = f"{error}\n".encode()
    fields += [
        ("Connection", ", ".join(connection)),
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(body))),
    ]
    reason = _REASONS.get(error.status, "Error")
    return Response("HTTP/1.1", error.status, reason, Headers(fields), body)


def build_client_request(
    host: str,
    path: str,
    key: str,
    extra_headers: Iterable[tuple[str, str]] = (),
) -> Request:
    """The client's opening handshake (§4.1); *host* may include ``:port``."""
    if not path.startswith("/"):
        raise ValueError(f"path must start with '/', got {path!r} (§3)")
    headers = Headers(
        [
            ("Host", host),
            *_UPGRADE_HEADERS,
            ("Sec-WebSocket-Key", key),
            ("Sec-WebSocket-Version", "13"),
            *extra_headers,
        ]
    )
    return Request("GET", path, "HTTP/1.1", headers)


def _fail(reason: str, response: Response) -> HandshakeError:
    return HandshakeError(reason, status=response.status, section="4.1")


def validate_response(response: Response, key: str, subprotocols: Iterable[str] = ()) -> str | None:
    """Check the server's handshake (§4.1, client steps 1-6).

    Returns the subprotocol the server selected, or ``None``.  *subprotocols*
    lists those the client offered; no extension is ever accepted since this
    package implements none.  Raises :class:`HandshakeError` whose ``status``
    is the status the server sent.
    """
    if response.status != 101:
        raise _fail(f"expected status 101, got {response.status} {response.reason}", response)
    headers = response.headers
    # §4.1 step 2 asks for exactly "websocket", not a list containing it.
    upgrade = headers.get_all("Upgrade")
    if len(upgrade) != 1 or upgrade[0].lower() != "websocket":
        raise _fail("Upgrade header must be 'websocket'", response)
    if "upgrade" not in _tokens(headers, "Connection"):
        raise _fail("Connection header must contain 'upgrade'", response)
    accepts = headers.get_all("Sec-WebSocket-Accept")
    if accepts != [accept_value(key)]:
        raise _fail(
            "missing Sec-WebSocket-Accept header" if not accepts else "Sec-WebSocket-Accept does not match the key",
            response,
        )
    extensions = headers.get_all("Sec-WebSocket-Extensions")
    if extensions:
        raise _fail(f"server selected extensions we did not offer: {extensions}", response)
    offered = list(subprotocols)
    selected = headers.get_all("Sec-WebSocket-Protocol")
    if not selected:
        return None
    if len(selected) != 1 or selected[0] not in offered:
        raise _fail(f"server selected a subprotocol we did not offer: {selected}", response)
    return selected[0]
