"""Who may connect (Origin), how fast (max_rate) and over what (TLS): the same on every stack that browsers use."""

from __future__ import annotations

import re
import ssl

import pytest
from websockets.exceptions import ConnectionClosedError, InvalidStatus

import labkit
from labkit.tls import authority
from tests.conftest import wait_for

WS_STACKS = ["websocket", "scratch"]
GOOD, EVIL = "http://127.0.0.1:8000", "http://evil.example"


@pytest.mark.parametrize("stack", WS_STACKS)
def test_a_page_from_another_origin_gets_403_and_the_allowed_one_and_non_browsers_connect(stack: str) -> None:
    with labkit.serve("echo", over=stack, allow_origins=[GOOD]) as server:
        with pytest.raises(InvalidStatus) as refused:
            labkit.ws_connect(server.url, origin=EVIL)
        assert refused.value.response.status_code == 403
        for origin in (GOOD, None):  # the allowed page, and a client that is not a browser
            with labkit.ws_connect(server.url, origin=origin) as ws:
                ws.send("hola")
                assert ws.recv(timeout=3) == "hola"
    assert any("Origin" in e.detail or "origin" in e.detail for e in server.record.entries("error"))


@pytest.mark.parametrize("stack", ["websocket", "socketio"])
def test_allowed_origins_are_written_as_browsers_send_them(stack: str) -> None:
    written = ["HTTP://127.0.0.1:8000", "https://App.Example:443"]
    with labkit.serve("echo", over=stack, allow_origins=written) as server:
        url = server.url
        if stack == "socketio":
            url = url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        for sent in (GOOD, "https://app.example"):  # what browsers put in Origin for those pages
            with labkit.ws_connect(url, origin=sent):
                pass


@pytest.mark.parametrize("mistake", ["http://127.0.0.1:8000/", "ws://127.0.0.1:8000", "127.0.0.1:8000", "http://x:0"])
def test_an_origin_that_no_browser_sends_is_refused_before_the_server_starts(mistake: str) -> None:
    with pytest.raises(labkit.LabkitError, match=rf"^allow_origins: invalid origin {re.escape(repr(mistake))}"):
        labkit.serve("echo", over="websocket", allow_origins=[GOOD, mistake])
    assert labkit.running() == []


def test_socketio_refuses_another_origin_with_its_own_cors_check() -> None:
    with labkit.serve("echo", over="socketio", allow_origins=[GOOD]) as server:
        ws_url = server.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        with pytest.raises(InvalidStatus) as refused:
            labkit.ws_connect(ws_url, origin=EVIL)
        assert refused.value.response.status_code in (400, 403)
        with labkit.ws_connect(ws_url, origin=GOOD) as ws:
            opening = ws.recv(timeout=3)
            assert isinstance(opening, str) and opening.startswith('0{"sid"')


@pytest.mark.parametrize("stack", WS_STACKS)
def test_a_client_that_floods_is_cut_with_1008_while_others_are_served(stack: str) -> None:
    with labkit.serve("echo", over=stack, max_rate=50) as server, labkit.ws_connect(server.url) as calm:
        # The flooding client stops reading: it need not wait 10 s for a closing handshake.
        with labkit.ws_connect(server.url, close_timeout=0.5) as flood:
            with pytest.raises(ConnectionClosedError):
                for i in range(1000):  # one at a time, each echo read: over 50 a second unless a trip takes 20 ms
                    flood.send(f"{i}")  # and nothing unread at the server when it fails the connection,
                    flood.recv(timeout=5)  # so its close frame arrives (not a reset)
            assert flood.close_code == 1008
        calm.send("¿y yo?")
        assert calm.recv(timeout=3) == "¿y yo?"
    assert wait_for(lambda: any("over 50 messages a second" in e.detail for e in server.record.entries("error")))


@pytest.mark.parametrize("stack", [*WS_STACKS, "socketio", "http"])
def test_tls_serves_wss_and_https_with_a_local_authority_clients_trust(stack: str) -> None:
    with labkit.serve("echo", over=stack, tls=True) as server:
        assert server.url.startswith(("wss://", "https://"))
        if stack in WS_STACKS:
            with labkit.ws_connect(server.url) as ws:  # labkit's clients trust labkit's authority
                ws.send("cifrado")
                assert ws.recv(timeout=3) == "cifrado"
            with pytest.raises(ssl.SSLCertVerificationError):
                labkit.ws_connect(server.url, ssl=ssl.create_default_context())  # nobody else does
        else:
            import urllib.request

            context = authority().client_context()
            with urllib.request.urlopen(
                server.url + ("/socket.io/?EIO=4&transport=polling" if stack == "socketio" else "/"), context=context
            ) as response:
                assert response.status == 200
    assert len(authority().spki) == 44  # base64 of a SHA-256: what Chromium's trust flag takes


@pytest.mark.parametrize("stack", WS_STACKS)
def test_tls_servers_send_no_session_tickets_that_could_race_a_clients_request(stack: str) -> None:
    with labkit.serve("echo", over=stack, tls=True) as server, labkit.ws_connect(server.url) as ws:
        ws.send("cifrado")
        assert ws.recv(timeout=3) == "cifrado"  # any ticket would have come before this answer
        tls = ws.socket
        assert isinstance(tls, ssl.SSLSocket) and tls.version() == "TLSv1.3"
        session = tls.session
        assert session is not None and not session.has_ticket
