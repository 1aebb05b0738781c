"""Just enough HTTP/1.1 for the opening handshake (RFC 9110, RFC 9112).

Parsing is incremental: feed bytes as they come from the socket; once the
header block is complete (the empty line, RFC 9112 §2.1) the parser returns a
:class:`Request` or :class:`Response` and keeps every byte that followed in
``.trailing`` -- after a ``101 Switching Protocols`` those bytes are already
WebSocket frames and must go to the frame parser, not be dropped.

Message bodies are not parsed: a handshake has none.  The other way,
:meth:`Request.serialize` and :meth:`Response.serialize` turn a message back
into the exact bytes to send, so a server can keep the :class:`Response` it
wrote instead of parsing its own bytes again.  Strictness choices:

* Lines must end in CRLF.  RFC 9112 §2.2 lets a recipient accept a bare LF;
  we reject it (and any bare CR), because lenient line splitting is a classic
  source of request-smuggling disagreements between parsers.
* Obsolete line folding is rejected with 400 (RFC 9112 §5.2 allows that).
* Errors are :class:`~labkit.protocol.errors.HTTPParseError` with status 400
  (malformed), 414 (request line too long), 431 (header line too long or too
  many fields) or 505 (not HTTP/1.x).
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_MAX_HEADERS",
    "DEFAULT_MAX_LINE_LENGTH",
    "HTTPParseError",
    "Headers",
    "Request",
    "RequestParser",
    "Response",
    "ResponseParser",
    "build_request",
    "build_response",
]

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Generic, NoReturn, TypeVar

from .errors import HTTPParseError

DEFAULT_MAX_LINE_LENGTH = 8190
DEFAULT_MAX_HEADERS = 128
# RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the
# request line; we ignore a few and then treat the input as garbage.
_MAX_LEADING_EMPTY_LINES = 8

# RFC 9110 §5.6.2: token = 1*tchar.
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# RFC 9110 §5.5: field-value = *field-content; VCHAR, SP, HTAB and obs-text
# (0x80-0xFF).  CR, LF, NUL and other controls are invalid.
_FIELD_VALUE = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")
# RFC 9112 §3.2: the request-target has no whitespace; we allow only VCHAR.
_TARGET = re.compile(rb"[\x21-\x7e]+")
# RFC 9112 §2.3: HTTP-version = "HTTP" "/" DIGIT "." DIGIT (case-sensitive).
_VERSION = re.compile(rb"HTTP/([0-9])\.([0-9])")
# RFC 9112 §4: reason-phrase = 1*( HTAB / SP / VCHAR / obs-text ).
_REASON = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")


class Headers:
    """Header fields in received order, names in their original case.

    Lookups are case-insensitive (RFC 9110 §5.1).  The object is immutable
    and hashable so that :class:`Request` and :class:`Response` can be frozen.
    Iterating yields ``(name, value)`` pairs.  ``headers["Host"]`` is the first
    value and raises :class:`KeyError` when the field is absent, so code
    written for ``websockets``' headers reads ours too.
    """

    __slots__ = ("_fields",)

    def __init__(self, fields: Iterable[tuple[str, str]] | Mapping[str, str] = ()) -> None:
        pairs = fields.items() if isinstance(fields, Mapping) else fields
        self._fields: tuple[tuple[str, str], ...] = tuple((str(name), str(value)) for name, value in pairs)

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of field *name*, or *default* if absent."""
        lowered = name.lower()
        for key, value in self._fields:
            if key.lower() == lowered:
                return value
        return default

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def get_all(self, name: str) -> list[str]:
        """Every value of field *name*, in order (RFC 9110 §5.3)."""
        lowered = name.lower()
        return [value for key, value in self._fields if key.lower() == lowered]

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        lowered = name.lower()
        return any(key.lower() == lowered for key, _ in self._fields)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return self._fields == other._fields

    def __hash__(self) -> int:
        return hash(self._fields)

    def __repr__(self) -> str:
        return f"Headers({list(self._fields)!r})"


