"""The course's own stack, run beside labkit's: a Socket.IO chat server in Node.js.

The course teaches Socket.IO on Node. Lesson 08 starts ``labkit/node/chat-server.js`` (the
same events as labkit's chat) where Node exists, and talks to it with labkit's Python
clients, unchanged: the protocol, not the language, is what both sides share. set-up
installs its ``socket.io`` from the npm registry (``npm ci``, pinned by the committed
``package-lock.json``, integrity checked); nothing of it is committed.
"""

from __future__ import annotations

__all__ = ["NODE_DIR", "NodeServer", "node_available", "node_chat"]

import shutil
import subprocess
from pathlib import Path

from .errors import LabkitError
from .handles import Handle, start
from .i18n import say

NODE_DIR = Path(__file__).resolve().parent / "node"


def node_available() -> bool:
    """Node.js is installed and set-up installed the server's socket.io."""
    return shutil.which("node") is not None and (NODE_DIR / "node_modules" / "socket.io").is_dir()


class NodeServer(Handle):
    """A Node.js server process; ``stop()`` ends it (stdin closed, then terminated if need be)."""

    def __init__(self, name: str, process: subprocess.Popen[str], url: str) -> None:
        super().__init__(name)
        self.process = process
        self._url = url

    @property
    def url(self) -> str:
        return self._url

    def _shut_down(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(3)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()

    def __repr__(self) -> str:
        return say(
            f"<servidor Node {self.name!r} en {self.url} ({self.state_text()})>",
            f"<Node server {self.name!r} at {self.url} ({self.state_text()})>",
        )


def node_chat(name: str = "node-chat") -> NodeServer:
    """Start the Socket.IO chat in Node.js on 127.0.0.1 and return once it listens."""
    if not node_available():
        raise LabkitError(
            say(
                "no hay Node.js con socket.io aquí: instala Node.js y ejecuta python3 dev.py setup",
                "no Node.js with socket.io here: install Node.js and run python3 dev.py setup",
            )
        )

    def launch() -> NodeServer:
        process = subprocess.Popen(
            ["node", "chat-server.js"],
            cwd=NODE_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url.startswith("http://"):
            process.kill()
            process.wait()
            raise LabkitError(say("el servidor de Node no arrancó", "the Node server did not start"))
        return NodeServer(name, process, url)

    return start(name, launch)
