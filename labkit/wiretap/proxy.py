"""The tap itself: a TCP proxy that records what it forwards, one thread per direction.

A client connects to the tap instead of the server; for each connection the tap opens
one to the server and copies bytes both ways, recording each read before passing it on.
It never changes a byte, so any stack works through it. When one side finishes sending
(TCP FIN) the tap finishes sending to the other side, and when a side fails or resets it
cuts both: closing either side closes the other, as it would without the tap.

Each direction is a thread blocked in ``recv``: a byte that arrives is recorded and sent
on at once. An asyncio proxy wakes its event loop and then a task for every read, which
doubled a small message's round trip (``labkit bench tap``); a blocked thread adds little
more than the two system calls. A lesson's tap carries a few connections, so two threads
each cost nothing that matters.

It can also break the network on purpose. ``cut()`` is a pulled cable: nothing is
forwarded and nothing is closed, so both ends keep their connections open and their bytes
wait in the kernels' buffers, as TCP keeps retrying on a real cable; only heartbeats can
tell that the peer is gone. ``restore()`` plugs it back in and the waiting bytes flow, in
order. ``reset_connections()`` is a crash instead: every connection through the tap is
closed at once with a TCP reset (RST), which both ends notice immediately.
"""

from __future__ import annotations

__all__ = ["Proxy", "Tap", "tap"]

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..errors import LabkitError
from ..handles import Handle, check_address, format_host, listen_error, start
from ..i18n import Text, say
from ..record import CLIENT_TO_SERVER, SERVER_TO_CLIENT
from . import display
from .decode import Unit
from .recording import DEFAULT_MAX_BYTES, ConnectionInfo, Recording

_READ_SIZE = 65536
_DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}
#: Seconds to reach the server before the tap gives the connection up.
_CONNECT_TIMEOUT = 10.0
#: How often a thread held by a cut cable looks whether its connection is over.
_HELD_CHECK = 0.05
#: Seconds ``stop()`` waits for the tap's threads.
_STOP_TIMEOUT = 3.0


class _Link:
    """One client's connection through the tap and the one the tap opened to the server."""

    def __init__(self, conn: int, client: socket.socket) -> None:
        self.conn = conn
        self.client = client
        self.server: socket.socket | None = None
        #: Set once the link is being torn down (stop, reset, a failure): held threads leave.
        self.over = threading.Event()
        #: A reset ends the link with RST: no FIN is passed on, nothing more is recorded.
        self.reset = False

    def sockets(self) -> list[socket.socket]:
        return [sock for sock in (self.client, self.server) if sock is not None]

    def wake(self, how: int = socket.SHUT_RDWR) -> None:
        """End the threads blocked on this link's sockets (they return or raise)."""
        self.over.set()
        for sock in self.sockets():
            with contextlib.suppress(OSError):
                sock.shutdown(how)


