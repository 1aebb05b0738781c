"""The http stack: the apps over plain HTTP, connection counting, and bad requests."""

from __future__ import annotations

import http.client
import json
import urllib.request

import labkit
from tests.conftest import wait_for


def test_echo_answers_the_posted_body_unchanged() -> None:
    with labkit.serve("echo", over="http") as server:
        request = urllib.request.Request(
            server.url, data="¡hola!".encode(), method="POST", headers={"Content-Type": "text/plain; charset=utf-8"}
        )
        with urllib.request.urlopen(request) as response:
            assert response.read() == "¡hola!".encode()
            assert response.headers["Content-Type"] == "text/plain; charset=utf-8"


def test_clock_answers_the_time_on_each_get() -> None:
    with labkit.serve("clock", over="http") as server:
        times = [urllib.request.urlopen(server.url).read().decode().strip() for _ in range(2)]
    assert all(t.endswith("+00:00") for t in times) and times == sorted(times)


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
                assert raw.recv_http().startswith(b"HTTP/1.1 200 OK")
                assert raw.peer_closed()
        assert wait_for(lambda: server.record.count("close") == 4)
    assert server.record.count("open") == 4
    assert server.record.count("request") == 6


def test_the_server_never_speaks_first() -> None:
    with labkit.serve("clock", over="http") as server, labkit.RawSocket(server.url) as raw:
        assert raw.recv(quiet=0.1) == b"" and not raw.closed
        raw.send(f"GET / HTTP/1.1\r\nHost: {server.host}\r\n\r\n")
        assert raw.recv_http().startswith(b"HTTP/1.1 200")
        assert raw.recv(quiet=0.1) == b""


def test_bad_requests_get_400_and_the_server_keeps_serving() -> None:
    with labkit.serve("echo", over="http") as server:
        assert labkit.raw_exchange(server.url, b"garbage\r\n\r\n").startswith(b"HTTP/1.1 400")
        too_long = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n"
        assert labkit.raw_exchange(server.url, too_long).startswith(b"HTTP/1.1 413")
        assert labkit.raw_exchange(server.url, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n").startswith(
            b"HTTP/1.1 400"
        )
        with labkit.RawSocket(server.url) as raw:
            raw.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok")
            assert raw.recv_http().endswith(b"\r\n\r\nok")
        assert wait_for(lambda: server.record.entries("error"))


def test_record_keeps_request_and_response_heads() -> None:
    with labkit.serve("clock", over="http") as server:
        labkit.raw_exchange(server.url, "GET / HTTP/1.0\r\nX-Curso: backend\r\n\r\n")
        assert wait_for(lambda: server.record.count("close") == 1)
    request, response = (e.data for e in server.record.headers().entries)
    assert str(request) == "GET / HTTP/1.0\nX-Curso: backend"
    assert response.start_line == "HTTP/1.1 200 OK"
    assert [name for name, _ in response.headers] == ["Server", "Date", "Content-Type", "Content-Length"]
