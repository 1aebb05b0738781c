"""The tap itself: a TCP proxy on its own loop thread that records what it forwards.

A client connects to the tap instead of the server; for each connection the tap opens
one to the server and copies bytes both ways, recording each read before passing it on.
It never changes a byte, so any stack works through it. When one side finishes sending
(TCP FIN) the tap finishes sending to the other side, and when a side fails or resets it
cuts both: closing either side closes the other, as it would without the tap.

It can also break the network on purpose. ``cut()`` is a pulled cable: nothing is
forwarded and nothing is closed, so both ends keep their connections open and their bytes
wait in the kernels' buffers, as TCP keeps retrying on a real cable; only heartbeats can
tell that the peer is gone. ``restore()`` plugs it back in and the waiting bytes flow, in
order. ``reset_connections()`` is a crash instead: every connection through the tap is
closed at once with a TCP reset (RST), which both ends notice immediately.
"""

from __future__ import annotations

__all__ = ["Proxy", "Tap", "tap"]

import asyncio
import socket
import struct
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..errors import LabkitError
from ..handles import Handle, check_address, format_host, listen_error, start
from ..i18n import Text, say
from ..loop import LoopThread, stop_accepting
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
        #: One gate per direction: set while bytes flow, clear while that direction is cut.
        self.flowing = {CLIENT_TO_SERVER: asyncio.Event(), SERVER_TO_CLIENT: asyncio.Event()}
        for gate in self.flowing.values():
            gate.set()

    async def start(self, host: str, port: int) -> int:
        self.server = await asyncio.start_server(self.handle, host, port)
        bound: int = self.server.sockets[0].getsockname()[1]
        return bound

    async def stop(self) -> None:
        await stop_accepting(self.server.sockets)
        self.server.close()
        for transport in list(self.transports):
            transport.abort()
        if self.handlers:
            waiting = set(self.handlers)
            if all(gate.is_set() for gate in self.flowing.values()):
                # aborted transports end their pumps; a cut cable ends nothing, so cancel at once
                _, waiting = await asyncio.wait(waiting, timeout=1)
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
            # A cut cable carries no SYN either: the server hears of the connection once it is restored.
            await self.flowing[CLIENT_TO_SERVER].wait()
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
        """Copy one direction until EOF, then pass the EOF on; on any failure, cut both sides.

        While the direction is cut, nothing is read, recorded or written: bytes (and a FIN
        or a reset) wait in the buffers until :meth:`restore`, so the recording holds what
        went through, when it went through.
        """
        gate = self.flowing[direction]
        try:
            while True:
                if not gate.is_set():
                    await gate.wait()
                data = await reader.read(_READ_SIZE)
                if not gate.is_set():  # cut while this read waited: held like the rest
                    await gate.wait()
                if not data:
                    break
                self.recording.add(conn, direction, data)
                writer.write(data)
                await writer.drain()
            self.recording.end(conn, direction)
            if writer.can_write_eof() and not writer.is_closing():
                writer.write_eof()
        except (OSError, RuntimeError):
            await gate.wait()
            for side in both:
                side.transport.abort()

    async def cut(self, directions: tuple[str, ...]) -> None:
        """Stop forwarding ``directions``; connections stay open on both sides."""
        for direction in directions:
            self.flowing[direction].clear()
        self.recording.mark(
            Text("cable cortado", "cable cut")
            if len(directions) == 2
            else Text(f"cable cortado en sentido {directions[0]}", f"cable cut in direction {directions[0]}")
        )

    async def restore(self) -> None:
        """Forward again, both ways: what waited goes through first, in order."""
        self.recording.mark(Text("cable restablecido", "cable restored"))  # before anything it lets through
        for gate in self.flowing.values():
            gate.set()

    async def reset_connections(self) -> int:
        """Close every connection through the tap with a TCP reset (RST) to both ends; return how many."""
        handlers = list(self.handlers)
        self.recording.mark(
            Text(f"conexiones reiniciadas (RST): {len(handlers)}", f"connections reset (RST): {len(handlers)}")
        )
        for transport in list(self.transports):
            sock = transport.get_extra_info("socket")
            if sock is not None:  # SO_LINGER 0: close() sends RST, not FIN (RFC 9293 §3.10.5 ABORT Call)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
        for handler in handlers:
            handler.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        return len(handlers)


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
    flight, so a cell run right after an exchange shows all of it. ``cut()``,
    ``restore()`` and ``reset_connections()`` break the network on purpose.
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

    def cut(self, direction: str | None = None) -> None:
        """Pull the cable: stop forwarding, close nothing (``restore()`` plugs it back in).

        Both ends keep their connections open and their bytes wait in the kernels' buffers,
        as when a cable is pulled and TCP keeps retrying: neither end can tell, until a
        heartbeat goes unanswered. New connections wait too. ``direction`` cuts one way
        only: ``"S→C"`` loses what the server sends (its acknowledgements, its pings),
        ``"C→S"`` what the client sends.
        """
        self._loop.run(self._running_proxy().cut(self._directions(direction)))

    def restore(self) -> None:
        """Plug the cable back in: what waited is forwarded first, in order, then the rest."""
        self._loop.run(self._running_proxy().restore())

    def reset_connections(self) -> int:
        """Close every connection through the tap with a TCP reset (RST), as a crash would; return how many.

        Unlike :meth:`cut`, both ends notice at once (their next read fails with "connection
        reset"). The tap keeps accepting new connections (if it is cut, they wait).
        """
        return self._loop.run(self._running_proxy().reset_connections())

    @staticmethod
    def _directions(direction: str | None) -> tuple[str, ...]:
        if direction is None:
            return (CLIENT_TO_SERVER, SERVER_TO_CLIENT)
        if direction in (CLIENT_TO_SERVER, SERVER_TO_CLIENT):
            return (direction,)
        raise LabkitError(
            say(
                f"direction debe ser {CLIENT_TO_SERVER!r} (cliente → servidor), {SERVER_TO_CLIENT!r} "
                f"(servidor → cliente) o None (los dos), no {direction!r}",
                f"direction must be {CLIENT_TO_SERVER!r} (client → server), {SERVER_TO_CLIENT!r} "
                f"(server → client) or None (both), not {direction!r}",
            )
        )

    def _running_proxy(self) -> Proxy:
        if not self.running or self._proxy is None:
            raise LabkitError(say(f"el tap {self.name!r} está detenido", f"the tap {self.name!r} is stopped"))
        return self._proxy

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