@dataclass(frozen=True)
class Request:
    """A request head (RFC 9112 §3), e.g. ``GET /chat HTTP/1.1``, parsed or to send."""

    method: str
    target: str
    version: str
    headers: Headers

    @property
    def version_info(self) -> tuple[int, int]:
        """``(1, 1)`` for ``"HTTP/1.1"``."""
        return _version_info(self.version)

    @property
    def path(self) -> str:
        """The request target, path and query: ``"/chat?room=1"`` (RFC 9112 §3.2.1, origin-form).

        The same as ``websockets``' ``Request.path``, so that one connection
        handler reads ``ws.request.path`` alike on the ``websocket`` and
        ``scratch`` stacks (a token in the query string included).
        """
        return self.target

    def serialize(self) -> bytes:
        """The request head as it goes on the wire, headers in their order.

        Raises :class:`ValueError` for a method, target or field that could
        not be sent as one valid request (RFC 9112 §3, RFC 9110 §5.5).
        """
        if not self.method.isascii() or _TOKEN.fullmatch(self.method.encode("ascii")) is None:
            raise ValueError(f"invalid method {self.method!r} (RFC 9112 §3.1)")
        if not self.target.isascii() or _TARGET.fullmatch(self.target.encode("ascii")) is None:
            raise ValueError(f"invalid request target {self.target!r} (RFC 9112 §3.2)")
        version = _check_version(self.version)
        return f"{self.method} {self.target} {version}\r\n".encode("ascii") + _encode_fields(self.headers) + b"\r\n"


@dataclass(frozen=True)
class Response:
    """A response (RFC 9112 §4), e.g. ``HTTP/1.1 101 Switching...``, parsed or to send.

    A parsed response has an empty ``body``: the handshake parser reads heads
    only, and what follows a ``101`` is WebSocket frames.
    """

    version: str
    status: int
    reason: str
    headers: Headers
    body: bytes = b""

    @property
    def version_info(self) -> tuple[int, int]:
        """``(1, 1)`` for ``"HTTP/1.1"``."""
        return _version_info(self.version)

    def serialize(self) -> bytes:
        """The response as it goes on the wire: status line, headers in order, body.

        Raises :class:`ValueError` for a status line or field that could not
        be sent, or a ``Content-Length`` that does not match the body.
        """
        if not 100 <= self.status <= 599:
            raise ValueError(f"invalid status code {self.status} (RFC 9110 §15)")
        try:
            raw_reason = self.reason.encode("latin-1")
        except UnicodeEncodeError:
            raise ValueError(f"reason phrase {self.reason!r} is not latin-1") from None
        if _REASON.fullmatch(raw_reason) is None:
            raise ValueError(f"invalid reason phrase {self.reason!r} (RFC 9112 §4)")
        lengths = self.headers.get_all("Content-Length")
        if lengths and lengths != [str(len(self.body))]:
            raise ValueError(f"Content-Length {lengths} does not match the {len(self.body)}-byte body")
        version = _check_version(self.version)
        status_line = f"{version} {self.status} ".encode("ascii") + raw_reason + b"\r\n"
        return status_line + _encode_fields(self.headers) + b"\r\n" + self.body


def _version_info(version: str) -> tuple[int, int]:
    return int(version[5]), int(version[7])


def _check_version(version: str) -> str:
    if not version.isascii() or _VERSION.fullmatch(version.encode("ascii")) is None:
        raise ValueError(f"invalid HTTP version {version!r} (RFC 9112 §2.3)")
    return version


def _parse_version(raw: bytes) -> str:
    match = _VERSION.fullmatch(raw)
    if match is None:
        raise HTTPParseError(f"invalid HTTP version {_show(raw)}", section="2.3")
    if match.group(1) != b"1":
        raise HTTPParseError(
            f"unsupported HTTP version {_show(raw)}, expected HTTP/1.x",
            status=505,
            section="2.3",
        )
    return raw.decode("ascii")


def _show(raw: bytes, limit: int = 40) -> str:
    """Quote untrusted bytes safely and briefly for an error message."""
    text = repr(raw[:limit])[1:]
    return text + "..." if len(raw) > limit else text


_T = TypeVar("_T", Request, Response)


