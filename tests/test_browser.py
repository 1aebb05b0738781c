"""The browser's WebSocket API (a real headless Chromium) against labkit's WebSocket servers, and the driver."""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

import labkit
from labkit.browser import Browser, find_chromium
from labkit.errors import LabkitError
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


# The driver: what tests of lessons in JupyterLab do as a student would -------------------------

PAGE = """data:text/html,<!doctype html><meta charset="utf-8">
<button id="b" style="position:absolute; left:300px; top:1200px; width:80px; height:30px">ok</button>
<textarea id="t"></textarea>
<script>
  window.seen = [];
  for (const kind of ["mousedown", "mouseup", "click"]) {
    document.getElementById("b").addEventListener(kind, (e) => seen.push([kind, e.isTrusted, e.button]));
  }
  document.getElementById("t").addEventListener("keydown", (e) => {
    seen.push(["keydown", e.key, e.code, e.ctrlKey, e.shiftKey]);
    if (e.ctrlKey) e.preventDefault();
  });
</script>"""


@pytest.fixture
def page(browser: Browser) -> Browser:
    browser.navigate(PAGE)
    browser.wait_for_selector("#t")
    return browser


def test_click_is_a_real_mouse_click_on_an_element_scrolled_into_view(page: Browser) -> None:
    page.click("button", text="ok")
    assert page.evaluate("seen") == [["mousedown", True, 0], ["mouseup", True, 0], ["click", True, 0]]
    assert page.evaluate("window.scrollY") > 0  # the button was below the fold


def test_keys_and_typing_reach_the_focused_element(page: Browser) -> None:
    page.click("#t")
    page.evaluate("seen.length = 0")
    page.type("hola ñandú")
    page.press("Enter")
    page.press("Shift+A")
    page.press("Control+s")  # a shortcut: the page sees it, nothing is typed
    assert page.evaluate("document.getElementById('t').value") == "hola ñandú\nA"
    assert page.evaluate("seen") == [
        ["keydown", "Enter", "Enter", False, False],
        ["keydown", "A", "KeyA", False, True],
        ["keydown", "s", "KeyS", True, False],
    ]


def test_wait_for_returns_the_value_or_says_what_it_waited_for(page: Browser) -> None:
    page.evaluate("setTimeout(() => { window.late = 42; }, 200)")
    assert page.wait_for("window.late", timeout=5) == 42
    with pytest.raises(LabkitError, match="timed out waiting for a miracle"):
        page.wait_for("window.never", timeout=0.2, what="a miracle")
    with pytest.raises(LabkitError, match="unknown key"):
        page.press("Hyper+x")


def test_a_dialog_is_accepted_instead_of_freezing_the_page(page: Browser) -> None:
    assert page.evaluate("confirm('¿Salir de la página?')") is True
    assert page.evaluate("1 + 1") == 2


def test_screenshot_is_a_png_of_the_window(page: Browser, tmp_path: Path) -> None:
    png = page.screenshot(tmp_path / "page.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])  # the IHDR chunk
    assert (width, height) == tuple(page.evaluate("[window.innerWidth, window.innerHeight]"))
