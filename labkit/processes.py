"""Handles on child processes: a Redis server, an nginx, a second ``labkit serve`` of a chat.

Lesson 11 runs one chat in several processes, as production does, so some handles are
whole programs rather than threads: :class:`ChildProcess` is what they share. Each runs
in a temporary folder of its own (its files, its log) in a session of its own, so a
``Ctrl-C`` in the notebook (SIGINT to the kernel's process group) does not reach it; on
Linux it also ends if the kernel dies (PR_SET_PDEATHSIG). Its output goes to a file,
never into a cell (``.output()`` reads it). ``stop()`` asks with SIGTERM and cuts with
SIGKILL after :data:`STOP_TIMEOUT` seconds; ``kill()`` is the crash a lesson simulates.

:func:`spawn` starts ``labkit serve APP --over STACK`` as such a child: a second process
of the same app, for a cell or a test.
"""

from __future__ import annotations

__all__ = ["ChildProcess", "ServerProcess", "end_with_parent", "free_port", "spawn"]

import contextlib
import html
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .errors import LabkitError
from .handles import Handle, check_address, start
from .i18n import language, say

#: Seconds a child has after SIGTERM before SIGKILL.
STOP_TIMEOUT = 5.0
#: Characters of a child's output kept once it has stopped (the newest ones).
OUTPUT_KEPT = 65536


def free_port(host: str = "127.0.0.1") -> int:
    """A port free on ``host`` now, for a program that cannot be told "port 0" (redis, nginx).

    Another program may take it before the child binds it: callers retry with a new one.
    """
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def end_with_parent() -> Callable[[], None] | None:
    """In the child, before it runs: SIGTERM when the process that started it dies (Linux).

    PR_SET_PDEATHSIG follows the *thread* that forked, so it is set only when the main
    thread (a cell's, a test's) starts the child; a child started from a thread that ends
    early would be killed with it.
    """
    if sys.platform != "linux" or threading.current_thread() is not threading.main_thread():
        return None
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def end_with_parent() -> None:
        prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG (linux/prctl.h)
        if os.getppid() != parent:  # the parent ended before that line
            os.kill(os.getpid(), signal.SIGTERM)

    return end_with_parent


