"""Pages a server hands to a browser, next to its WebSocket or Socket.IO endpoint on the same port.

``labkit.serve(..., page=...)`` takes an HTML text, or the path of a file or of a folder
(its ``index.html`` answers ``/``). Every stack that serves pages also serves labkit's own
files under ``/labkit/`` (the class chat page's script, and the official socket.io browser
client that set-up installs from the npm registry), so a page never loads anything from
another host.

Pages build their WebSocket URLs from their own address (``location``): behind
JupyterHub's or Binder's ``/proxy/PORT/`` the same page works unchanged.
"""

from __future__ import annotations

__all__ = [
    "ASSETS",
    "NOT_FOUND",
    "STATIC",
    "Page",
    "Served",
    "chat_page",
    "labkit_file",
    "page_headers_option",
    "page_option",
]

import html
import json
import mimetypes
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from .errors import LabkitError
from .i18n import Text, say
from .options import Option

#: labkit's own files, served under ``/labkit/``.
STATIC = Path(__file__).resolve().parent / "static"
#: Third-party files installed at set-up (never committed): ``python -m labkit.assets``.
ASSETS = STATIC / "vendor"


@dataclass(frozen=True)
class Served:
    """One answer to a browser's GET: status, content type, body, and the page's own header fields."""

    status: int
    content_type: str
    body: bytes
    #: ``page_headers=``: fields the page's author adds (a ``Set-Cookie``…), in their order.
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def reason(self) -> str:
        return {200: "OK", 404: "Not Found"}.get(self.status, "")

    @property
    def fields(self) -> list[tuple[str, str]]:
        """``Content-Type`` and the page's own fields; each stack adds its framing (``Content-Length``)."""
        return [("Content-Type", self.content_type), *self.headers]


def _file(path: Path) -> Served:
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if content_type.startswith("text/") or content_type in ("application/javascript", "application/json"):
        content_type += "; charset=utf-8"
    return Served(200, content_type, path.read_bytes())


def _inside(folder: Path, relative: str) -> Path | None:
    """``folder/relative`` if it is a file inside ``folder`` (no ``..`` escapes), else None."""
    candidate = (folder / relative).resolve()
    if candidate.is_dir():
        candidate = candidate / "index.html"
    if candidate.is_relative_to(folder.resolve()) and candidate.is_file():
        return candidate
    return None


