"""The cell clients: bytes shown exactly, and the raw socket's reading rules."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

import labkit
from labkit.clients import WireBytes
from labkit.i18n import using
from tests.conftest import wait_for


def test_wire_bytes_show_cr_lf_and_binary() -> None:
    shown = repr(WireBytes(b"HTTP/1.1 200 OK\r\nX: \x00\xff\r\n\r\nhi"))
    assert shown == "HTTP/1.1 200 OK\\r\\n\nX: \\x00\\xff\\r\\n\n\\r\\n\nhi"
    assert repr(WireBytes(b"")) == "(nothing)"
    with using("es"):
        assert repr(WireBytes(b"")) == "(nada)"
    assert WireBytes(b"ab") == b"ab"


def test_hexdump_has_offsets_hex_and_text() -> None:
    dump = WireBytes(bytes(range(0x41, 0x41 + 20))).hexdump()
    assert dump.splitlines() == [
        "0000  41 42 43 44 45 46 47 48 49 4a 4b 4c 4d 4e 4f 50  ABCDEFGHIJKLMNOP",
        "0010  51 52 53 54                                      QRST",
    ]


def test_raw_socket_reads_one_http_response_at_a_time() -> None:
    with labkit.serve("echo", over="http") as server, labkit.RawSocket(server.url) as raw:
        for body in ("uno", "dos"):
            raw.send(f"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n{body}")
            assert raw.recv_http().endswith(f"\r\n\r\n{body}".encode())
        assert not raw.peer_closed(wait=0.05)


def test_raw_exchange_reads_until_the_server_closes() -> None:
    with labkit.serve("clock", over="http") as server:
        reply = labkit.raw_exchange(server.url, "GET / HTTP/1.0\r\n\r\n")
    assert reply.startswith(b"HTTP/1.0 200 OK\r\n") and reply.endswith(b"+00:00\n")  # aiohttp answers in 1.0


@pytest.fixture
def speaks_late() -> Iterator[tuple[str, int]]:
    """A loopback peer that sends ``late`` one second after the connection opens."""
    with socket.create_server(("127.0.0.1", 0)) as listener:

        def peer() -> None:
            connection, _ = listener.accept()
            with connection:
                threading.Event().wait(1.0)
                connection.sendall(b"late")
                connection.recv(1)  # until the client closes

        thread = threading.Thread(target=peer, daemon=True)
        thread.start()
        yield listener.getsockname()
        thread.join(timeout=10)


def test_recv_with_a_short_wait_sees_silence_and_loses_nothing(speaks_late: tuple[str, int]) -> None:
    with labkit.RawSocket(speaks_late, timeout=10) as raw:
        assert raw.recv(wait=0.1) == b"" and not raw.closed  # the peer is silent for its first second
        assert raw.recv() == b"late"  # the default wait is the socket's timeout


def test_recv_wait_of_zero_does_not_block() -> None:
    with labkit.serve("clock", over="http") as server, labkit.RawSocket(server.url) as raw:
        assert raw.recv(wait=0) == b"" and not raw.closed


@pytest.mark.parametrize(("arguments", "message"), [({"wait": -1}, "wait must be"), ({"quiet": "1"}, "quiet must be")])
def test_recv_refuses_a_wait_that_is_not_seconds(arguments: dict[str, object], message: str) -> None:
    with labkit.serve("echo", over="http") as server, labkit.RawSocket(server.url) as raw:
        with pytest.raises(labkit.LabkitError, match=message):
            raw.recv(**arguments)  # type: ignore[arg-type]


def test_bad_urls_are_clear_errors() -> None:
    with pytest.raises(labkit.LabkitError, match="need a URL with a host and a port"):
        labkit.RawSocket("ws://nowhere")


def test_websocket_clients_send_the_same_bytes_whatever_the_versions() -> None:
    with labkit.serve("echo", over="websocket") as server:
        with labkit.ws_connect(server.url):
            pass
    request = server.record.headers(1).entries[0].data
    assert ("User-Agent", "labkit (websockets client)") in request.headers


@pytest.mark.parametrize("transports", [None, ["polling"]])
def test_disconnecting_a_socketio_client_whose_server_went_away_stops_its_reconnection(
    transports: list[str] | None,
) -> None:
    def reconnecting() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if "_handle_reconnect" in t.name]

    with labkit.serve("echo", over="socketio", name="going-away") as server:
        cable = labkit.tap(server.url, name="going-away-cable")
        client = labkit.sio_connect(cable.url, transports=transports)
        cable.stop()  # the network goes, without a Socket.IO goodbye: the client will retry
        assert wait_for(reconnecting, timeout=5)

        client.disconnect()

        assert reconnecting() == []