class ChildProcess(Handle):
    """A program running as a child process in its own folder, its output kept in a file there."""

    #: What the handle is, for ``repr`` (Spanish, English).
    kind = ("proceso", "process")

    def __init__(self, name: str, prefix: str) -> None:
        super().__init__(name)
        self.folder = Path(tempfile.mkdtemp(prefix=f"labkit-{prefix}-"))
        self.process: subprocess.Popen[bytes] | None = None
        self._output_kept = ""

    def run(self, args: Sequence[str], env: dict[str, str] | None = None) -> None:
        """Start ``args`` with its output (standard output and error) going to ``output.log``."""
        with open(self.folder / "output.log", "ab") as log:
            self.process = subprocess.Popen(
                list(args),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.folder,
                env=env,
                start_new_session=True,
                preexec_fn=end_with_parent(),
            )

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def alive(self) -> bool:
        """Whether the process still runs (a killed one does not, even before ``stop()``)."""
        return self.process is not None and self.process.poll() is None

    def output(self) -> str:
        """What the program printed so far (the newest :data:`OUTPUT_KEPT` characters once stopped)."""
        return self._output_kept if self._stopped else self._read_output()

    def _read_output(self) -> str:
        try:
            return (self.folder / "output.log").read_text(errors="replace")
        except OSError:
            return ""

    def wait_until(self, ready: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
        """Poll ``ready`` until true; one LabkitError (with the program's last line) if it ends or takes too long."""
        deadline = time.monotonic() + timeout
        while not ready():
            if not self.alive or time.monotonic() > deadline:
                ended = not self.alive
                last = self.last_line()
                self.stop()
                because = f": {last}" if last else ""
                raise LabkitError(
                    say(f"{what} terminó al arrancar{because}", f"{what} ended while starting{because}")
                    if ended
                    else say(
                        f"{what} no estuvo listo en {timeout:g} s{because}",
                        f"{what} was not ready within {timeout:g} s{because}",
                    )
                )
            time.sleep(0.01)

    def last_line(self) -> str:
        lines = [line.strip() for line in self.output().splitlines() if line.strip()]
        return lines[-1] if lines else ""

    def kill(self) -> None:
        """End the program at once with SIGKILL, as a crash would (no goodbye to its clients)."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.stop()

    def _shut_down(self) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)  # the whole group: nginx's workers too
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)  # anything of the group left behind
        self._output_kept = self._read_output()[-OUTPUT_KEPT:]
        shutil.rmtree(self.folder, ignore_errors=True)

    def __repr__(self) -> str:
        es, en = self.kind
        return say(
            f"<{es} {self.name!r} en {self.url}, pid {self.pid} ({self.state_text()})>",
            f"<{en} {self.name!r} at {self.url}, pid {self.pid} ({self.state_text()})>",
        )

    def _repr_html_(self) -> str:
        return f"<code>{html.escape(repr(self))}</code>"


class ServerProcess(ChildProcess):
    """``labkit serve APP --over STACK`` in a process of its own; what it sees is in ``.output()``."""

    kind = ("Servidor en otro proceso", "Server in another process")

    def __init__(self, name: str, app: str, stack: str, host: str) -> None:
        super().__init__(name, "serve")
        self.app = app
        self.stack = stack
        self.host = host
        self._url = ""

    @property
    def url(self) -> str:
        return self._url

    @property
    def port(self) -> int:
        return int(self._url.rpartition(":")[2]) if self._url else 0

    def _first_line(self) -> bool:
        text = self.output()
        if "\n" not in text:
            return False
        self._url = text.split("\n", 1)[0].strip()
        return True


#: How ``labkit serve`` is started in a child: this Python, labkit as a module.
_LABKIT = [sys.executable, "-m", "labkit"]

#: The options :func:`spawn` passes on to ``labkit serve`` (its command line has these only).
SPAWN_OPTIONS = ("redis",)


def spawn(
    app: str,
    over: str = "websocket",
    name: str | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    **options: Any,
) -> ServerProcess:
    """``labkit serve app --over over`` in another process; returns once it accepts connections.

    The second process of a chat (lesson 11): ``labkit.spawn("chat", over="socketio",
    redis=r.url)``. The handle has ``.url``, ``.pid``, ``.output()`` (what the server
    printed: its URL, then what it saw), ``.stop()`` and ``.kill()`` (a crash: SIGKILL).
    Options: only those ``labkit serve`` takes on its command line (``redis``); they are
    checked here first, as ``labkit.serve`` checks them.
    """
    from .apps import app_class
    from .options import validate
    from .servers import backend_class

    cls = backend_class(over)
    if not isinstance(app, str):
        raise LabkitError(
            say(
                f"spawn inicia una app de labkit por su nombre, no {type(app).__name__}",
                f"spawn starts a labkit app by its name, not {type(app).__name__}",
            )
        )
    app_class(app)
    check_address(host, port)
    unknown = sorted(set(options) - set(SPAWN_OPTIONS))
    if unknown:
        raise LabkitError(
            say(
                f"spawn pasa a labkit serve solo {', '.join(SPAWN_OPTIONS)}, no {', '.join(unknown)}",
                f"spawn passes only {', '.join(SPAWN_OPTIONS)} on to labkit serve, not {', '.join(unknown)}",
            )
        )
    clean = validate(options, (f"stack {over}", cls.options))
    name = name or f"{app}-{over}-process"
    args = [*_LABKIT, "serve", app, "--over", over, "--host", host, "--port", str(port)]
    if clean.get("redis") is not None:
        args += ["--redis", clean["redis"]]

    def launch() -> ServerProcess:
        child = ServerProcess(name, app, over, host)
        env = dict(os.environ, LABKIT_LANG=language(), PYTHONUNBUFFERED="1")
        child.run(args, env=env)
        child.wait_until(child._first_line, f"labkit serve {app} --over {over}", timeout=30)
        if not re.fullmatch(r"(ws|wss|http|https)://\S+", child.url):  # not a URL: its one-line error
            child.stop()
            raise LabkitError(child.url.removeprefix("labkit: "))
        return child

    return start(name, launch)
