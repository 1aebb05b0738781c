"""What both WebSocket stacks (the websockets library and labkit's own) must do alike."""

from __future__ import annotations

import socket

import pytest

import labkit


@pytest.mark.parametrize("stack", ["websocket", "scratch"])
def test_bad_clients_never_stop_a_good_one(stack: str) -> None:
    with labkit.serve("echo", over=stack) as server, labkit.ws_connect(server.url) as good:
        for i in range(20):
            junk = socket.create_connection((server.host, server.port))
            junk.sendall(b"\x00" * i + b"\r\n\r\n")
            good.send(f"still here {i}")
            assert good.recv(timeout=2) == f"still here {i}"
            junk.close()
