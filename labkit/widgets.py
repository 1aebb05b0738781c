"""The browser inside the notebook: the student's JavaScript against their server, and their page.

JupyterLab does not run ``<script>`` in HTML output, so both are anywidget widgets (they run
in JupyterLab, Notebook 7 and VS Code); their JavaScript is in ``labkit/static/widgets/``,
loaded as it is (no build step) and loading nothing from other hosts.

``run_js(code, url)`` runs ``code`` once, in the page that shows the notebook, with ``url`` and
``log(...)`` in scope; every WebSocket the code creates is watched, and the log shows live in the
cell (drawn in the page, whatever the kernel is doing). What the browser saw comes back to
Python: ``.log``, ``.received``, ``.done``, ``.errors``. ``show_page(server)`` shows the page a
server serves in an iframe, beside the code.

What a cell can wait on. The browser runs the code once the widget is shown (as a cell's last
value, or with ``display(run)``). Its reports reach the kernel as widget messages, which the
kernel reads when no cell runs, and while a cell awaits (ipykernel 7.4 or newer; before, only
between cells, and after every cell already queued, as Run All queues them):

    run = labkit.run_js(code, server)      # cell 1: shows the log, live
    await run.wait(messages=2)             # cell 2: returns once the browser got 2 messages
    run.received                           # ['hola', b'\\x00\\x01']

A cell that blocks (``time.sleep``, a loop) stops the kernel from reading them, so ``wait``
awaits instead, and gives up after ``timeout`` seconds with a sentence saying what it saw.
Where no browser shows the notebook (``nbval``, ``jupyter nbconvert``), the code never runs.

URLs: the servers listen on the kernel's 127.0.0.1. A browser on another machine (JupyterHub,
Binder) reaches them only through jupyter-server-proxy, at ``<base URL>proxy/PORT/``; the
widgets choose the way in the browser (``shared.js``), where the page's address is known.
"""

from __future__ import annotations

__all__ = ["WIDGETS", "BrowserEvent", "PageWidget", "RunJS", "proxy_installed", "run_js", "show_page"]

import asyncio
import base64
import importlib.util
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from .errors import LabkitError
from .i18n import say
from .record import Clipped
from .vocabulary import close_meaning

#: The widgets' JavaScript and CSS.
WIDGETS = Path(__file__).resolve().parent / "static" / "widgets"

#: Longest a cell may wait on the browser, in seconds: a forgotten wait must not hold the kernel.
MAX_WAIT = 600.0
#: The newest events kept (run_js.js keeps as many): the whole list is synced back to the page.
KEEP_EVENTS = 500
#: Kinds of event the browser reports (run_js.js), in the order a connection usually makes them.
KINDS = (
    "start",
    "via_proxy",
    "unsure",
    "log",
    "create",
    "open",
    "send_text",
    "send_binary",
    "message",
    "error",
    "closing",
    "close",
    "exception",
    "done",
)


def _module(name: str) -> str:
    """A widget's ES module: what both widgets share (shared.js), then the widget's own file."""
    return "\n".join((WIDGETS / part).read_text(encoding="utf-8") for part in ("shared.js", name))


def proxy_installed() -> bool:
    """Whether jupyter-server-proxy is installed here, so a browser elsewhere can use ``/proxy/PORT/``."""
    return importlib.util.find_spec("jupyter_server_proxy") is not None


def _url_of(value: Any, what: str) -> str:
    """The URL of a server handle (anything with ``.url``, like ``labkit.serve``'s) or a URL text."""
    url = getattr(value, "url", value)
    if isinstance(url, str) and url.split("://", 1)[0] in ("ws", "wss", "http", "https") and "://" in url:
        return url
    raise LabkitError(
        say(
            f"{what} debe ser un servidor de labkit (lo que devuelve labkit.serve) o una URL ws://, wss://, "
            f"http:// o https://, no {value!r}",
            f"{what} must be a labkit server (what labkit.serve returns) or a ws://, wss://, http:// or "
            f"https:// URL, not {value!r}",
        )
    )


