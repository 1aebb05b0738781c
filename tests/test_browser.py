"""The browser's WebSocket API (a real headless Chromium) against labkit's WebSocket servers."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest

import labkit
from labkit.browser import Browser, find_chromium
from labkit.servers import STACKS

if find_chromium() is None:
    if os.environ.get("CI"):
        pytest.fail("CI must run the browser tests: python3 dev.py setup installs Chromium", pytrace=False)
    pytest.skip("no Chromium here (python3 dev.py setup installs it on Debian as root)", allow_module_level=True)

WS_STACKS = [stack for stack in ("websocket", "scratch") if stack in STACKS]

ECHO_PAGE = """new Promise((resolve) => {
  const ws = new WebSocket(%s); const got = []; ws.binaryType = "arraybuffer";
  ws.onopen = () => {
    got.push(["open", ws.readyState, ws.protocol, ws.extensions]);
    ws.send("hola ñandú"); ws.send(new Uint8Array([0, 1, 255])); ws.send("x".repeat(70000));
  };
  ws.onmessage = (e) => {
    const text = typeof e.data === "string";
    got.push(text ? e.data.slice(0, 20) + ":" + e.data.length : Array.from(new Uint8Array(e.data)));
    if (got.length === 4) ws.close(4000, "adiós");
  };
  ws.onclose = (e) => resolve({got, code: e.code, reason: e.reason, wasClean: e.wasClean, state: ws.readyState});
  setTimeout(() => resolve({timeout: true, got}), 8000);
})"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with Browser() as chromium:
        yield chromium


@pytest.mark.parametrize("stack", WS_STACKS)
def test_browser_echo_text_binary_large_and_clean_close(browser: Browser, stack: str) -> None:
    with labkit.serve("echo", over=stack) as server:
        result = browser.evaluate(ECHO_PAGE % json.dumps(server.url))
    assert result == {
        "got": [["open", 1, "", ""], "hola ñandú:10", [0, 1, 255], "xxxxxxxxxxxxxxxxxxxx:70000"],
        "code": 4000,
        "reason": "adiós",
        "wasClean": True,
        "state": 3,
    }


@pytest.mark.parametrize("stack", WS_STACKS)
def test_browser_clock_receives_without_sending(browser: Browser, stack: str) -> None:
    page = """new Promise((resolve) => {
      const ws = new WebSocket(%s); const got = [];
      ws.onmessage = (e) => { got.push(e.data); if (got.length === 2) { ws.close(); resolve(got); } };
      setTimeout(() => resolve(got), 5000);
    })"""
    with labkit.serve("clock", over=stack, interval=0.05) as server:
        ticks = browser.evaluate(page % json.dumps(server.url))
    assert len(ticks) == 2 and ticks == sorted(ticks) and all(t.endswith("+00:00") for t in ticks)