class _HeadParser(Generic[_T]):
    """Shared line splitting, limits and header-field parsing."""

    _first_line_too_long_status = 431
    _first_line_name = "start line"
    _first_line_section = "2.1"

    def __init__(
        self,
        *,
        max_line_length: int = DEFAULT_MAX_LINE_LENGTH,
        max_headers: int = DEFAULT_MAX_HEADERS,
    ) -> None:
        self.max_line_length = max_line_length
        self.max_headers = max_headers
        self._buffer = bytearray()
        self._scanned = 0  # bytes of _buffer known to hold no LF
        self._start_line: bytes | None = None
        self._empty_lines = 0
        self._fields: list[tuple[str, str]] = []
        self._message: _T | None = None
        self._error: HTTPParseError | None = None

    @property
    def complete(self) -> bool:
        """Whether the header block has been fully parsed."""
        return self._message is not None

    @property
    def message(self) -> _T | None:
        """The parsed message once complete, else ``None``."""
        return self._message

    @property
    def trailing(self) -> bytes:
        """Bytes received after the header block (frames, after a 101)."""
        return bytes(self._buffer) if self._message is not None else b""

    def feed(self, data: bytes) -> _T | None:
        """Add bytes; return the message once its header block is complete.

        Returns ``None`` while more bytes are needed.  Raises
        :class:`HTTPParseError` for invalid input (then again on every later
        call) and :class:`RuntimeError` if called after completion: the
        remaining bytes belong to another protocol, see :attr:`trailing`.
        """
        if self._error is not None:
            raise self._error
        if self._message is not None:
            raise RuntimeError("the message is complete; read .trailing instead")
        self._buffer += data
        try:
            return self._parse()
        except HTTPParseError as exc:
            self._error = exc
            raise

    def _parse(self) -> _T | None:
        while True:
            line = self._next_line()
            if line is None:
                return None
            if self._start_line is None:
                if not line and self._skip_empty_lines():
                    self._empty_lines += 1
                    if self._empty_lines > _MAX_LEADING_EMPTY_LINES:
                        raise HTTPParseError(
                            "too many empty lines before the request line",
                            section="2.2",
                        )
                    continue
                # Validate now, so that garbage fails on its first line.
                self._build(line, Headers())
                self._start_line = line
                continue
            if line:
                self._parse_field(line)
                continue
            self._message = self._build(self._start_line, Headers(self._fields))
            return self._message

    def _skip_empty_lines(self) -> bool:
        return False

    def _next_line(self) -> bytes | None:
        """Pop one CRLF-terminated line (without CRLF), or ``None`` if partial."""
        buf = self._buffer
        end = buf.find(b"\n", self._scanned)
        limit = self.max_line_length
        if end < 0:
            self._scanned = len(buf)
            # +1: the CR of the CRLF may already be here.
            if len(buf) > limit + 1:
                self._too_long()
            return None
        if end == 0 or buf[end - 1] != 0x0D:
            raise HTTPParseError("line ends in a bare LF, expected CRLF", section="2.2")
        line = bytes(buf[: end - 1])
        del buf[: end + 1]
        self._scanned = 0
        if len(line) > limit:
            self._too_long()
        if b"\r" in line:
            raise HTTPParseError("bare CR inside a line", section="2.2")
        return line

    def _too_long(self) -> NoReturn:
        if self._start_line is None:
            raise HTTPParseError(
                f"{self._first_line_name} longer than {self.max_line_length} bytes",
                status=self._first_line_too_long_status,
                section=self._first_line_section,
            )
        raise HTTPParseError(
            f"header line longer than {self.max_line_length} bytes",
            status=431,
            section="5",
        )

    def _parse_field(self, line: bytes) -> None:
        # RFC 9112 §5: field-line = field-name ":" OWS field-value OWS
        if line[0] in b" \t":
            raise HTTPParseError("obsolete line folding is not accepted", section="5.2")
        if len(self._fields) >= self.max_headers:
            raise HTTPParseError(f"more than {self.max_headers} header fields", status=431, section="5")
        name, colon, value = line.partition(b":")
        if not colon:
            raise HTTPParseError(f"header line without colon: {_show(line)}", section="5")
        if name[-1:] in (b" ", b"\t"):
            # RFC 9112 §5.1: "No whitespace is allowed between the field name
            # and colon ... a server MUST reject ... with 400".
            raise HTTPParseError(
                f"whitespace between field name and colon: {_show(name)}",
                section="5.1",
            )
        if _TOKEN.fullmatch(name) is None:
            raise HTTPParseError(f"invalid field name {_show(name)}", section="5.1")
        value = value.strip(b" \t")
        if _FIELD_VALUE.fullmatch(value) is None:
            # RFC 9110 §5.5: CR, LF and NUL are "invalid and dangerous".
            raise HTTPParseError(
                f"invalid character in the value of {name.decode('ascii')}",
                section="5",
            )
        # obs-text is not ASCII; latin-1 maps each byte to one code point, so
        # nothing is lost and building the message back is byte-exact.
        self._fields.append((name.decode("ascii"), value.decode("latin-1")))

    def _build(self, start_line: bytes, headers: Headers) -> _T:
        raise NotImplementedError


