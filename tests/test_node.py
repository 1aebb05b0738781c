"""labkit's Python clients talk to the course's own stack, a Socket.IO server in Node.js, unchanged."""

from __future__ import annotations

import os
import shutil

import pytest

import labkit
from labkit.node import node_available, node_chat

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None and os.environ.get("CI") != "true", reason="Node.js is not installed here"
)


def test_labkit_clients_talk_to_a_node_socketio_chat_unchanged() -> None:
    assert node_available(), "python3 dev.py setup installs the Node server's socket.io (npm ci)"
    with node_chat() as server:
        ana, beto = labkit.sio_connect(server.url), labkit.sio_connect(server.url, transports=["polling"])
        try:
            assert ana.call("echo", {"hola": "node"}, timeout=5) == {"hola": "node"}
            assert ana.call("join", "python", timeout=5) == ["python"]
            assert beto.call("join", "python", timeout=5) == ["python"]
            ana.emit("chat", {"room": "python", "text": "desde Python"})
            assert beto.receive(timeout=5) == ["chat", {"from": 1, "text": "desde Python", "room": "python"}]
        finally:
            ana.disconnect()
            beto.disconnect()
    assert not server.running and server.process.poll() is not None


def test_without_node_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(labkit.LabkitError, match=r"no Node\.js with socket\.io here"):
        node_chat()
