"""The tap itself: a TCP proxy on its own loop thread that records what it forwards.

A client connects to the tap instead of the server; for each connection the tap opens
one to the server and copies bytes both ways, recording each read before passing it on.
It never changes a byte, so any stack works through it. When one side finishes sending
(TCP FIN) the tap finishes sending to the other side, and when a side fails or resets it
cuts both: closing either side closes the other, as it would without the tap.
"""

from __future__ import annotations

__all__ = ["Proxy", "Tap", "tap"]

import asyncio
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..errors import LabkitError
from ..handles import Handle, check_address, format_host, listen_error, start
from ..i18n import Text, say
from ..loop import LoopThread
from ..record import CLIENT_TO_SERVER, SERVER_TO_CLIENT
from . import display
from .decode import Unit
from .recording import DEFAULT_MAX_BYTES, ConnectionInfo, Recording

_READ_SIZE = 65536
_DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}


class Proxy:
    """The asyncio side: accept, connect to the target, pump both ways, record."""

    def __init__(self, target: tuple[str, int], recording: Recording) -> None:
        self.target = target
        self.recording = recording
        self.transports: set[asyncio.WriteTransport] = set()
        self.handlers: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int) -> int:
        self.server = await asyncio.start_server(self.handle, host, port)
        bound: int = self.server.sockets[0].getsockname()[1]
        return bound

    async def stop(self) -> None:
        self.server.close()
        for transport in list(self.transports):
            transport.abort()
        if self.handlers:  # cut transports end their pumps; cancel only what still waits
            _, waiting = await asyncio.wait(set(self.handlers), timeout=1)
            for handler in waiting:
                handler.cancel()
            await asyncio.gather(*waiting, return_exceptions=True)
        await self.server.wait_closed()

    async def handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        self.transports.add(client_writer.transport)
        conn = self.recording.open_connection()
        error: str | Text | None = None
        server_writer: asyncio.StreamWriter | None = None
        try:
            try:
                server_reader, server_writer = await asyncio.open_connection(*self.target)
            except OSError as exc:
                reason = exc.strerror or str(exc) or type(exc).__name__
                where = f"{self.target[0]}:{self.target[1]}"
                error = Text(
                    f"no se llega al servidor en {where}: {reason}", f"cannot reach the server at {where}: {reason}"
                )
                return
            self.transports.add(server_writer.transport)
            both = (client_writer, server_writer)
            await asyncio.gather(
                self.pump(conn, CLIENT_TO_SERVER, client_reader, server_writer, both),
                self.pump(conn, SERVER_TO_CLIENT, server_reader, client_writer, both),
            )
        finally:
            for writer in (client_writer, server_writer):
                if writer is not None:
                    writer.close()
                    self.transports.discard(writer.transport)
            self.recording.close_connection(conn, error)
            self.handlers.discard(task)

    async def pump(
        self,
        conn: int,
        direction: str,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        both: tuple[asyncio.StreamWriter, asyncio.StreamWriter],
    ) -> None:
        """Copy one direction until EOF, then pass the EOF on; on any failure, cut both sides."""
        try:
            while data := await reader.read(_READ_SIZE):
                self.recording.add(conn, direction, data)
                writer.write(data)
                await writer.drain()
            self.recording.end(conn, direction)
            if writer.can_write_eof() and not writer.is_closing():
                writer.write_eof()
        except (OSError, RuntimeError):
            for side in both:
                side.transport.abort()


def _parse_target(url: str) -> tuple[str, str, int]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except (ValueError, TypeError, AttributeError):
        raise LabkitError(say(f"no es una URL: {url!r}", f"not a URL: {url!r}")) from None
    if not parts.scheme or parts.hostname is None:
        raise LabkitError(
            say(
                f"hace falta una URL como ws://127.0.0.1:8000 o el .url de un servidor, no {url!r}",
                f"need a URL like ws://127.0.0.1:8000 or a server's .url, not {url!r}",
            )
        )
    if port is None:
        port = _DEFAULT_PORTS.get(parts.scheme.lower())
        if port is None:
            raise LabkitError(say(f"falta el puerto en {url!r}", f"need a port in {url!r}"))
    return parts.scheme, parts.hostname, port


