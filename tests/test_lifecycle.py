"""Servers from cells: start, stop, re-run, fail clearly, and leave nothing behind."""

from __future__ import annotations

import asyncio
import gc
import os
import re
import socket
import threading

import pytest

import labkit
from labkit.servers import STACKS
from tests.conftest import wait_for

CORE_STACKS = ["http", "websocket", "socketio"]


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def ports_this_process_listens_on() -> set[int]:
    """Ports of this process's listening TCP sockets, from /proc.

    Binding the port again would be a weaker check: on a busy machine another process may take
    a freed ephemeral port in the meantime.
    """
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            next(rows)
            for row in rows:
                fields = row.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state == "0A" and inode in inodes:  # 0A: TCP_LISTEN
                    ports.add(int(local.rsplit(":", 1)[1], 16))
    return ports


def settle(threads: int, fds: int) -> bool:
    return wait_for(lambda: threading.active_count() <= threads and open_fds() <= fds, timeout=5)


@pytest.mark.parametrize("stack", CORE_STACKS)
def test_200_starts_and_stops_return_to_the_baseline(stack: str) -> None:
    labkit.serve("echo", over=stack, name="warm-up").stop()  # imports and one-time set-up
    threads, fds = threading.active_count(), open_fds()
    ports: set[int] = set()
    for _ in range(200):
        server = labkit.serve("echo", over=stack)
        if not ports:  # the probe sees a listening server, so it can see a leaked one
            assert server.port in ports_this_process_listens_on()
        ports.add(server.port)
        server.stop()
    assert settle(threads, fds), (threading.enumerate(), open_fds() - fds)
    assert not ports & ports_this_process_listens_on()


@pytest.mark.parametrize("stack", ["http", "websocket", "scratch", "socketio"])
def test_a_connection_accepted_as_the_server_stops_is_closed_not_left_to_the_garbage_collector(stack: str) -> None:
    """asyncio drops a connection accepted just before its server closes (CPython gh-109564)."""
    labkit.serve("echo", over=stack, name="warm-up").stop()
    gc.collect()
    threads, fds = threading.active_count(), open_fds()
    gc.disable()  # a socket left to the collector keeps its descriptor until a collection
    try:
        for _ in range(30):
            with labkit.serve("echo", over=stack) as server, labkit.RawSocket(server.url):
                pass
        assert settle(threads, fds), open_fds() - fds
    finally:
        gc.enable()


@pytest.mark.parametrize("stack", CORE_STACKS)
def test_rerunning_a_named_server_replaces_it_without_leaks(stack: str) -> None:
    labkit.serve("echo", over=stack, name="warm-up").stop()
    threads, fds = threading.active_count(), open_fds()
    first = labkit.serve("echo", over=stack, name="cell", port=0)
    port = first.port
    for _ in range(50):  # the same cell run again and again, with a fixed port
        latest = labkit.serve("echo", over=stack, name="cell", port=port)
    assert not first.running and latest.running and latest.port == port
    assert [s.name for s in labkit.running()] == ["cell"]
    latest.stop()
    assert settle(threads, fds)
    assert port not in ports_this_process_listens_on()


def test_stop_is_idempotent_and_context_manager_stops() -> None:
    with labkit.serve("echo", over="websocket") as server:
        assert server.running
    assert not server.running
    server.stop()
    assert "stopped" in repr(server)


def test_stop_all_stops_every_server() -> None:
    servers = [labkit.serve("echo", over=stack) for stack in CORE_STACKS]
    assert len(labkit.running()) == 3
    labkit.stop_all()
    assert labkit.running() == [] and not any(s.running for s in servers)
    assert not labkit.leftovers()


def test_stopping_closes_open_client_connections() -> None:
    threads = threading.active_count()
    server = labkit.serve("clock", over="http")
    raw = labkit.RawSocket(server.url)  # an idle kept-alive connection holds a handler thread
    raw.send(f"GET / HTTP/1.1\r\nHost: {server.host}\r\n\r\n")
    raw.recv_http()
    server.stop()
    assert raw.peer_closed()
    raw.close()
    assert settle(threads, open_fds() + 1)


