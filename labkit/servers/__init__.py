"""Start labkit's demo servers from a cell or the command line, and stop them cleanly.

Every stack (``http``, ``websocket``, ``socketio``, ``scratch``) is a thin front end in a
module of this package. This module holds what they share: the handle a cell gets back,
the name registry that makes re-running a cell safe, and ``stop_all``.
"""

from __future__ import annotations

__all__ = [
    "APPS",
    "STACKS",
    "Backend",
    "Leftovers",
    "Running",
    "Server",
    "leftovers",
    "register",
    "replace_running",
    "running",
    "serve",
    "stop_all",
    "unregister",
]

import atexit
import errno
import html
import importlib
import threading
import time
from abc import ABC, abstractmethod
from types import TracebackType
from typing import Any, ClassVar, Protocol

from ..errors import LabkitError
from ..record import Record
from .loop import LoopThread

#: stack name -> "module:Backend class"; modules are imported only when used.
STACKS: dict[str, str] = {
    "http": "labkit.servers.http:HttpBackend",
    "websocket": "labkit.servers.websocket:WebSocketBackend",
    "socketio": "labkit.servers.socketio:SocketIOBackend",
    "scratch": "labkit.servers.scratch:ScratchBackend",
}

#: The demo apps and what they mean; each stack gives them the same meaning where it can.
APPS: dict[str, str] = {
    "echo": "every message comes back unchanged",
    "clock": "the server sends the time every second without being asked",
    "chat": "every text a client sends reaches every other connected client",
}


class Backend(ABC):
    """One running server of one stack; ``Server`` wraps it for users."""

    stack: ClassVar[str]
    scheme: ClassVar[str] = "http"
    apps: ClassVar[tuple[str, ...]] = tuple(APPS)

    def __init__(self, app: str, record: Record, **options: Any) -> None:
        self.app = app
        self.record = record
        self.options = options

    @abstractmethod
    def start(self, host: str, port: int) -> int:
        """Listen on ``host:port`` and return the bound port once connections are accepted."""

    @abstractmethod
    def stop(self) -> None:
        """Close the listener and every connection; join every thread started."""


class AsyncBackend(Backend):
    """A backend whose server is asyncio code running on a private loop thread."""

    def start(self, host: str, port: int) -> int:
        self.loop = LoopThread(f"labkit-{self.stack}-{self.app}", on_error=self.record_error)
        try:
            return self.loop.run(self.serve(host, port))
        except BaseException:
            self.loop.close()
            raise

    def stop(self) -> None:
        if not self.loop.finish(self.shutdown()):
            self.record_error("shutdown took over 5 s; connections were cut")

    def record_error(self, message: str) -> None:
        self.record.add("error", None, message)

    @abstractmethod
    async def serve(self, host: str, port: int) -> int: ...

    @abstractmethod
    async def shutdown(self) -> None: ...


def _backend_class(stack: str) -> type[Backend]:
    try:
        target = STACKS[stack]
    except KeyError:
        raise LabkitError(f"unknown stack {stack!r}; choose one of: {', '.join(STACKS)}") from None
    module, _, name = target.partition(":")
    cls: type[Backend] = getattr(importlib.import_module(module), name)
    return cls


def _format_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class Server:
    """A handle on one running server: its address, its record, and ``stop()``."""

    def __init__(self, name: str, app: str, stack: str, host: str, backend: Backend, port: int) -> None:
        self.name = name
        self.app = app
        self.stack = stack
        self.host = host
        self.port = port
        self.record = backend.record
        self._backend = backend
        self._stopped = False
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"{self._backend.scheme}://{_format_host(self.host)}:{self.port}"

    @property
    def running(self) -> bool:
        return not self._stopped

    def stop(self) -> None:
        """Stop serving, close every connection, free the port and join the threads.

        Calling it again does nothing.
        """
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            self._backend.stop()
        unregister(self)

    def __enter__(self) -> Server:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<Server {self.name!r}: {self.app} over {self.stack} at {self.url} ({state})>"

    def _repr_html_(self) -> str:
        state = "running" if self.running else "stopped"
        return (
            f"<b>{html.escape(self.app)}</b> over <b>{html.escape(self.stack)}</b> "
            f"at <code>{html.escape(self.url)}</code> ({state}; "
            f"name <code>{html.escape(self.name)}</code>; <code>.record</code> shows what it saw)"
        )