def _height(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 50 <= value <= 5000:
        raise LabkitError(
            say(
                f"height debe ser un número entero de píxeles entre 50 y 5000, no {value!r}",
                f"height must be a whole number of pixels from 50 to 5000, not {value!r}",
            )
        )
    return value


def _log_words() -> dict[str, Any]:
    """Everything the log says, in the lesson's language; run_js.js fills in the ``{names}``."""
    codes = [*range(1000, 1016)]
    return {
        "start": say("código en marcha; url = {shown}", "code started; url = {shown}"),
        "via_proxy": say(
            "esta página no está en la máquina del kernel: url pasa por jupyter-server-proxy ({url})",
            "this page is not on the kernel's machine: url goes through jupyter-server-proxy ({url})",
        ),
        "unsure": say(
            "esta página no está en la máquina del kernel y no hay jupyter-server-proxy: "
            "puede que el navegador no llegue a {url}",
            "this page is not on the kernel's machine and jupyter-server-proxy is not installed: "
            "the browser may not reach {url}",
        ),
        "log": "{text}",
        "create": "#{socket} new WebSocket({shown})",
        "open": say("#{socket} abierto (readyState {state})", "#{socket} open (readyState {state})"),
        "send_text": say(
            "#{socket} → texto {shown} ({size} caracteres)", "#{socket} → text {shown} ({size} characters)"
        ),
        "send_binary": say("#{socket} → binario, {size} bytes: {hex}", "#{socket} → binary, {size} bytes: {hex}"),
        "message": say("#{socket} ← texto {shown} ({size} caracteres)", "#{socket} ← text {shown} ({size} characters)"),
        "message_binary": say(
            "#{socket} ← binario ({binary_type}), {size} bytes: {hex}",
            "#{socket} ← binary ({binary_type}), {size} bytes: {hex}",
        ),
        "error": say(
            "#{socket} error (el navegador no da detalles; el evento close dice más)",
            "#{socket} error (the browser gives no details; the close event tells more)",
        ),
        "closing": say("#{socket} close({args}): readyState {state}", "#{socket} close({args}): readyState {state}"),
        "close": say(
            "#{socket} cerrado: {code} ({meaning}){quoted_reason}, {clean}",
            "#{socket} closed: {code} ({meaning}){quoted_reason}, {clean}",
        ),
        "clean": say("limpio (wasClean)", "clean (wasClean)"),
        "not_clean": say("no limpio (wasClean false)", "not clean (wasClean false)"),
        "exception": say("error en tu código: {message}{where}", "error in your code: {message}{where}"),
        "line": say(" (línea {line})", " (line {line})"),
        "done": say(
            "terminado: el código acabó y todos sus WebSocket están cerrados",
            "finished: the code returned and all its WebSockets are closed",
        ),
        "close_codes": {
            **{str(code): close_meaning(code) for code in codes},
            "registered": close_meaning(3000),
            "private": close_meaning(4000),
            "unknown": close_meaning(999),
        },
        "status": say(
            "Navegador: {state} · {received} recibidos · {sent} enviados",
            "Browser: {state} · {received} received · {sent} sent",
        ),
        "status_waiting": say("esperando a mostrarse", "waiting to be shown"),
        "status_running": say("en marcha", "running"),
        "status_done": say("terminado", "finished"),
    }


@dataclass(frozen=True)
class BrowserEvent:
    """One thing the browser saw or did, as the cell's log shows it (``line``).

    ``kind`` is one of :data:`KINDS`; ``socket`` numbers the WebSockets the code created (1, 2…);
    ``at`` is seconds since the code started. ``data`` is the message (``str``, ``bytes``, or
    :class:`~labkit.record.Clipped` past 4096 characters or bytes) for ``message``, ``send_text``
    and ``send_binary`` (None while a Blob is still being read); the text for ``log``; the error
    for ``exception``; the URL for ``create``.
    """

    seq: int
    at: float
    socket: int | None
    kind: str
    line: str
    data: str | bytes | Clipped | None = None
    code: int | None = None
    reason: str | None = None
    was_clean: bool | None = None

    @classmethod
    def from_json(cls, entry: dict[str, Any]) -> BrowserEvent:
        """An event as run_js.js reported it (JSON); binary payloads arrive in base64."""
        kind = str(entry.get("kind"))
        data: str | bytes | Clipped | None = None
        if kind in ("message", "send_text", "send_binary") and not entry.get("reading"):
            payload: str | bytes = entry["text"] if "text" in entry else base64.b64decode(entry.get("base64", ""))
            size = int(entry.get("size", len(payload)))
            data = payload if size <= len(payload) else Clipped(payload, size)
        elif kind == "log":
            data = entry.get("text")
        elif kind == "exception":
            data = entry.get("message")
        elif kind in ("create", "start"):
            data = entry.get("url")
        return cls(
            seq=int(entry["seq"]),
            at=float(entry["at"]),
            socket=entry.get("socket"),
            kind=kind,
            line=str(entry.get("line", "")),
            data=data,
            code=entry.get("code"),
            reason=entry.get("reason"),
            was_clean=entry.get("was_clean"),
        )

    def __str__(self) -> str:
        return self.line


class RunJS(anywidget.AnyWidget):
    """The student's JavaScript, run once in the notebook's page; see :func:`run_js`."""

    _esm = _module("run_js.js")
    _css = (WIDGETS / "widgets.css").read_text(encoding="utf-8")

    code = traitlets.Unicode("").tag(sync=True)
    url = traitlets.Unicode(None, allow_none=True).tag(sync=True)
    proxy = traitlets.Bool(False).tag(sync=True)
    height = traitlets.Int(240).tag(sync=True)
    words = traitlets.Dict().tag(sync=True)
    run_id = traitlets.Unicode().tag(sync=True)
    # What the browser reported (applied by _from_browser): it started, its events, its counts.
    started = traitlets.Bool(False).tag(sync=True)
    events: traitlets.List[dict[str, Any]] = traitlets.List().tag(sync=True)
    totals = traitlets.Dict({"received": 0, "sent": 0, "dropped": 0}).tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(run_id=uuid.uuid4().hex, **kwargs)
        self._shown = False
        self.on_msg(self._from_browser)

    def _from_browser(self, widget: Any, content: Any, buffers: Any) -> None:
        """A report from run_js.js: new or changed events (by ``seq``) and the counts so far."""
        if not isinstance(content, dict) or not isinstance(content.get("events"), list):
            return
        events = {entry["seq"]: entry for entry in self.events}
        for entry in content["events"]:
            if isinstance(entry, dict) and isinstance(entry.get("seq"), int):
                events[entry["seq"]] = entry
        self.events = [events[seq] for seq in sorted(events)][-KEEP_EVENTS:]
        if isinstance(content.get("totals"), dict):
            self.totals = content["totals"]
        self.started = True

    @property
    def log(self) -> list[BrowserEvent]:
        """Everything the browser reported so far, oldest first (the newest 500 are kept)."""
        return [BrowserEvent.from_json(entry) for entry in list(self.events)]

    @property
    def received(self) -> list[str | bytes | Clipped]:
        """The messages the code's WebSockets received: text as ``str``, binary as ``bytes``."""
        return [event.data for event in self.log if event.kind == "message" and event.data is not None]

    @property
    def errors(self) -> list[str]:
        """The errors the code threw (with their message), uncaught in its handlers or timers too."""
        return [event.line for event in self.log if event.kind == "exception"]

    @property
    def done(self) -> bool:
        """The code has returned and every WebSocket it created is closed (its messages all read)."""
        return any(entry.get("kind") == "done" for entry in list(self.events))

    async def wait(self, messages: int | None = None, timeout: float = 10.0) -> RunJS:
        """Wait (``await run.wait()``) until :attr:`done`, or until ``messages`` messages were received.

        The kernel reads the browser's reports while a cell awaits (ipykernel 7.4 or newer), never
        while it blocks; after ``timeout`` seconds one sentence says what the browser did so far.
        """
        if messages is not None and (isinstance(messages, bool) or not isinstance(messages, int) or messages < 0):
            raise LabkitError(
                say(
                    f"messages debe ser un número entero de mensajes, 0 o más, no {messages!r}",
                    f"messages must be a whole number of messages, 0 or more, not {messages!r}",
                )
            )
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= MAX_WAIT:
            raise LabkitError(
                say(
                    f"timeout debe ser un número de segundos mayor que 0 y hasta {MAX_WAIT:g}, no {timeout!r}",
                    f"timeout must be a number of seconds above 0 and up to {MAX_WAIT:g}, not {timeout!r}",
                )
            )
        deadline = time.monotonic() + timeout
        while not self._reached(messages):
            if not self._shown and not self.started:
                raise LabkitError(
                    say(
                        "el navegador ejecuta el código cuando el widget se muestra: termina una celda con él "
                        "(o usa display(run)) antes de esperar",
                        "the browser runs the code once the widget is shown: end a cell with it "
                        "(or use display(run)) before waiting",
                    )
                )
            if time.monotonic() >= deadline:
                raise LabkitError(self._timed_out(messages, timeout))
            await asyncio.sleep(0.05)
        return self

    def _reached(self, messages: int | None) -> bool:
        if messages is None:
            return self.done
        return int(self.totals.get("received", 0)) >= messages

    def _timed_out(self, messages: int | None, timeout: float) -> str:
        if not self.started:
            return say(
                f"en {timeout:g} s el navegador no empezó el código: ¿se muestra el widget en una página abierta? "
                "(sin navegador, como en nbval, el código no se ejecuta)",
                f"in {timeout:g} s the browser did not start the code: is the widget shown in an open page? "
                "(without a browser, as under nbval, the code never runs)",
            )
        got = int(self.totals.get("received", 0))
        goal = (
            say(f"{messages} mensajes", f"{messages} messages")
            if messages is not None
            else say("el final del código y de sus WebSocket", "the end of the code and of its WebSockets")
        )
        return say(
            f"en {timeout:g} s no llegó {goal}: el navegador lleva {got} recibidos "
            "(run.log dice qué pasó; un ipykernel anterior a 7.4 solo lee al navegador entre celdas: "
            "lee run.received en una celda posterior)",
            f"{goal} did not arrive within {timeout:g} s: the browser has received {got} "
            "(run.log tells what happened; an ipykernel older than 7.4 reads the browser only between "
            "cells: read run.received in a later cell)",
        )

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        self._shown = True
        return super()._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        state = (
            say("terminado", "finished")
            if self.done
            else say("en marcha", "running")
            if self.started
            else say("esperando a mostrarse", "waiting to be shown")
        )
        got = int(self.totals.get("received", 0))
        return say(f"<run_js: {state}, {got} recibidos>", f"<run_js: {state}, {got} received>")


class PageWidget(anywidget.AnyWidget):
    """A page a server serves, in an iframe beside the code; see :func:`show_page`."""

    _esm = _module("show_page.js")
    _css = (WIDGETS / "widgets.css").read_text(encoding="utf-8")

    url = traitlets.Unicode("").tag(sync=True)
    proxy = traitlets.Bool(False).tag(sync=True)
    height = traitlets.Int(400).tag(sync=True)
    words = traitlets.Dict().tag(sync=True)

    def __repr__(self) -> str:
        return say(f"<página {self.url}>", f"<page {self.url}>")


def run_js(code: str, url: Any = None, height: int = 240) -> RunJS:
    """Run ``code`` (JavaScript) once in the page that shows the notebook, against your server.

    ``url`` (a server from ``labkit.serve``, or its URL) is in scope as ``url``, rewritten so this
    browser can reach it; ``log(...)`` writes a line in the cell's log. Every ``new WebSocket``
    the code creates is watched: open, each message, error, close, and what it sent.
    End a cell with the returned widget to show it; see the module's docs on waiting.
    """
    if not isinstance(code, str):
        raise LabkitError(
            say(
                f"code debe ser el texto del JavaScript, no {type(code).__name__}",
                f"code must be the JavaScript as text, not {type(code).__name__}",
            )
        )
    target = None if url is None else _url_of(url, "url")
    return RunJS(code=code, url=target, proxy=proxy_installed(), height=_height(height), words=_log_words())


def show_page(server_or_url: Any, height: int = 400) -> PageWidget:
    """Show the page a server serves (the class chat, or your ``page=``) in an iframe, beside the code.

    ``server_or_url`` is a server from ``labkit.serve`` or a URL; ``ws://`` becomes ``http://``
    (the page and the WebSocket share the port), and the URL is rewritten like ``run_js``'s.
    """
    url = _url_of(server_or_url, "server_or_url")
    scheme, rest = url.split("://", 1)
    page = {"ws": "http", "wss": "https"}.get(scheme, scheme) + "://" + rest
    if "/" not in rest:
        page += "/"
    words = {
        "title": say("Página servida en {url}", "Page served at {url}"),
        "open": say("abrir en otra pestaña", "open in a new tab"),
        "unsure": say(
            "esta página no está en la máquina del kernel y no hay jupyter-server-proxy: "
            "puede que el navegador no llegue a {url}",
            "this page is not on the kernel's machine and jupyter-server-proxy is not installed: "
            "the browser may not reach {url}",
        ),
    }
    return PageWidget(url=page, proxy=proxy_installed(), height=_height(height), words=words)