def test_port_taken_fails_in_the_calling_cell_with_a_clear_message() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        for stack in CORE_STACKS:
            with pytest.raises(labkit.LabkitError, match=f"port {port} on 127.0.0.1 is already in use"):
                labkit.serve("echo", over=stack, port=port)
    assert labkit.running() == []


def test_unknown_app_stack_option_and_port_are_clear_errors() -> None:
    with pytest.raises(labkit.LabkitError, match="unknown stack 'ftp'; choose one of: http, websocket"):
        labkit.serve("echo", over="ftp")
    with pytest.raises(labkit.LabkitError, match="unknown app 'radio'; choose one of: echo, clock, chat, feed"):
        labkit.serve("radio", over="http")
    with pytest.raises(
        labkit.LabkitError, match=r"unknown option\(s\): colour \(accepted: app echo: -; stack websocket"
    ):
        labkit.serve("echo", over="websocket", colour="red")
    with pytest.raises(labkit.LabkitError, match="port must be a whole number from 0 to 65535"):
        labkit.serve("echo", over="http", port=70000)
    assert labkit.running() == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"port": True}, "port must be a whole number from 0 to 65535, not True"),
        ({"port": "8080"}, "port must be a whole number"),
        ({"host": None}, "host must be an address like '127.0.0.1'"),
        ({"host": ""}, "host must be an address like '127.0.0.1'"),
        ({"interval": 0}, "interval must be a number of seconds, at least 0.01, not 0"),
        ({"interval": -1}, "interval must be a number of seconds, at least 0.01, not -1"),
        ({"interval": "x"}, "interval must be a number of seconds"),
        ({"interval": float("nan")}, "interval must be a number of seconds"),
        ({"max_size": "big"}, "max_size must be a whole number of bytes above 0, or None"),
        ({"max_size": 0}, "max_size must be a whole number of bytes above 0"),
        ({"name": 3}, "name must be a text"),
    ],
)
@pytest.mark.parametrize("stack", ["websocket", "scratch", "socketio", "http"])
def test_options_are_checked_once_with_one_clear_error_on_every_stack(
    stack: str, options: dict[str, object], message: str
) -> None:
    if stack in ("socketio", "http") and "max_size" in options:
        return  # http's max_size allows no None and socketio calls it max_http_buffer_size: checked below
    with pytest.raises(labkit.LabkitError, match=re.escape(message)):
        labkit.serve("clock", over=stack, **options)  # type: ignore[arg-type]
    assert labkit.running() == []


def test_an_option_of_another_app_or_stack_says_who_takes_what() -> None:
    with pytest.raises(labkit.LabkitError, match="unknown option"):
        labkit.serve("echo", over="websocket", interval=1)  # only the clock ticks
    with pytest.raises(labkit.LabkitError, match="ping_interval must be a whole number of seconds"):
        labkit.serve("echo", over="socketio", ping_interval=0)
    with pytest.raises(labkit.LabkitError, match="max_http_buffer_size must be a whole number of bytes above 0"):
        labkit.serve("echo", over="socketio", max_http_buffer_size="big")


def test_concurrent_serves_under_one_name_leave_no_orphan() -> None:
    threads_before = threading.active_count()
    started: list[labkit.Server] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            started.append(labkit.serve("echo", over="websocket", name="same"))
        except BaseException as exc:  # pragma: no cover - would fail the test below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert [s.name for s in labkit.running()] == ["same"]
    assert sum(s.running for s in started) == 1
    labkit.stop_all()
    assert not any(s.running for s in started)
    assert settle(threads_before, open_fds())


def test_serve_works_inside_a_running_event_loop() -> None:
    """A cell with top-level await runs inside the kernel's loop; serve must not need it."""

    async def cell() -> str:
        with labkit.serve("echo", over="websocket") as server:
            async with labkit.ws_connect_async(server.url) as ws:
                await ws.send("desde un bucle")
                reply = await ws.recv()
                assert isinstance(reply, str)
                return reply

    assert asyncio.run(cell()) == "desde un bucle"


def test_every_stack_is_listed() -> None:
    assert set(CORE_STACKS) <= set(STACKS)


def test_servers_bind_loopback_unless_asked() -> None:
    for stack in CORE_STACKS:
        with labkit.serve("echo", over=stack) as server:
            assert server.host == "127.0.0.1" and server.url.split("://")[1].startswith("127.0.0.1:")
