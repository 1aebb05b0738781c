"""labkit: real HTTP, WebSocket and Socket.IO servers started from a notebook cell.

import labkit
server = labkit.serve("echo", over="websocket")   # returns once it accepts connections
with labkit.ws_connect(server.url) as ws: ...
server.record                                      # what the server saw, as a table
labkit.stop_all()
"""

from __future__ import annotations

__all__ = [
    "LabkitError",
    "RawSocket",
    "Record",
    "Server",
    "Tap",
    "WireBytes",
    "__version__",
    "language",
    "leftovers",
    "raw_exchange",
    "running",
    "serve",
    "sio_connect",
    "sio_connect_async",
    "stop_all",
    "tap",
    "ws_connect",
    "ws_connect_async",
]

__version__ = "0.1.0"

from .clients import (
    RawSocket,
    WireBytes,
    raw_exchange,
    sio_connect,
    sio_connect_async,
    ws_connect,
    ws_connect_async,
)
from .errors import LabkitError
from .i18n import language
from .record import Record
from .servers import Server, leftovers, running, serve, stop_all
from .tap import Tap, tap
