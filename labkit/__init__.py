"""labkit: real HTTP, WebSocket and Socket.IO servers started from a notebook cell.

import labkit
server = labkit.serve("echo", over="websocket")   # returns once it accepts connections
with labkit.ws_connect(server.url) as ws: ...
server.record                                      # what the server saw, as a table
labkit.stop_all()
"""

from __future__ import annotations

__all__ = [
    "Handle",
    "LabkitError",
    "RawSocket",
    "Record",
    "Server",
    "Tap",
    "WireBytes",
    "__version__",
    "chat_through_outage",
    "code_of",
    "compare",
    "detect_dead_peer",
    "language",
    "leftovers",
    "nginx",
    "raw_exchange",
    "reconnect_after_restart",
    "redis",
    "run_js",
    "running",
    "say",
    "serve",
    "show_page",
    "sio_connect",
    "sio_connect_async",
    "spawn",
    "stop_all",
    "tap",
    "ws_connect",
    "ws_connect_async",
]

__version__ = "0.1.0"

import importlib
from typing import TYPE_CHECKING, Any

from .clients import (
    RawSocket,
    WireBytes,
    raw_exchange,
    sio_connect,
    sio_connect_async,
    ws_connect,
    ws_connect_async,
)
from .code import code_of
from .compare import compare
from .errors import LabkitError
from .handles import Handle, leftovers, running, stop_all
from .i18n import language, say
from .network import detect_dead_peer, reconnect_after_restart
from .nginx import nginx
from .processes import spawn
from .record import Record
from .redis import redis
from .servers import Server, serve
from .wiretap import Tap, tap

if TYPE_CHECKING:
    from . import delivery as delivery
    from .delivery import chat_through_outage
    from .widgets import run_js, show_page


def __getattr__(name: str) -> Any:
    """``run_js`` and ``show_page`` import anywidget (and ipywidgets) only when a cell uses them; ``delivery``
    imports python-socketio."""
    if name in ("run_js", "show_page"):
        from . import widgets

        return getattr(widgets, name)
    if name in ("delivery", "chat_through_outage"):  # python-socketio is imported only when a cell uses them
        delivery = importlib.import_module("labkit.delivery")
        return delivery if name == "delivery" else getattr(delivery, name)
    raise AttributeError(f"module 'labkit' has no attribute {name!r}")