class Page:
    """What a server answers to ``GET`` requests that are not WebSocket handshakes."""

    def __init__(
        self,
        html: str | None = None,
        folder: Path | None = None,
        file: Path | None = None,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.html = html
        self.folder = folder
        self.file = file
        #: Header fields sent with every answer of the page's own (not labkit's files, not 404).
        self.headers = headers

    def with_headers(self, headers: tuple[tuple[str, str], ...]) -> Page:
        return Page(self.html, self.folder, self.file, headers)

    @classmethod
    def of(cls, value: Any) -> Page:
        """An HTML text, or a path (``str`` or ``Path``) to a file or a folder with ``index.html``."""
        if isinstance(value, Path) or (isinstance(value, str) and "<" not in value):
            path = Path(value).expanduser()
            if path.is_dir():
                if not (path / "index.html").is_file():
                    raise LabkitError(
                        say(f"la carpeta {path} no tiene index.html", f"the folder {path} has no index.html")
                    )
                return cls(folder=path)
            if path.is_file():
                return cls(file=path)
            raise LabkitError(
                say(
                    f"page debe ser un texto HTML o la ruta de un archivo o carpeta que exista, no {value!r}",
                    f"page must be HTML text or the path of an existing file or folder, not {value!r}",
                )
            )
        if isinstance(value, str):
            return cls(html=value)
        raise LabkitError(
            say(
                f"page debe ser un texto HTML o una ruta, no {type(value).__name__}",
                f"page must be HTML text or a path, not {type(value).__name__}",
            )
        )

    def answer(self, target: str) -> Served | None:
        """The answer for a request target (``/``, ``/app.js?v=1``…), or None: not a page's."""
        path = unquote(urlsplit(target).path)
        if path.startswith("/labkit/"):
            return labkit_file(path.removeprefix("/labkit/"))
        served = self._own(path.lstrip("/"))
        return replace(served, headers=self.headers) if served is not None and self.headers else served

    def _own(self, relative: str) -> Served | None:
        if self.html is not None:
            return (
                Served(200, "text/html; charset=utf-8", self.html.encode()) if relative in ("", "index.html") else None
            )
        if self.file is not None:
            return _file(self.file) if relative in ("", "index.html", self.file.name) else None
        if self.folder is not None:
            found = _inside(self.folder, relative or "index.html")
            return _file(found) if found is not None else None
        return None


NOT_FOUND = Served(404, "text/plain; charset=utf-8", b"404 Not Found\n")


def labkit_file(name: str) -> Served:
    """A file of labkit's own (``static/``) or installed at set-up (``static/vendor/``)."""
    found = _inside(ASSETS, name) or _inside(STATIC, name)
    if found is not None:
        return _file(found)
    if name.startswith("socket.io"):
        message = say(
            "el cliente de socket.io para el navegador no está instalado: ejecuta python3 dev.py setup\n",
            "the socket.io browser client is not installed: run python3 dev.py setup\n",
        )
        return Served(404, "text/plain; charset=utf-8", message.encode())
    return NOT_FOUND


def _check_page(name: str, value: Any) -> Page | None:
    return None if value is None else Page.of(value)


#: Header fields labkit writes itself: the body's type and the message's framing (RFC 9112 §6).
_LABKITS_FIELDS = ("content-type", "content-length", "transfer-encoding", "connection")
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # a field name (RFC 9110 §5.1, §5.6.2)
_VALUE = re.compile(r"[\t\x20-\x7e]*")  # visible ASCII, spaces and tabs: no CR, LF or NUL (RFC 9110 §5.5)


def _check_page_headers(name: str, value: Any) -> tuple[tuple[str, str], ...]:
    """``{"Set-Cookie": "..."}`` or ``[("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")]`` (a name may repeat)."""
    pairs = list(value.items()) if isinstance(value, Mapping) else value
    if not isinstance(pairs, list | tuple) or not all(
        isinstance(pair, tuple | list) and len(pair) == 2 and all(isinstance(part, str) for part in pair)
        for pair in pairs
    ):
        raise LabkitError(
            say(
                f"{name} debe ser un dict de textos ({{'Set-Cookie': 'a=1'}}) o una lista de pares, no {value!r}",
                f"{name} must be a dict of strings ({{'Set-Cookie': 'a=1'}}) or a list of pairs, not {value!r}",
            )
        )
    for field, text in pairs:
        if not _TOKEN.fullmatch(field) or not _VALUE.fullmatch(text):
            raise LabkitError(
                say(
                    f"{name}: {field!r}: {text!r} no es un campo de cabecera válido (nombre sin espacios ni "
                    "separadores; valor en ASCII visible, sin saltos de línea)",
                    f"{name}: {field!r}: {text!r} is not a valid header field (a name without spaces or "
                    "separators; a value in visible ASCII, without line breaks)",
                )
            )
        if field.lower() in _LABKITS_FIELDS:
            raise LabkitError(
                say(
                    f"{name}: labkit escribe {field} él mismo",
                    f"{name}: labkit writes {field} itself",
                )
            )
    return tuple((field, text) for field, text in pairs)


#: The ``page_headers=`` option: header fields of the page's answers (a ``Set-Cookie`` at login…).
page_headers_option = Option(
    _check_page_headers,
    Text(
        "campos de cabecera que se envían con la página (un Set-Cookie…)",
        "header fields sent with the page (a Set-Cookie…)",
    ),
)

#: The ``page=`` option of the stacks that serve pages.
page_option = Option(
    _check_page,
    Text(
        "un texto HTML o la ruta de un archivo o carpeta, servido en GET /",
        "HTML text or the path of a file or folder, served at GET /",
    ),
)


def chat_page(transport: str) -> Page:
    """The class chat page, in the language spoken now, for ``"websocket"`` or ``"socketio"``.

    Contract for tools: the message box is an ``<input name="text">`` in a ``<form>``;
    submitting it sends the text; received messages appear in the page as text.
    """
    words = {
        "connected": say("conectado", "connected"),
        "disconnected": say("desconectado", "disconnected"),
        "someone": say("conexión", "connection"),
        "me": say("tú", "you"),
    }
    values = {
        "lang": say("es", "en"),
        "title": say("Chat de la clase", "Class chat"),
        "connecting": say("conectando…", "connecting…"),
        "online": say("En línea", "Online"),
        "nick_label": say("Tu apodo:", "Your nickname:"),
        "nick_button": say("Usar", "Use"),
        "placeholder": say("Escribe un mensaje", "Write a message"),
        "send": say("Enviar", "Send"),
        "transport": transport,
        "socketio_client": '<script src="labkit/socket.io.min.js"></script>' if transport == "socketio" else "",
        "words": html.escape(json.dumps(words, ensure_ascii=False), quote=True),
    }
    template = (STATIC / "chat.html").read_text(encoding="utf-8")
    return Page(html=re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), template))
