"""What a real browser's HTTP request weighs: measured live in Chromium, or read from a stored capture.

Lessons compare the bytes a poll costs with the 2 bytes a WebSocket frame header costs. The
figure comes from the wire: a page in a real Chromium fetches from a labkit server through a
tap, and the request is counted byte by byte. A capture made that way (Chromium 156, on this
project's machine) is stored, so that a lesson's stored output is the same everywhere and a
student without Chromium still sees real bytes; the live measure sits beside it.
"""

from __future__ import annotations

__all__ = ["CAPTURE", "real_request", "stored_request"]

from pathlib import Path

from .browser import Browser
from .clients import WireBytes
from .pages import STATIC

#: A ``fetch()`` GET sent by Chromium 156 (headless, Linux) from a page of the same server.
CAPTURE = STATIC / "captures" / "chromium-fetch.http"

_PAGE = "<!doctype html><title>labkit</title><p>fetch</p>"


def stored_request(path: Path = CAPTURE) -> WireBytes:
    """The stored capture: a real Chromium request, exactly as it went on the wire."""
    return WireBytes(path.read_bytes())


def real_request(timeout: float = 20.0) -> WireBytes:
    """One ``fetch()`` GET that this machine's Chromium sends, seen through a tap (needs Chromium)."""
    from .servers import serve
    from .wiretap import tap

    with serve("clock", over="http", name="browser-request", page=_PAGE) as server:
        with tap(server.url, name="browser-request-tap") as spy, Browser(timeout=timeout) as browser:
            browser.navigate(spy.url + "/")
            browser.evaluate("fetch('/app?poll=1').then(r => r.text())")
            spy.wait(closed=False)
            for unit in spy.messages():
                if unit.kind == "HTTP request" and "/app?poll=1" in unit.data.split(b"\r\n", 1)[0].decode("latin-1"):
                    return WireBytes(unit.data)
    raise RuntimeError("the browser's fetch never reached the server")