class Proxy:
    """Accept, connect to the target, copy both ways, record; cut, restore and reset on demand."""

    def __init__(self, target: tuple[str, int], recording: Recording) -> None:
        self.target = target
        self.recording = recording
        #: One gate per direction: set while bytes flow, clear while that direction is cut.
        self.flowing = {CLIENT_TO_SERVER: threading.Event(), SERVER_TO_CLIENT: threading.Event()}
        for gate in self.flowing.values():
            gate.set()
        self.links: set[_Link] = set()
        self.threads: set[threading.Thread] = set()
        self.lock = threading.Lock()
        self.stopping = False
        self.listener: socket.socket | None = None
        self.name = "labkit-tap"

    def start(self, host: str, port: int, name: str = "labkit-tap") -> int:
        """Listen on ``host:port`` and accept in a thread; return the bound port."""
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
        self.listener = socket.create_server((host, port), family=family, backlog=128)
        self.name = name
        self._spawn(self._accept, f"{name}-accept")
        bound: int = self.listener.getsockname()[1]
        return bound

    def _spawn(self, target: Callable[..., None], name: str, *args: Any) -> threading.Thread:
        def run() -> None:
            try:
                target(*args)
            except Exception as exc:  # a bug here must not print into a notebook cell
                self.recording.error(f"{type(exc).__name__}: {exc}")
            finally:
                with self.lock:
                    self.threads.discard(thread)

        thread = threading.Thread(target=run, name=name, daemon=True)
        with self.lock:
            self.threads.add(thread)
        thread.start()
        return thread

    def _accept(self) -> None:
        assert self.listener is not None
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # the listener was shut down: stop()
            with self.lock:
                if self.stopping:
                    client.close()
                    return
                link = _Link(self.recording.open_connection(), client)
                self.links.add(link)
            self._spawn(self._serve, f"{self.name}-{link.conn}", link)

    def _held(self, direction: str, link: _Link) -> bool:
        """Wait while ``direction`` is cut; False if the link ended meanwhile."""
        gate = self.flowing[direction]
        if gate.is_set():  # the usual case, without Event.wait's lock
            return not link.over.is_set()
        while not gate.wait(_HELD_CHECK):
            if link.over.is_set():
                return False
        return not link.over.is_set()

    def _serve(self, link: _Link) -> None:
        """Connect to the server, then copy client → server here and server → client in a second thread."""
        error: str | Text | None = None
        try:
            # A cut cable carries no SYN either: the server hears of the connection once it is restored.
            if not self._held(CLIENT_TO_SERVER, link):
                return
            try:
                server = socket.create_connection(self.target, timeout=_CONNECT_TIMEOUT)
            except OSError as exc:
                reason = exc.strerror or str(exc) or type(exc).__name__
                where = f"{self.target[0]}:{self.target[1]}"
                error = Text(
                    f"no se llega al servidor en {where}: {reason}", f"cannot reach the server at {where}: {reason}"
                )
                return
            server.settimeout(None)
            with self.lock:
                link.server = server
                ended = link.over.is_set()
            if ended:  # stopped or reset while connecting
                link.wake()
                return
            for sock in link.sockets():  # one read, one segment: no Nagle delay added by the tap
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            answers = self._spawn(
                self._pump, f"{self.name}-{link.conn}-back", link, SERVER_TO_CLIENT, server, link.client
            )
            self._pump(link, CLIENT_TO_SERVER, link.client, server)
            answers.join()
        finally:
            for sock in link.sockets():
                sock.close()  # after a reset (SO_LINGER 0) this sends the RST
            with self.lock:
                self.links.discard(link)
            self.recording.close_connection(link.conn, error)

    def _pump(self, link: _Link, direction: str, source: socket.socket, sink: socket.socket) -> None:
        """Copy one direction until EOF, then pass the EOF on; on any failure, cut both sides.

        While the direction is cut, nothing is read, recorded or written: bytes (and a FIN
        or a reset) wait in the buffers until :meth:`restore`, so the recording holds what
        went through, when it went through.
        """
        try:
            while True:
                if not self._held(direction, link):
                    return
                data = source.recv(_READ_SIZE)
                if not self._held(direction, link):  # cut while this read waited: held like the rest
                    return
                if not data:
                    break
                self.recording.add(link.conn, direction, data)
                sink.sendall(data)
            self.recording.end(link.conn, direction)
            sink.shutdown(socket.SHUT_WR)  # pass the FIN on
        except OSError:
            if link.over.is_set():
                return  # stop or reset: already being torn down
            self._held(direction, link)
            link.wake()  # one side failed: cut both, as without the tap

    def cut(self, directions: tuple[str, ...]) -> None:
        """Stop forwarding ``directions``; connections stay open on both sides."""
        for direction in directions:
            self.flowing[direction].clear()
        self.recording.mark(
            Text("cable cortado", "cable cut")
            if len(directions) == 2
            else Text(f"cable cortado en sentido {directions[0]}", f"cable cut in direction {directions[0]}")
        )

    def restore(self) -> None:
        """Forward again, both ways: what waited goes through first, in order."""
        self.recording.mark(Text("cable restablecido", "cable restored"))  # before anything it lets through
        for gate in self.flowing.values():
            gate.set()

    def reset_connections(self) -> int:
        """Close every connection through the tap with a TCP reset (RST) to both ends; return how many."""
        with self.lock:
            links = list(self.links)
        self.recording.mark(
            Text(f"conexiones reiniciadas (RST): {len(links)}", f"connections reset (RST): {len(links)}")
        )
        for link in links:
            link.reset = True
            for sock in link.sockets():  # SO_LINGER 0: close() sends RST, not FIN (RFC 9293 §3.10.5 ABORT Call)
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            link.wake(socket.SHUT_RD)  # wakes the reads and sends nothing; the link's close sends the RST
        self._join(links)
        return len(links)

    def _join(self, links: list[_Link]) -> None:
        """Wait until ``links`` are closed and recorded, within :data:`_STOP_TIMEOUT`."""
        deadline = time.monotonic() + _STOP_TIMEOUT
        while time.monotonic() < deadline:
            with self.lock:
                if not self.links & set(links):
                    return
            time.sleep(0.005)

    def stop(self) -> bool:
        """Close the listener and every connection, join every thread; False if that took too long."""
        with self.lock:
            self.stopping = True
            links = list(self.links)
            threads = list(self.threads)
        if self.listener is not None:
            with contextlib.suppress(OSError):
                self.listener.shutdown(socket.SHUT_RDWR)  # wakes accept()
            self.listener.close()
        for link in links:
            link.wake()
        deadline = time.monotonic() + _STOP_TIMEOUT
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in threads)


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

    def __init__(self, name: str, target: str, host: str, port: int, recording: Recording) -> None:
        super().__init__(name)
        self.target = target
        self.host = host
        self.port = port
        self.recording = recording
        self._proxy: Proxy | None = None

    @property
    def url(self) -> str:
        """The target's URL with the tap's host and port: same scheme, path and query."""
        parts = urlsplit(self.target)
        return urlunsplit((parts.scheme, f"{format_host(self.host)}:{self.port}", parts.path, parts.query, ""))

    def _shut_down(self) -> None:
        """Close the listener and every connection through the tap; the recording stays readable."""
        if self._proxy is not None and not self._proxy.stop():
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
        self._running_proxy().cut(self._directions(direction))

    def restore(self) -> None:
        """Plug the cable back in: what waited is forwarded first, in order, then the rest."""
        self._running_proxy().restore()

    def reset_connections(self) -> int:
        """Close every connection through the tap with a TCP reset (RST), as a crash would; return how many.

        Unlike :meth:`cut`, both ends notice at once (their next read fails with "connection
        reset"). The tap keeps accepting new connections (if it is cut, they wait).
        """
        return self._running_proxy().reset_connections()

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
        handle = Tap(name, url, host, 0, recording)
        proxy = Proxy((target_host, target_port), recording)
        try:
            handle.port = proxy.start(host, port, name=f"labkit-{name}")
        except OSError as exc:
            raise listen_error(exc, host, port) from None
        handle._proxy = proxy
        return handle

    return start(name, launch)
