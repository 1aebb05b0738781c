"""A real browser's request, measured live and stored: what a poll costs before any data."""

from __future__ import annotations

import os

import pytest

from labkit.browser import find_chromium
from labkit.browser_requests import real_request, stored_request
from labkit.protocol import RequestParser

needs_chromium = pytest.mark.skipif(
    find_chromium() is None and os.environ.get("CI") != "true", reason="no Chromium on this machine"
)


def test_the_stored_capture_is_one_whole_chromium_request() -> None:
    request = stored_request()
    parsed = RequestParser().feed(bytes(request))
    assert parsed is not None and parsed.method == "GET" and request.endswith(b"\r\n\r\n")
    assert "Chrome/" in (parsed.headers.get("User-Agent") or "") and len(parsed.headers) >= 10
    assert 400 <= len(request) <= 1000


@needs_chromium
def test_this_machines_chromium_sends_a_request_of_the_same_shape() -> None:
    live = RequestParser().feed(bytes(real_request()))
    stored = RequestParser().feed(bytes(stored_request()))
    assert live is not None and stored is not None
    assert [name.lower() for name, _ in live.headers] == [name.lower() for name, _ in stored.headers]