class Running(Protocol):
    """Anything a cell starts that ``stop_all`` must stop: a server, a tap."""

    @property
    def name(self) -> str: ...

    def stop(self) -> None: ...


_registry: dict[str, Running] = {}
_registry_lock = threading.Lock()


def replace_running(name: str) -> None:
    """Stop what runs under ``name``, so that a re-run cell can take its name (and port)."""
    with _registry_lock:
        previous = _registry.get(name)
    if previous is not None:
        previous.stop()


def register(handle: Running) -> None:
    """Keep ``handle`` under its name until it stops, for ``running`` and ``stop_all``."""
    with _registry_lock:
        _registry[handle.name] = handle


def unregister(handle: Running) -> None:
    with _registry_lock:
        if _registry.get(handle.name) is handle:
            del _registry[handle.name]


def serve(
    app: str,
    over: str = "websocket",
    name: str | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    **options: Any,
) -> Server:
    """Start ``app`` over the stack ``over`` and return once it accepts connections.

    ``port=0`` lets the system pick a free port. A server started under the name of a
    running one replaces it (the name defaults to ``"app-over"``), so re-running a cell
    never fails with "address already in use".
    """
    cls = _backend_class(over)
    if app not in cls.apps:
        raise LabkitError(f"unknown app {app!r} for stack {over!r}; choose one of: {', '.join(cls.apps)}")
    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise LabkitError(f"port must be a whole number from 0 to 65535, not {port!r}")
    name = name or f"{app}-{over}"
    replace_running(name)
    backend = cls(app, Record(), **options)
    try:
        bound = backend.start(host, port)
    except OSError as exc:
        raise _listen_error(exc, host, port) from None
    server = Server(name, app, over, host, backend, bound)
    register(server)
    return server


def _listen_error(exc: OSError, host: str, port: int) -> LabkitError:
    if exc.errno == errno.EADDRINUSE:
        return LabkitError(
            f"port {port} on {host} is already in use; stop what holds it, pick another port, or use port 0"
        )
    return LabkitError(f"cannot listen on {host}:{port}: {exc.strerror or exc}")


def running() -> list[Running]:
    """The servers started by ``serve`` (and taps started by ``tap``) that are still running."""
    with _registry_lock:
        return list(_registry.values())


def stop_all() -> None:
    """Stop every server started by ``serve`` and every tap started by ``tap``."""
    for server in running():
        server.stop()


atexit.register(stop_all)


#: Threads alive when labkit was imported: the kernel's own, not ours to count.
_baseline_threads = {thread.ident for thread in threading.enumerate()}


class Leftovers:
    """Servers still running and threads started since labkit was imported."""

    def __init__(self, servers: list[Running], threads: list[threading.Thread]) -> None:
        self.servers = servers
        self.threads = threads

    def __bool__(self) -> bool:
        return bool(self.servers or self.threads)

    def __repr__(self) -> str:
        if not self:
            return "nothing left running: 0 servers, 0 threads"
        names = [repr(s) for s in self.servers] + [f"thread {t.name}" for t in self.threads]
        return f"still running: {len(self.servers)} servers, {len(self.threads)} threads\n" + "\n".join(names)


def leftovers(wait: float = 2.0) -> Leftovers:
    """What is still running that a lesson started; threads get ``wait`` seconds to finish."""
    deadline = time.monotonic() + wait
    while True:
        threads = [t for t in threading.enumerate() if t.ident not in _baseline_threads and not _kernel_thread(t)]
        if not threads or time.monotonic() >= deadline:
            return Leftovers(running(), threads)
        time.sleep(0.02)


def _kernel_thread(thread: threading.Thread) -> bool:
    """Threads IPython starts on demand (history saving, output watchers) are not a lesson's."""
    return type(thread).__module__.split(".")[0] in {"IPython", "ipykernel", "jupyter_client", "zmq"}
