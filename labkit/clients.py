"""Clients for cells: real WebSocket and Socket.IO clients, and a raw socket that shows bytes.

The WebSocket and Socket.IO helpers return the libraries' own client objects (websockets'
sync and asyncio clients, python-socketio's SimpleClient and AsyncClient): lessons use
the real thing. The raw socket exists so a student can type a request byte by byte and
see exactly the bytes that come back.
"""

from __future__ import annotations

__all__ = [
    "RawSocket",
    "WireBytes",
    "raw_exchange",
    "sio_connect",
    "sio_connect_async",
    "ws_connect",
    "ws_connect_async",
]

import functools
import inspect
import socket
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from websockets.asyncio.client import connect as _async_connect
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as _sync_connect

from .errors import LabkitError
from .i18n import say
from .tls import authority, authority_made
from .tls import client_context as trust_labkit_tls

if TYPE_CHECKING:  # python-socketio takes a third of labkit's import time: imported when used
    import socketio

#: The User-Agent labkit's WebSocket clients send. websockets' own names the Python and
#: websockets versions, which would change the bytes (and stored lesson outputs) from one
#: installation to the next.
USER_AGENT = "labkit (websockets client)"

#: websockets 17.1 warns when ``connect()`` is used without ``with`` unless ``legacy=True``.
_SYNC_CONNECT_HAS_LEGACY = "legacy" in inspect.signature(_sync_connect).parameters


def ws_connect(url: str, **options: Any) -> ClientConnection:
    """Open a WebSocket connection with websockets' sync client.

    Use it in ``with``, or keep it across cells and call ``.close()``: a notebook often
    opens a connection in one cell and uses it in the next. Compression is off unless
    asked for, so that the bytes on the wire stay readable.
    """
    options.setdefault("compression", None)
    options.setdefault("user_agent_header", USER_AGENT)
    trust_labkit_tls(url, options)
    if _SYNC_CONNECT_HAS_LEGACY:
        options.setdefault("legacy", True)
    connection: ClientConnection = _sync_connect(url, **options)
    return connection


def ws_connect_async(url: str, **options: Any) -> _async_connect:
    """websockets' asyncio client: ``async with ws_connect_async(url) as ws: ...``."""
    options.setdefault("compression", None)
    options.setdefault("user_agent_header", USER_AGENT)
    trust_labkit_tls(url, options)
    return _async_connect(url, **options)


def sio_connect(url: str, transports: list[str] | None = None, **options: Any) -> socketio.SimpleClient:
    """A connected python-socketio SimpleClient; ``transports=["polling"]`` forbids WebSocket."""

    if url.startswith("https://") and "http_session" not in options and authority_made():
        import requests

        session = requests.Session()
        session.verify = str(authority().ca_file)  # labkit's own authority (labkit.serve(..., tls=True))
        options["http_session"] = session
    client = _simple_client_class()(**{k: options.pop(k) for k in ("http_session",) if k in options})
    client.connect(url, transports=transports, **options)
    return client


@functools.cache
def _simple_client_class() -> type[socketio.SimpleClient]:
    """python-socketio's SimpleClient, whose ``disconnect()`` also ends reconnection attempts.

    Once the server has gone, SimpleClient's own ``disconnect()`` leaves the client retrying
    in a background thread for ever (every 5 s at most); ``Client.shutdown()`` ends that.
    """
    import socketio

    class SimpleClient(socketio.SimpleClient):  # type: ignore[misc]
        def disconnect(self) -> None:
            client = self.client
            super().disconnect()
            if client is not None and not client.connected:
                client.shutdown()  # a reconnection under way: stopped, and its thread joined

    return SimpleClient


async def sio_connect_async(url: str, transports: list[str] | None = None, **options: Any) -> socketio.AsyncClient:
    """A connected python-socketio AsyncClient (register handlers with ``client.on``)."""
    import socketio

    client = socketio.AsyncClient()
    await client.connect(url, transports=transports, **options)
    return client


class WireBytes(bytes):
    """Bytes as they travelled, displayed so that CR, LF and non-text bytes stay visible."""

    def __repr__(self) -> str:
        if not self:
            return say("(nada)", "(nothing)")
        lines = []
        for line in self.split(b"\n"):
            shown = "".join(_show_byte(b) for b in line)
            lines.append(shown)
        return "\\n\n".join(lines)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

    def hexdump(self, width: int = 16) -> str:
        """Offset, hex and printable text, 16 bytes a line."""
        rows = []
        for offset in range(0, len(self), width):
            chunk = self[offset : offset + width]
            text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
            rows.append(f"{offset:04x}  {chunk.hex(' '):<{width * 3}} {text}")
        return "\n".join(rows)


