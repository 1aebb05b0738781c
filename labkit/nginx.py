"""nginx in front of several server processes: ``labkit.nginx(upstreams=[a.url, b.url])``.

Lesson 11 puts a reverse proxy in front of two processes of one chat, as production does,
and shows what it must do for each transport:

- WebSocket: ``Upgrade`` and ``Connection`` are hop-by-hop headers (RFC 9110 §7.6.1), so a
  proxy drops them unless told to pass them on, and the handshake (RFC 6455 §4.1) needs
  HTTP/1.1. Hence ``proxy_http_version 1.1``, ``proxy_set_header Upgrade $http_upgrade``
  and ``Connection $connection_upgrade`` (a ``map``: "upgrade" when the client asked for
  one, else "close").
- Socket.IO over long polling: one session is many HTTP requests, and only the process
  that opened the session knows its ``sid``; a request that lands on another one gets
  ``400`` ("Invalid session" from python-engineio; "Session ID unknown" from Node's
  engine.io). So the requests of one client must stick to one process.

How to stick: ``ip_hash`` (the usual advice) is useless here, since every client of the
lesson is 127.0.0.1, and so is hashing anything a client's *first* request lacks (the
``sid`` arrives only after the handshake). Hashing ``$remote_port`` fails too: a polling
client sends its long poll and its messages on separate TCP connections. What works is
what browsers already do for any site: a cookie. nginx answers every response with
``Set-Cookie: labkit_server=N``, N being the upstream that answered (``$upstream_addr``
through a ``map``); a request that carries the cookie goes to that upstream (a ``map`` from
the cookie to an ``upstream`` block), one without it to any (round robin). Each
per-server block lists the others as ``backup``, so the clients of a process that dies
reconnect to another one, which answers with its own cookie. (Clients must keep cookies:
browsers do; python-socketio's client keeps them for a host name but, with aiohttp's
default cookie jar, not for a bare IP address.)

``sticky=False`` is plain round robin, to show the failure. The program is Debian's nginx
(``apt install nginx``), run without root's help: its pid file, logs and temporary files
are in a folder of the handle's own, listening on 127.0.0.1 only. ``.config`` is the
configuration text, for the lesson to show.
"""

from __future__ import annotations

__all__ = ["COOKIE", "Nginx", "nginx", "nginx_config"]

import os
import re
import shutil
import socket
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from .errors import LabkitError
from .handles import check_address, format_host, start
from .i18n import say
from .processes import ChildProcess, free_port

#: The cookie that names the upstream a client sticks to.
COOKIE = "labkit_server"
#: Seconds nginx has to start listening.
START_TIMEOUT = 10.0
#: Tries with a new free port when ``port=0`` and another program took the one chosen.
PORT_TRIES = 3


def nginx_config(upstreams: Sequence[tuple[str, int]], host: str, port: int, folder: str, sticky: bool) -> str:
    """The whole nginx.conf: one server on ``host:port`` in front of ``upstreams``."""
    servers = [f"{format_host(h)}:{p}" for h, p in upstreams]
    lines = [
        "# labkit.nginx: " + ("sticky sessions by cookie" if sticky else "round robin, no stickiness"),
        "daemon off;",
        "worker_processes 1;",
        f"pid {folder}/nginx.pid;",
        f"error_log {folder}/error.log notice;",
        "events { worker_connections 1024; }",
        "",
        "http {",
        f"    access_log {folder}/access.log;",
        *(
            f"    {kind}_temp_path {folder}/{kind}_temp;"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        ),
        "",
        "    # WebSocket: pass the hop-by-hop Upgrade and Connection headers on (RFC 9110 §7.6.1).",
        "    map $http_upgrade $connection_upgrade {",
        "        default upgrade;",
        "        ''      close;",
        "    }",
        "",
        "    upstream any_server {  # round robin",
        *(f"        server {s} max_fails=1 fail_timeout=2s;" for s in servers),
        "    }",
    ]
    if sticky:
        for n, chosen in enumerate(servers, 1):
            lines += [
                f"    upstream server_{n} {{  # the others only if {chosen} is down",
                f"        server {chosen} max_fails=1 fail_timeout=2s;",
                *(f"        server {s} backup;" for s in servers if s != chosen),
                "    }",
            ]
        lines += [
            "",
            f"    # Sticky sessions: the cookie {COOKIE} names the server that answered before.",
            f"    map $cookie_{COOKIE} $sticky_upstream {{",
            *(f"        {n} server_{n};" for n in range(1, len(servers) + 1)),
            "        default any_server;",
            "    }",
            "    map $upstream_addr $answered_by {  # the last address tried is the one that answered",
            *(f"        ~(^|\\s){re.escape(s)}$ {n};" for n, s in enumerate(servers, 1)),
            "    }",
        ]
    lines += [
        "",
        "    server {",
        f"        listen {format_host(host)}:{port};",
        "        location / {",
        f"            proxy_pass http://{'$sticky_upstream' if sticky else 'any_server'};",
        "            proxy_http_version 1.1;",
        "            proxy_set_header Upgrade $http_upgrade;",
        "            proxy_set_header Connection $connection_upgrade;",
        "            proxy_set_header Host $http_host;  # with its port: same-origin checks compare it",
        "            proxy_buffering off;       # long polls and events pass at once",
        "            proxy_read_timeout 1h;     # a quiet WebSocket is not a dead one",
    ]
    if sticky:
        lines.append(
            f'            add_header Set-Cookie "{COOKIE}=$answered_by; Path=/; HttpOnly; SameSite=Lax" always;'
        )
    lines += ["        }", "    }", "}", ""]
    return "\n".join(lines)