class RequestParser(_HeadParser[Request]):
    """Incremental parser for one request head (server side of a handshake)."""

    _first_line_too_long_status = 414  # RFC 9112 §3: "414 (URI Too Long)"
    _first_line_name = "request line"
    _first_line_section = "3"

    def _skip_empty_lines(self) -> bool:
        return True

    def _build(self, start_line: bytes, headers: Headers) -> Request:
        # RFC 9112 §3: request-line = method SP request-target SP HTTP-version
        parts = start_line.split(b" ")
        if len(parts) != 3:
            raise HTTPParseError(f"malformed request line {_show(start_line)}", section="3")
        method, target, version = parts
        if _TOKEN.fullmatch(method) is None:
            raise HTTPParseError(f"invalid method {_show(method)}", section="3.1")
        if _TARGET.fullmatch(target) is None:
            raise HTTPParseError(f"invalid request target {_show(target)}", section="3.2")
        return Request(
            method=method.decode("ascii"),
            target=target.decode("ascii"),
            version=_parse_version(version),
            headers=headers,
        )


class ResponseParser(_HeadParser[Response]):
    """Incremental parser for one response head (client side of a handshake)."""

    _first_line_name = "status line"
    _first_line_section = "4"

    def _build(self, start_line: bytes, headers: Headers) -> Response:
        # RFC 9112 §4: status-line = HTTP-version SP status-code SP [reason]
        # We also accept a missing final SP when the reason is empty, since a
        # client "SHOULD ignore the reason-phrase content" anyway.
        parts = start_line.split(b" ", 2)
        if len(parts) < 2:
            raise HTTPParseError(f"malformed status line {_show(start_line)}", section="4")
        version, code = parts[0], parts[1]
        reason = parts[2] if len(parts) == 3 else b""
        if len(code) != 3 or not code.isdigit() or not 100 <= int(code) <= 599:
            raise HTTPParseError(f"invalid status code {_show(code)}", section="4")
        if _REASON.fullmatch(reason) is None:
            raise HTTPParseError("invalid character in reason phrase", section="4")
        return Response(
            version=_parse_version(version),
            status=int(code),
            reason=reason.decode("latin-1"),
            headers=headers,
        )


def _encode_fields(headers: Iterable[tuple[str, str]] | Mapping[str, str]) -> bytes:
    """Serialize header fields, refusing anything that could split a line."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    out = bytearray()
    for name, value in pairs:
        raw_name = name.encode("ascii", "replace")
        if not name.isascii() or _TOKEN.fullmatch(raw_name) is None:
            raise ValueError(f"invalid header name {name!r} (RFC 9110 §5.1)")
        try:
            raw_value = value.encode("latin-1")
        except UnicodeEncodeError:
            raise ValueError(f"header {name} has characters outside latin-1 (RFC 9110 §5.5)") from None
        if _FIELD_VALUE.fullmatch(raw_value) is None or raw_value != raw_value.strip(b" \t"):
            # CR/LF here would inject header lines (RFC 9110 §5.5).
            raise ValueError(f"invalid value for header {name}: {value!r}")
        out += raw_name + b": " + raw_value + b"\r\n"
    return bytes(out)


def build_request(
    method: str,
    target: str,
    headers: Iterable[tuple[str, str]] | Mapping[str, str],
) -> bytes:
    """Serialize an HTTP/1.1 request head, headers in the given order."""
    return Request(method, target, "HTTP/1.1", Headers(headers)).serialize()


def build_response(
    status: int,
    reason: str,
    headers: Iterable[tuple[str, str]] | Mapping[str, str],
    body: bytes = b"",
) -> bytes:
    """Serialize an HTTP/1.1 response, headers in the given order, then *body*.

    If *body* is not empty and no ``Content-Length`` is given, one is added
    (RFC 9112 §6.3: without it the body would only end when TCP closes).
    """
    fields = Headers(headers)
    if body and "Content-Length" not in fields:
        fields = Headers([*fields, ("Content-Length", str(len(body)))])
    return Response("HTTP/1.1", status, reason, fields, bytes(body)).serialize()