class Tap(Handle):
    """A running tap: connect clients to ``.url``; the views show what went through.

    ``hexdump()``, ``frames()``, ``sequence()``, ``messages()``, ``packets()`` and
    ``timeline()`` come from :attr:`recording`; each waits briefly for bytes still in
    flight, so a cell run right after an exchange shows all of it.
    """

    def __init__(self, name: str, target: str, host: str, port: int, recording: Recording, loop: LoopThread) -> None:
        super().__init__(name)
        self.target = target
        self.host = host
        self.port = port
        self.recording = recording
        self._loop = loop
        self._proxy: Proxy | None = None

    @property
    def url(self) -> str:
        """The target's URL with the tap's host and port: same scheme, path and query."""
        parts = urlsplit(self.target)
        return urlunsplit((parts.scheme, f"{format_host(self.host)}:{self.port}", parts.path, parts.query, ""))

    def _shut_down(self) -> None:
        """Close the listener and every connection through the tap; the recording stays readable."""
        if self._proxy is None:
            self._loop.close()
        elif not self._loop.finish(self._proxy.stop(), timeout=3):
            self.recording.error(
                Text(
                    "detenerlo tardó más de 3 s; se cortaron las conexiones",
                    "stopping took over 3 s; connections were cut",
                )
            )

    def wait(self, quiet: float = 0.05, timeout: float = 2.0, closed: bool = False) -> bool:
        """Wait until nothing new has arrived for ``quiet`` seconds (and, with ``closed``,
        every connection has closed); return whether that happened within ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            now = time.monotonic() - self.recording.start
            idle = now - self.recording.last_activity >= quiet
            done = not closed or all(c.closed is not None for c in self.recording.connections())
            if idle and done:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(quiet, 0.01))

    def _settled(self) -> Recording:
        if self.running:
            self.wait()
        return self.recording

    def connections(self) -> list[ConnectionInfo]:
        return self._settled().connections()

    def messages(self, conn: int | None = None) -> list[Unit]:
        return self._settled().messages(conn)

    def packets(self, conn: int | None = None) -> display.PacketTable:
        return self._settled().packets(conn)

    def hexdump(self, conn: int | None = None, limit: int | None = 256) -> display.Hexdump:
        return self._settled().hexdump(conn, limit)

    def frames(self, conn: int | None = None) -> display.FrameTable:
        return self._settled().frames(conn)

    def sequence(self, conn: int | None = None) -> display.SequenceDiagram:
        return self._settled().sequence(conn)

    def timeline(self, conn: int | None = None) -> display.Timeline:
        return self._settled().timeline(conn)

    def summary(self) -> display.Summary:
        return self._settled().summary("running" if self.running else "stopped")

    def __repr__(self) -> str:
        return say(
            f"<Tap {self.name!r} delante de {self.target} en {self.url} ({self.state_text()})>",
            f"<Tap {self.name!r} in front of {self.target} at {self.url} ({self.state_text()})>",
        )

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """A cell shows the summary: no port, no time, so stored outputs stay stable."""
        printer.text(self.summary().text())

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()


def tap(
    url: str,
    name: str | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Tap:
    """Start a recording TCP proxy in front of the server at ``url``; connect to ``.url``.

    Works with any stack (it copies bytes, whatever they are). ``port=0`` lets the system
    pick a free port. A tap started under the name of a running one replaces it; the name
    defaults to ``"tap-<server port>"``, so re-running a cell that taps the same server
    never leaves the old tap behind. ``labkit.stop_all()`` stops taps too.
    """
    _, target_host, target_port = _parse_target(url)
    check_address(host, port)
    if not isinstance(max_bytes, int) or isinstance(max_bytes, bool) or max_bytes < 0:
        raise LabkitError(
            say(
                f"max_bytes debe ser un número entero de bytes, no {max_bytes!r}",
                f"max_bytes must be a whole number of bytes, not {max_bytes!r}",
            )
        )
    name = name or f"tap-{target_port}"

    def launch() -> Tap:
        recording = Recording(max_bytes)
        loop = LoopThread(f"labkit-{name}", on_error=recording.error)
        handle = Tap(name, url, host, 0, recording, loop)
        proxy = Proxy((target_host, target_port), recording)
        try:
            handle.port = loop.run(proxy.start(host, port))
        except OSError as exc:
            loop.close()
            raise listen_error(exc, host, port) from None
        except BaseException:
            loop.close()
            raise
        handle._proxy = proxy
        return handle

    return start(name, launch)
