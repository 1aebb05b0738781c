"""What a cell starts and must be able to stop: one handle type, one registry, one ``stop_all``.

Servers, taps (and anything else a lesson starts in the background) are :class:`Handle`
objects. A handle is registered under a name while it runs, so that re-running a cell
replaces the previous one instead of failing with "address already in use", and so that
``stop_all()`` and ``leftovers()`` see everything. Replacing and registering happen as one
step (:func:`start`): two cells started at once under one name never leave an orphan.
"""

from __future__ import annotations

__all__ = [
    "Handle",
    "Leftovers",
    "check_address",
    "format_host",
    "leftovers",
    "listen_error",
    "running",
    "start",
    "stop_all",
]

import atexit
import errno
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from types import TracebackType
from typing import TypeVar

from .errors import LabkitError
from .i18n import say


class Handle(ABC):
    """Something running in the background under a name: ``.url``, ``.running``, ``.stop()``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._stopped = False
        self._stop_lock = threading.Lock()

    @property
    @abstractmethod
    def url(self) -> str:
        """Where clients connect."""

    @property
    def running(self) -> bool:
        return not self._stopped

    def stop(self) -> None:
        """Stop, close every connection, free the port and join the threads; again does nothing."""
        with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True
            self._shut_down()
        _unregister(self)

    @abstractmethod
    def _shut_down(self) -> None:
        """Release everything the handle holds; called once, by :meth:`stop`."""

    def __enter__(self: H) -> H:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def state_text(self) -> str:
        return say("en marcha", "running") if self.running else say("detenido", "stopped")


H = TypeVar("H", bound=Handle)

_registry: dict[str, Handle] = {}
_registry_lock = threading.Lock()
_name_locks: dict[str, threading.Lock] = {}


def _name_lock(name: str) -> threading.Lock:
    with _registry_lock:
        return _name_locks.setdefault(name, threading.Lock())


def start(name: str, launch: Callable[[], H]) -> H:
    """Stop what runs under ``name``, launch the new handle and register it, as one step.

    ``launch`` runs only after the previous holder of the name has stopped (and freed its
    port), so a cell re-run with a fixed port works; concurrent calls under one name are
    serialised, so each handle they start is either registered or stopped, never lost.
    """
    with _name_lock(name):
        with _registry_lock:
            previous = _registry.get(name)
        if previous is not None:
            previous.stop()
        handle = launch()
        with _registry_lock:
            _registry[name] = handle
        return handle


def _unregister(handle: Handle) -> None:
    with _registry_lock:
        if _registry.get(handle.name) is handle:
            del _registry[handle.name]


def running() -> list[Handle]:
    """Everything started by ``serve``, ``tap`` and friends that is still running."""
    with _registry_lock:
        return list(_registry.values())


def stop_all() -> None:
    """Stop every server, tap and other handle a lesson started."""
    for handle in running():
        handle.stop()


atexit.register(stop_all)


def check_address(host: object, port: object) -> None:
    """One clear error for an address no server can use (``port=True`` is not port 1)."""
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        raise LabkitError(
            say(
                f"el puerto debe ser un número entero de 0 a 65535, no {port!r}",
                f"port must be a whole number from 0 to 65535, not {port!r}",
            )
        )
    if not isinstance(host, str) or not host.strip():
        raise LabkitError(
            say(
                f"host debe ser una dirección como '127.0.0.1' (o '0.0.0.0' para toda la red), no {host!r}",
                f"host must be an address like '127.0.0.1' (or '0.0.0.0' for every interface), not {host!r}",
            )
        )


def format_host(host: str) -> str:
    """An address as it goes in a URL: IPv6 in brackets."""
    return f"[{host}]" if ":" in host else host


def listen_error(exc: OSError, host: str, port: int) -> LabkitError:
    """The one-line message for a server or tap that cannot listen."""
    if exc.errno == errno.EADDRINUSE:
        return LabkitError(
            say(
                f"el puerto {port} de {host} ya está en uso; detén lo que lo ocupa, elige otro puerto o usa el 0",
                f"port {port} on {host} is already in use; stop what holds it, pick another port, or use port 0",
            )
        )
    reason = exc.strerror or str(exc) or type(exc).__name__
    return LabkitError(
        say(f"no se puede escuchar en {host}:{port}: {reason}", f"cannot listen on {host}:{port}: {reason}")
    )


#: Threads alive when labkit was imported: the kernel's own, not ours to count.
_baseline_threads = {thread.ident for thread in threading.enumerate()}


class Leftovers:
    """Handles still running and threads started since labkit was imported."""

    def __init__(self, handles: list[Handle], threads: list[threading.Thread]) -> None:
        self.handles = handles
        self.threads = threads

    def __bool__(self) -> bool:
        return bool(self.handles or self.threads)

    def __repr__(self) -> str:
        if not self:
            return say("nada en marcha: 0 servidores, 0 hilos", "nothing left running: 0 servers, 0 threads")
        lines = [repr(h) for h in self.handles] + [say("hilo ", "thread ") + t.name for t in self.threads]
        head = say(
            f"sigue en marcha: {len(self.handles)} servidores, {len(self.threads)} hilos",
            f"still running: {len(self.handles)} servers, {len(self.threads)} threads",
        )
        return "\n".join([head, *lines])

    def _repr_pretty_(self, printer: object, cycle: bool) -> None:
        printer.text(repr(self))  # type: ignore[attr-defined]


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