def _show_byte(b: int) -> str:
    if b == 13:
        return "\\r"
    if 32 <= b < 127:
        return chr(b)
    return f"\\x{b:02x}"


def _address(url_or_address: str | tuple[str, int]) -> tuple[str, int]:
    if isinstance(url_or_address, tuple):
        return url_or_address
    parts = urlsplit(url_or_address)
    if parts.hostname is None or parts.port is None:
        raise LabkitError(f"need a URL with a host and a port, like ws://127.0.0.1:8000, not {url_or_address!r}")
    return parts.hostname, parts.port


class RawSocket:
    """A plain TCP connection: send bytes, and see exactly the bytes that come back.

    ``recv`` waits for the first bytes (up to ``timeout`` seconds, or ``wait`` if given),
    then keeps reading until the peer has been quiet for ``quiet`` seconds or has closed
    the connection (``closed`` becomes true).
    """

    def __init__(self, url_or_address: str | tuple[str, int], timeout: float = 5.0) -> None:
        self.address = _address(url_or_address)
        self.timeout = timeout
        self.sock = socket.create_connection(self.address, timeout=timeout)
        self.closed = False
        self.buffer = b""

    def send(self, data: bytes | str) -> None:
        """Send bytes; a ``str`` is sent as UTF-8 exactly as written (write ``\\r\\n`` yourself)."""
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def _read_once(self, timeout: float) -> bytes:
        self.sock.settimeout(timeout)
        try:
            chunk = self.sock.recv(65536)
        except (TimeoutError, BlockingIOError):  # settimeout(0) makes the socket non-blocking
            return b""
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.closed = True
        return chunk

    def recv(self, quiet: float = 0.2, wait: float | None = None) -> WireBytes:
        """Everything that arrives until ``quiet`` seconds pass with nothing new, or EOF.

        The first bytes are awaited up to ``wait`` seconds (default: the socket's
        ``timeout``), since a reply may take a while to start. When you expect nothing,
        say for how long with a short ``wait``: ``raw.recv(wait=0.5)`` gives ``(nothing)``
        if the peer stayed silent for half a second, instead of waiting the whole timeout.
        """
        for name, value in (("quiet", quiet), ("wait", wait)):
            if value is not None and not (isinstance(value, int | float) and value >= 0):
                from .i18n import say

                raise LabkitError(
                    say(
                        f"{name} debe ser un número de segundos, 0 o más, no {value!r}",
                        f"{name} must be a number of seconds, 0 or more, not {value!r}",
                    )
                )
        data = self.buffer
        self.buffer = b""
        if not data and not self.closed:
            data = self._read_once(self.timeout if wait is None else wait)
            if not data:  # silent for the whole wait, or closed
                return WireBytes(b"")
        while not self.closed:
            chunk = self._read_once(quiet)
            if not chunk:
                break
            data += chunk
        return WireBytes(data)

    def recv_exactly(self, n: int) -> WireBytes:
        """Exactly ``n`` bytes (or fewer if the peer closes first)."""
        deadline = time.monotonic() + self.timeout
        while len(self.buffer) < n and not self.closed and time.monotonic() < deadline:
            self.buffer += self._read_once(max(0.01, deadline - time.monotonic()))
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return WireBytes(data)

    def recv_until(self, marker: bytes = b"\r\n\r\n") -> WireBytes:
        """Bytes up to and including ``marker`` (the end of an HTTP header block by default)."""
        deadline = time.monotonic() + self.timeout
        while marker not in self.buffer and not self.closed and time.monotonic() < deadline:
            self.buffer += self._read_once(max(0.01, deadline - time.monotonic()))
        end = self.buffer.find(marker)
        end = len(self.buffer) if end < 0 else end + len(marker)
        data, self.buffer = self.buffer[:end], self.buffer[end:]
        return WireBytes(data)

    def recv_http(self) -> WireBytes:
        """One HTTP response: the header block, then a body of ``Content-Length`` bytes."""
        head = self.recv_until(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length" and value.strip().isdigit():
                length = int(value)
        return WireBytes(head + self.recv_exactly(length))

    def peer_closed(self, wait: float = 1.0) -> bool:
        """Whether the server closed the connection (waits up to ``wait`` seconds to find out)."""
        if not self.closed:
            self.buffer += self._read_once(wait)
        return self.closed

    def close(self) -> None:
        self.sock.close()
        self.closed = True

    def __enter__(self) -> RawSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def raw_exchange(url_or_address: str | tuple[str, int], data: bytes | str, quiet: float = 0.2) -> WireBytes:
    """Open a connection, send ``data``, and return what came back before quiet or EOF."""
    with RawSocket(url_or_address) as raw:
        raw.send(data)
        return raw.recv(quiet)