def _upstream(url: Any) -> tuple[str, int]:
    """``http://127.0.0.1:8000`` (or ``ws://``, or a server handle) as an address nginx can use."""
    text = getattr(url, "url", url)
    parts = urlsplit(text) if isinstance(text, str) else None
    try:
        if parts is not None and parts.scheme in ("http", "ws") and parts.hostname and parts.port:
            return parts.hostname, parts.port
    except ValueError:
        pass
    raise LabkitError(
        say(
            f"cada upstream es la URL http:// o ws:// de un servidor (o el servidor), no {url!r}",
            f"each upstream is the http:// or ws:// URL of a server (or the server itself), not {url!r}",
        )
    )


class Nginx(ChildProcess):
    """nginx on 127.0.0.1 in front of server processes: ``.url``, ``.config``, ``.stop()``."""

    kind = ("nginx", "nginx")

    def __init__(self, name: str, host: str, port: int, upstreams: list[tuple[str, int]], sticky: bool) -> None:
        super().__init__(name, "nginx")
        self.host = host
        self.port = port
        self.upstreams = upstreams
        self.sticky = sticky
        os.chmod(self.folder, 0o755)  # run as root, nginx's workers are "nobody": they need to reach it
        self.config = nginx_config(upstreams, host, port, str(self.folder), sticky)

    @property
    def url(self) -> str:
        return f"http://{format_host(self.host)}:{self.port}"

    def listening(self) -> bool:
        """Whether this nginx listens: it writes its pid file once its sockets are bound."""
        if not self.alive or not (self.folder / "nginx.pid").exists():
            return False
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def error_log(self) -> str:
        """nginx's own log (its errors: an upstream refused, a worker that failed)."""
        try:
            return (self.folder / "error.log").read_text(errors="replace")
        except OSError:
            return ""

    def start_process(self, binary: str) -> None:
        (self.folder / "nginx.conf").write_text(self.config)
        # -e stderr: what nginx says before it reads the configuration goes to .output() too.
        self.run([binary, "-e", "stderr", "-p", str(self.folder), "-c", str(self.folder / "nginx.conf")])


def nginx(
    upstreams: Sequence[Any], sticky: bool = True, name: str = "nginx", port: int = 0, host: str = "127.0.0.1"
) -> Nginx:
    """Start nginx in front of ``upstreams`` (URLs or server handles) and return once it listens.

    ``sticky=True`` keeps each client on the process that answered it first (a cookie;
    see this module's notes); ``sticky=False`` is round robin. Re-running replaces it.
    """
    check_address(host, port)
    if isinstance(upstreams, str | bytes) or not upstreams:
        raise LabkitError(
            say(
                f"upstreams es una lista de servidores (sus URL), no {upstreams!r}",
                f"upstreams is a list of servers (their URLs), not {upstreams!r}",
            )
        )
    addresses = [_upstream(u) for u in upstreams]
    if sticky not in (True, False):
        raise LabkitError(say(f"sticky es True o False, no {sticky!r}", f"sticky is True or False, not {sticky!r}"))
    binary = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx", "/sbin/nginx") if os.path.isfile(p)), None)
    if binary is None:
        raise LabkitError(
            say(
                "no hay nginx en esta máquina: instálalo (sudo apt install nginx)",
                "no nginx on this machine: install it (sudo apt install nginx)",
            )
        )

    def launch() -> Nginx:
        for attempt in range(PORT_TRIES):
            proxy = Nginx(name, host, port or free_port(host), addresses, bool(sticky))
            proxy.start_process(binary)
            try:
                proxy.wait_until(proxy.listening, "nginx", timeout=START_TIMEOUT)
                return proxy
            except LabkitError:
                taken = "Address already in use" in proxy.output()
                if port == 0 and taken and attempt + 1 < PORT_TRIES:
                    continue
                if taken:
                    raise LabkitError(
                        say(
                            f"el puerto {proxy.port} de {host} ya está en uso; detén lo que lo ocupa o usa port=0",
                            f"port {proxy.port} on {host} is already in use; stop what holds it or use port=0",
                        )
                    ) from None
                raise
        raise AssertionError("unreachable")

    return start(name, launch)
