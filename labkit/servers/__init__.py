"""Start labkit's servers from a cell or the command line, and stop them cleanly.

Every stack (``http``, ``websocket``, ``socketio``, ``scratch``) is a thin front end in a
module of this package that runs an app (:mod:`labkit.apps`) its own way. This module
holds what they share: the :class:`Backend` contract, the :data:`STACKS` registry, the
:class:`Server` handle a cell gets back, and :func:`serve`.

Adding a stack: write ``labkit/servers/<name>.py`` with a :class:`Backend` subclass (its
``options`` and how it carries out an app's actions) and add one line to :data:`STACKS`.
"""

from __future__ import annotations

__all__ = ["SECURITY_OPTIONS", "STACKS", "AsyncBackend", "Backend", "Server", "backend_class", "serve"]

import html
import importlib
from abc import ABC, abstractmethod
from collections.abc import Coroutine, Mapping
from typing import Any, ClassVar

from ..apps import APPS, App, Chat, app_class
from ..errors import LabkitError
from ..handles import Handle, check_address, format_host, listen_error, start
from ..i18n import Text, say
from ..loop import LoopThread
from ..options import Option, choice, hertz, origins, validate
from ..pages import Page, chat_page
from ..record import Record
from ..tls import authority

#: stack name -> "module:Backend class"; modules are imported only when used.
STACKS: dict[str, str] = {
    "http": "labkit.servers.http:HttpBackend",
    "websocket": "labkit.servers.websocket:WebSocketBackend",
    "socketio": "labkit.servers.socketio:SocketIOBackend",
    "scratch": "labkit.servers.scratch:ScratchBackend",
}

#: Options of every stack that browsers use: who may connect, over TLS, how fast.
SECURITY_OPTIONS: dict[str, Option] = {
    "allow_origins": Option(
        origins,
        Text(
            "orígenes de las páginas que pueden conectarse, p. ej. ['http://127.0.0.1:8000'] (todos)",
            "origins of the pages allowed to connect, e.g. ['http://127.0.0.1:8000'] (any)",
        ),
    ),
    "tls": Option(
        choice(False, True), Text("servir por TLS: wss://, https:// (no)", "serve over TLS: wss://, https:// (no)")
    ),
    "max_rate": Option(
        hertz(1, 100_000),
        Text(
            "mensajes por segundo que una conexión puede enviar antes de cortarla con 1008 (sin límite)",
            "messages per second one connection may send before it is cut with 1008 (no limit)",
        ),
    ),
}

#: Seconds a server has to start listening before ``serve`` gives up.
START_TIMEOUT = 10.0
#: Seconds a stack's shutdown may take in all, whatever its clients do.
STOP_TIMEOUT = 2.0


class Backend(ABC):
    """One running server of one stack, running one app; :class:`Server` wraps it for users."""

    stack: ClassVar[str]
    scheme: ClassVar[str] = "http"
    #: The options this stack takes (checked by :func:`labkit.options.validate`).
    options: ClassVar[Mapping[str, Option]] = {}
    #: What the record's connection numbers count: TCP connections or Socket.IO sessions.
    record_unit: ClassVar[str] = "connection"

    def __init__(self, app: App | Any, record: Record, **options: Any) -> None:
        self.app = app
        self.record = record
        self.page: Page | None = options.pop("page", None)
        page_headers = options.pop("page_headers", ())  # never left for the library: serve() needs page= with it
        if self.page is not None:
            self.page = self.page.with_headers(page_headers)
        if self.page is None and isinstance(app, Chat) and self.chat_page is not None:
            self.page = chat_page(self.chat_page)
        #: Origins whose pages may connect (None: any); clients that send no Origin are not browsers.
        self.allow_origins: list[str] | None = options.pop("allow_origins", None)
        #: Messages per second one connection may send before it is cut (1008), or None.
        self.max_rate: float | None = options.pop("max_rate", None)
        self.ssl_context = authority().server_context() if options.pop("tls", False) else None
        #: With ``redis=`` (stacks that take it): the Redis the app's processes share (servers/bus.py).
        self.redis_url: str | None = options.pop("redis", None)
        self.settings = options

    @property
    def url_scheme(self) -> str:
        """``ws``/``http``, or ``wss``/``https`` over TLS."""
        return self.scheme + "s" if self.ssl_context is not None else self.scheme

    #: Which class chat page the built-in chat serves at ``GET /`` ("websocket", "socketio"), if any.
    chat_page: ClassVar[str | None] = None
    #: What a program written for this stack's library looks like, for the error message.
    native_kind: ClassVar[Text] = Text("", "")

    @classmethod
    def native_name(cls, app: Any) -> str | None:
        """The name of ``app`` if it is a program for this stack's library (a student's own), else None."""
        return None

    @property
    def app_name(self) -> str:
        return self.app.name if isinstance(self.app, App) else str(self.native_name(self.app))

    @abstractmethod
    def start(self, host: str, port: int) -> int:
        """Listen on ``host:port`` and return the bound port once connections are accepted."""

    @abstractmethod
    def stop(self) -> None:
        """Close the listener and every connection within :data:`STOP_TIMEOUT`; join every thread."""


