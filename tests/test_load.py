"""Bounded load on loopback: many chat clients, every message delivered, in order, none lost."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict

import socketio

import labkit
from labkit.servers.websocket import WebSocketBackend
from tests.conftest import wait_for

WS_CLIENTS, SIO_CLIENTS, MESSAGES = 100, 50, 10


def assert_everyone_got_everything(received: dict[int, list[tuple[int, str]]], senders: list[int]) -> None:
    for me in senders:
        by_sender: dict[int, list[str]] = defaultdict(list)
        for sender, text in received[me]:
            by_sender[sender].append(text)
        expected = {other: [f"{other}:{i}" for i in range(MESSAGES)] for other in senders if other != me}
        assert dict(by_sender) == expected, f"client {me} missed or reordered messages"


def test_websocket_chat_100_clients_10_messages_each() -> None:
    with labkit.serve("chat", over="websocket", name="load-ws") as server:

        async def run() -> dict[int, list[tuple[int, str]]]:
            clients = [await labkit.ws_connect_async(server.url) for _ in range(WS_CLIENTS)]
            assert isinstance(server._backend, WebSocketBackend)
            members = server._backend.handler.members
            assert await asyncio.to_thread(wait_for, lambda: len(members) == WS_CLIENTS)
            ids = dict(zip(range(WS_CLIENTS), sorted(members), strict=True))  # connection numbers, in connect order
            received: dict[int, list[tuple[int, str]]] = {ids[i]: [] for i in range(WS_CLIENTS)}
            expected = (WS_CLIENTS - 1) * MESSAGES

            async def client(i: int) -> None:
                ws = clients[i]
                for n in range(MESSAGES):
                    await ws.send(f"{ids[i]}:{n}")
                while len(received[ids[i]]) < expected:
                    message = json.loads(await ws.recv())
                    received[ids[i]].append((message["from"], message["text"]))
                await ws.close()

            await asyncio.gather(*(client(i) for i in range(WS_CLIENTS)))
            return received

        received = asyncio.run(asyncio.wait_for(run(), 60))
    assert_everyone_got_everything(received, sorted(received))


def test_socketio_chat_50_clients_10_messages_each() -> None:
    with labkit.serve("chat", over="socketio", name="load-sio") as server:

        async def run() -> dict[int, list[tuple[int, str]]]:
            received: dict[int, list[tuple[int, str]]] = {}
            done: dict[int, asyncio.Event] = {}
            clients: list[socketio.AsyncClient] = []
            expected = (SIO_CLIENTS - 1) * MESSAGES
            for i in range(SIO_CLIENTS):
                client = socketio.AsyncClient()
                received[i], done[i] = [], asyncio.Event()

                def on_chat(message: dict[str, object], i: int = i) -> None:
                    text = str(message["text"])
                    received[i].append((int(text.split(":")[0]), text))
                    if len(received[i]) == expected:
                        done[i].set()

                client.on("chat", on_chat)
                await client.connect(server.url, transports=["websocket"])
                clients.append(client)
            for i, client in enumerate(clients):
                for n in range(MESSAGES):
                    await client.emit("chat", f"{i}:{n}")
            await asyncio.gather(*(event.wait() for event in done.values()))
            for client in clients:
                await client.disconnect()
            return received

        received = asyncio.run(asyncio.wait_for(run(), 60))
    assert_everyone_got_everything(received, sorted(received))
