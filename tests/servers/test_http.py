"""The http stack: the apps over plain HTTP, connection counting, and what bad clients do."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import resource
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import labkit
import labkit.servers.http
from tests.conftest import wait_for


def status_line(reply: bytes) -> bytes:
    """``HTTP/1.x NNN`` without the version's minor digit, which aiohttp echoes from the request."""
    return reply.split(b"\r\n", 1)[0]


def test_echo_answers_the_posted_body_unchanged() -> None:
    with labkit.serve("echo", over="http") as server:
        request = urllib.request.Request(
            server.url, data="¡hola!".encode(), method="POST", headers={"Content-Type": "text/plain; charset=utf-8"}
        )
        with urllib.request.urlopen(request) as response:
            assert response.read() == "¡hola!".encode()
            assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
            assert response.headers["Server"] == "labkit-http"


def test_clock_answers_the_time_on_each_get_and_refuses_post() -> None:
    with labkit.serve("clock", over="http") as server:
        times = [urllib.request.urlopen(server.url).read().decode().strip() for _ in range(2)]
        # bytes, not WireBytes: mypy takes "in" on a subclass of bytes for a search for one int.
        reply: bytes = labkit.raw_exchange(server.url, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
    assert all(t.endswith("+00:00") for t in times) and times == sorted(times)
    assert status_line(reply) == b"HTTP/1.1 405 Method Not Allowed" and b"\r\nAllow: GET, HEAD\r\n" in reply


def test_chat_by_polling() -> None:
    with labkit.serve("chat", over="http") as server:
        for text in ("uno", "dos"):
            with urllib.request.urlopen(urllib.request.Request(server.url, data=text.encode(), method="POST")) as r:
                assert r.status == 201
        assert [m["text"] for m in json.loads(urllib.request.urlopen(server.url + "/?after=0").read())] == [
            "uno",
            "dos",
        ]
        assert json.loads(urllib.request.urlopen(server.url + "/?after=1").read()) == [
            {"from": 2, "text": "dos", "id": 2}
        ]


def test_http11_keeps_one_connection_and_http10_opens_one_per_request() -> None:
    with labkit.serve("clock", over="http") as server:
        keep = http.client.HTTPConnection(server.host, server.port)
        for _ in range(3):
            keep.request("GET", "/")
            keep.getresponse().read()
        keep.close()
        for _ in range(3):
            with labkit.RawSocket(server.url) as raw:
                raw.send(f"GET / HTTP/1.0\r\nHost: {server.host}\r\n\r\n")
                assert raw.recv_http().startswith(b"HTTP/1.0 200 OK")  # aiohttp answers in the request's version
                assert raw.peer_closed()
        assert wait_for(lambda: server.record.count("close") == 4)
    assert server.record.count("open") == 4
    assert server.record.count("request") == 6


def test_the_server_never_speaks_first() -> None:
    with labkit.serve("clock", over="http") as server, labkit.RawSocket(server.url) as raw:
        assert raw.recv(wait=0.5) == b"" and not raw.closed
        raw.send(f"GET / HTTP/1.1\r\nHost: {server.host}\r\n\r\n")
        assert raw.recv_http().startswith(b"HTTP/1.1 200")
        assert raw.recv(wait=0.5) == b""


def test_malformed_requests_and_numbers_get_400_and_the_server_keeps_serving() -> None:
    with labkit.serve("chat", over="http") as server:
        assert status_line(labkit.raw_exchange(server.url, b"garbage\r\n\r\n")).endswith(b" 400 Bad Request")
        too_long = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n"
        assert status_line(labkit.raw_exchange(server.url, too_long)).startswith(b"HTTP/1.1 413 ")  # phrase: per Python
        for length in ("-1", "²", "1e3", "0x10"):
            bad = f"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n"
            # aiohttp's parser answers what it cannot parse as HTTP/1.0
            assert status_line(labkit.raw_exchange(server.url, bad)).endswith(b" 400 Bad Request"), length
        for after in ("%C2%B2", "-1", "x", "1.5"):
            reply = labkit.raw_exchange(server.url, f"GET /?after={after} HTTP/1.1\r\nHost: x\r\n\r\n")
            assert status_line(reply) == b"HTTP/1.1 400 Bad Request", after
        with labkit.RawSocket(server.url) as raw:
            raw.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok")
            assert status_line(raw.recv_http()) == b"HTTP/1.1 201 Created"


def test_expect_100_continue_gets_a_100_before_the_body_like_curl() -> None:
    with labkit.serve("echo", over="http") as server, labkit.RawSocket(server.url) as raw:
        raw.send("POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
        assert raw.recv_until(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
        raw.send("hola")
        reply = raw.recv_http()
    assert status_line(reply) == b"HTTP/1.1 200 OK" and reply.endswith(b"\r\n\r\nhola")


def test_chunked_bodies_are_decoded_and_unread_bodies_never_parsed_as_requests() -> None:
    """RFC 9112 §7.1 (chunked coding) and §6.3: a body is never the next request."""
    with labkit.serve("echo", over="http") as server, labkit.RawSocket(server.url) as raw:
        raw.send(
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nhola\r\n6\r\n mundo\r\n0\r\n\r\n"
        )
        assert raw.recv_http().endswith(b"\r\n\r\nhola mundo")
        smuggled = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
        raw.send(f"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: {len(smuggled)}\r\n\r\n{smuggled}")
        raw.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        first, second = raw.recv_http(), raw.recv_http()
        assert status_line(first) == status_line(second) == b"HTTP/1.1 200 OK"
        assert raw.recv(wait=0.3) == b""  # the smuggled request got no third response
    requests = [e.data.start_line for e in server.record.entries("request")]
    assert requests == ["POST / HTTP/1.1", "GET / HTTP/1.1", "GET / HTTP/1.1"]


def test_head_answers_headers_without_a_body() -> None:
    with labkit.serve("clock", over="http") as server, labkit.RawSocket(server.url) as raw:
        raw.send("HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
        head: bytes = raw.recv_until(b"\r\n\r\n")
        assert status_line(head) == b"HTTP/1.1 200 OK" and b"Content-Length: 30" in head
        assert raw.recv(wait=0.3) == b""


def test_idle_connections_are_closed_after_the_idle_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(labkit.servers.http, "IDLE_TIMEOUT", 0.3)
    with labkit.serve("clock", over="http") as server, labkit.RawSocket(server.url) as raw:
        raw.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        raw.recv_http()
        assert raw.peer_closed(wait=5)


def test_300_simultaneous_connects_are_all_accepted_at_once() -> None:
    """The listen backlog holds them all: none waits for a SYN retry (1 s), as with a backlog of 5."""
    with labkit.serve("clock", over="http") as server:
        sockets = []
        try:
            for _ in range(300):
                sock = socket.socket()
                sock.setblocking(False)
                sock.connect_ex((server.host, server.port))
                sockets.append(sock)
            deadline = time.monotonic() + 0.8  # under the first SYN retransmission
            pending = list(sockets)
            while pending and time.monotonic() < deadline:
                pending = [s for s in pending if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) or not _connected(s)]
                time.sleep(0.01)
            assert not pending, f"{len(pending)} of 300 connections were not accepted by the kernel"
        finally:
            for sock in sockets:
                sock.close()


def _connected(sock: socket.socket) -> bool:
    try:
        sock.getpeername()
    except OSError:
        return False
    return True


SERVER_WITH_FEW_FILES = """
import resource, signal, sys, threading
resource.setrlimit(resource.RLIMIT_NOFILE, (48, 48))
import labkit
server = labkit.serve("echo", over="http")
print(server.port, flush=True)
sys.stdin.read()
server.stop()
"""


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to read CPU time")
def test_running_out_of_file_descriptors_does_not_spin_the_cpu() -> None:
    """accept() failing with EMFILE must not busy-loop (the old selector loop took 100 % CPU)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert soft >= 200, "this test opens 150 connections"
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER_WITH_FEW_FILES], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    clients: list[socket.socket] = []
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        for _ in range(150):
            clients.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        time.sleep(0.3)
        before = _cpu_seconds(process.pid)
        time.sleep(2)
        used = _cpu_seconds(process.pid) - before
        assert used < 1.0, f"the server used {used:.2f} s of CPU in 2 s while out of file descriptors"
        clients.pop().close()  # it serves again once descriptors free up
    finally:
        for client in clients:
            client.close()
        assert process.stdin is not None
        process.stdin.close()
        process.wait(10)
        assert process.stdout is not None
        process.stdout.close()


def test_record_keeps_request_and_response_heads() -> None:
    with labkit.serve("clock", over="http") as server:
        labkit.raw_exchange(server.url, "GET / HTTP/1.0\r\nX-Curso: backend\r\n\r\n")
        assert wait_for(lambda: server.record.count("close") == 1)
    request, response = (e.data for e in server.record.headers().entries)
    assert str(request) == "GET / HTTP/1.0\nX-Curso: backend"
    assert response.start_line == "HTTP/1.0 200 OK"
    assert [name for name, _ in response.headers] == ["Server", "Content-Type", "Content-Length", "Date"]


def test_stop_takes_under_two_seconds_whatever_the_clients_do() -> None:
    server = labkit.serve("echo", over="http")
    half = socket.create_connection((server.host, server.port))
    half.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly part of the body")
    idle = socket.create_connection((server.host, server.port))
    time.sleep(0.1)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 3.0
    half.close()
    idle.close()


def test_many_polling_clients_at_once() -> None:
    """One loop serves them all: no thread per connection."""

    async def poll(url: str) -> int:
        host, port = url.split("//")[1].split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"GET /?after=0 HTTP/1.1\r\nHost: x\r\n\r\n")
        line = await reader.readline()
        writer.close()
        return int(line.split()[1])

    with labkit.serve("chat", over="http") as server:

        async def many() -> list[int]:
            return await asyncio.gather(*(poll(server.url) for _ in range(200)))

        assert asyncio.run(asyncio.wait_for(many(), 30)) == [200] * 200