class AsyncBackend(Backend):
    """A backend whose server is asyncio code running on a private loop thread."""

    def start(self, host: str, port: int) -> int:
        self.loop = LoopThread(f"labkit-{self.stack}-{self.app_name}", on_error=self.record_error)
        try:
            return self.loop.run(self.serve(host, port), timeout=START_TIMEOUT)
        except TimeoutError:
            self.loop.close()
            raise LabkitError(
                say(
                    f"el servidor no empezó a escuchar en {host}:{port} en {START_TIMEOUT:g} s",
                    f"the server did not start listening on {host}:{port} within {START_TIMEOUT:g} s",
                )
            ) from None
        except BaseException:
            self.loop.close()
            raise

    def stop(self) -> None:
        if not self.loop.finish(self.shutdown(), timeout=STOP_TIMEOUT + 1):
            self.record_error(
                Text(
                    f"el apagado tardó más de {STOP_TIMEOUT + 1:g} s; se cortaron las conexiones",
                    f"shutdown took over {STOP_TIMEOUT + 1:g} s; connections were cut",
                )
            )

    def record_error(self, message: str | Text) -> None:
        self.record.error(None, message)

    def run_soon(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Schedule ``coro`` on the server's loop from any thread (the result is not awaited)."""
        self.loop.loop.call_soon_threadsafe(self.loop.loop.create_task, coro)

    @abstractmethod
    async def serve(self, host: str, port: int) -> int: ...

    @abstractmethod
    async def shutdown(self) -> None:
        """Stop listening and close every connection, all within :data:`STOP_TIMEOUT`."""


def backend_class(stack: Any) -> type[Backend]:
    """The backend of ``stack``, imported on first use, or one clear error listing the stacks."""
    try:
        target = STACKS[stack]
    except (KeyError, TypeError):
        raise LabkitError(
            say(
                f"pila desconocida {stack!r}; elige una de: {', '.join(STACKS)}",
                f"unknown stack {stack!r}; choose one of: {', '.join(STACKS)}",
            )
        ) from None
    module, _, name = target.partition(":")
    cls: type[Backend] = getattr(importlib.import_module(module), name)
    return cls


class Server(Handle):
    """A handle on one running server: its address, its record, and ``stop()``."""

    def __init__(self, name: str, app: str, stack: str, host: str, port: int, backend: Backend) -> None:
        super().__init__(name)
        self.app = app
        self.stack = stack
        self.host = host
        self.port = port
        self.record = backend.record
        self._backend = backend

    @property
    def url(self) -> str:
        return f"{self._backend.url_scheme}://{format_host(self.host)}:{self.port}"

    def _shut_down(self) -> None:
        self._backend.stop()

    def __repr__(self) -> str:
        return say(
            f"<Servidor {self.name!r}: {self.app} sobre {self.stack} en {self.url} ({self.state_text()})>",
            f"<Server {self.name!r}: {self.app} over {self.stack} at {self.url} ({self.state_text()})>",
        )

    def _repr_html_(self) -> str:
        app, stack, url, name = (html.escape(s) for s in (self.app, self.stack, self.url, self.name))
        return say(
            f"<b>{app}</b> sobre <b>{stack}</b> en <code>{url}</code> ({self.state_text()}; "
            f"nombre <code>{name}</code>; <code>.record</code> muestra lo que vio)",
            f"<b>{app}</b> over <b>{stack}</b> at <code>{url}</code> ({self.state_text()}; "
            f"name <code>{name}</code>; <code>.record</code> shows what it saw)",
        )


def serve(
    app: Any,
    over: str = "websocket",
    name: str | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    **options: Any,
) -> Server:
    """Start ``app`` over the stack ``over`` and return once it accepts connections.

    ``app`` is one of labkit's apps by name (``"echo"``, ``"clock"``, ``"chat"``), or a
    program of your own written for the stack's library: a websockets connection handler
    (``async def handler(websocket): ...``) for ``websocket`` and ``scratch``, or a
    ``socketio.AsyncServer`` for ``socketio``. ``page=`` (HTML text, or the path of a file
    or folder) is served at ``GET /`` on the same port.

    ``port=0`` lets the system pick a free port. A server started under the name of a
    running one replaces it (the name defaults to ``"app-over"``), so re-running a cell
    never fails with "address already in use". Options are checked before anything
    starts: the app's (``interval`` for the clock) and the stack's (``max_size``, …).
    """
    cls = backend_class(over)
    if isinstance(app, str):
        app_cls: type[App] | None = app_class(app)
        label = app
    else:
        app_cls = None
        found = cls.native_name(app)
        if found is None:
            raise LabkitError(
                say(
                    f"app debe ser el nombre de una app de labkit ({', '.join(APPS)}) o {cls.native_kind.es}, "
                    f"no {type(app).__name__}",
                    f"app must be the name of a labkit app ({', '.join(APPS)}) or {cls.native_kind.en}, "
                    f"not {type(app).__name__}",
                )
            )
        label = found
    check_address(host, port)
    app_options = app_cls.options if app_cls is not None else {}
    clean = validate(options, (f"app {label}", app_options), (f"stack {over}", cls.options))
    if name is not None and (not isinstance(name, str) or not name):
        raise LabkitError(say(f"name debe ser un texto, no {name!r}", f"name must be a text, not {name!r}"))
    if "page_headers" in clean and clean.get("page") is None:
        raise LabkitError(
            say(
                "page_headers son las cabeceras de la página: van con page=",
                "page_headers are the page's header fields: they go with page=",
            )
        )
    name = name or f"{label}-{over}"
    for_app = {k: v for k, v in clean.items() if k in app_options}
    for_stack = {k: v for k, v in clean.items() if k not in app_options}

    def launch() -> Server:
        program = app_cls(**for_app) if app_cls is not None else app
        backend = cls(program, Record(unit=cls.record_unit), **for_stack)
        try:
            bound = backend.start(host, port)
        except OSError as exc:
            raise listen_error(exc, host, port) from None
        return Server(name, label, over, host, bound, backend)

    return start(name, launch)
