"""A real browser for checks: headless Chromium driven through the DevTools protocol.

The browser's WebSocket API (WHATWG HTML standard) is one of labkit's clients: tests run
JavaScript in a real page against labkit's servers, and drive JupyterLab the way a student
does (clicks, key presses) to check what a lesson shows. Chromium comes from the system's
packages (Debian's ``chromium``), never downloaded at run time; the DevTools protocol is
spoken with labkit's own WebSocket client, so no browser-driver package is needed.

``Browser(trust_spki=[...])`` trusts TLS certificates by the hash of their public key (what
``labkit.tls.authority().spki`` gives for labkit's local authority), as Chromium's
``--ignore-certificate-errors-spki-list`` does: every other certificate is checked as usual,
so ``wss://`` is tested with certificate checks on, never with them turned off.
``Browser(hosts={"app.example": "127.0.0.1"})`` gives a name to this machine, as a line of
``/etc/hosts`` would, for what browsers treat differently on loopback names (mixed content).
"""

from __future__ import annotations

__all__ = ["Browser", "find_chromium", "BrowserUnavailable", "hosts_flag", "spki_flag"]

import base64
import binascii
import contextlib
import ipaddress
import itertools
import json
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

from .errors import LabkitError
from .i18n import say

#: Flags for a quiet headless browser on a machine without network beyond loopback.
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--window-size=1280,900",
    "--remote-debugging-port=0",
)

#: DevTools' modifier bits (Input.dispatchKeyEvent and Input.dispatchMouseEvent).
MODIFIERS = {"Alt": 1, "Control": 2, "Meta": 4, "Shift": 8}

#: Keys that are not a single character: (code, Windows virtual key code, text typed).
NAMED_KEYS = {
    "Enter": ("Enter", 13, "\r"),
    "Escape": ("Escape", 27, ""),
    "Tab": ("Tab", 9, "\t"),
    "Backspace": ("Backspace", 8, ""),
    "Delete": ("Delete", 46, ""),
    "ArrowUp": ("ArrowUp", 38, ""),
    "ArrowDown": ("ArrowDown", 40, ""),
    "ArrowLeft": ("ArrowLeft", 37, ""),
    "ArrowRight": ("ArrowRight", 39, ""),
    "Home": ("Home", 36, ""),
    "End": ("End", 35, ""),
}

#: Finds the element a click aims at, scrolls it into view and returns the middle of its box.
LOCATE = """(() => {
  const [selector, text] = %s;
  const visible = (e) => e.getClientRects().length > 0;
  const found = Array.from(document.querySelectorAll(selector))
    .filter((e) => visible(e) && (text === null || e.textContent.trim() === text));
  if (found.length === 0) return null;
  found[0].scrollIntoView({block: "center", inline: "center"});
  const box = found[0].getBoundingClientRect();
  return [box.left + box.width / 2, box.top + box.height / 2];
})()"""


class BrowserUnavailable(LabkitError):
    """No Chromium on this machine (``python3 dev.py setup`` installs it on Debian as root)."""


def spki_flag(trust_spki: Sequence[str]) -> list[str]:
    """Chromium's flag trusting certificates whose public key hashes to one of ``trust_spki``.

    Each is base64(SHA-256(SubjectPublicKeyInfo)), 44 characters (``labkit.tls.authority().spki``).
    Chromium reads the flag only with a ``--user-data-dir`` of its own, which :class:`Browser` gives it.
    """
    if isinstance(trust_spki, str):
        trust_spki = [trust_spki]
    for key in trust_spki:
        try:
            digest = base64.b64decode(key, validate=True) if isinstance(key, str) else b""
        except (binascii.Error, ValueError):
            digest = b""
        if len(digest) != 32:
            raise LabkitError(
                say(
                    f"trust_spki lleva hashes SHA-256 en base64 de claves públicas (44 caracteres, como "
                    f"labkit.tls.authority().spki), no {key!r}",
                    f"trust_spki takes base64 SHA-256 hashes of public keys (44 characters, like "
                    f"labkit.tls.authority().spki), not {key!r}",
                )
            )
    return [f"--ignore-certificate-errors-spki-list={','.join(trust_spki)}"] if trust_spki else []


def hosts_flag(hosts: Mapping[str, str]) -> list[str]:
    """Chromium's flag resolving each name of ``hosts`` to its address, which must be loopback.

    Only this machine: labkit's browsers talk to loopback and nothing else.
    """
    rules = []
    for name, address in hosts.items():
        try:
            loopback = ipaddress.ip_address(address).is_loopback
        except ValueError:
            loopback = False
        if not (isinstance(name, str) and re.fullmatch(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?", name) and loopback):
            raise LabkitError(
                say(
                    f"hosts da a un nombre (en minúsculas) una dirección de esta máquina, como "
                    f"{{'app.example': '127.0.0.1'}}, no {name!r}: {address!r}",
                    f"hosts maps a name (lowercase) to an address of this machine, like "
                    f"{{'app.example': '127.0.0.1'}}, not {name!r}: {address!r}",
                )
            )
        rules.append(f"MAP {name} {address}")
    return [f"--host-resolver-rules={', '.join(rules)}"] if rules else []


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Browser:
    """One headless Chromium with one page; ``evaluate`` runs JavaScript and returns its value."""

    def __init__(
        self,
        executable: str | None = None,
        timeout: float = 20.0,
        trust_spki: Sequence[str] = (),
        hosts: Mapping[str, str] | None = None,
    ) -> None:
        flags = spki_flag(trust_spki) + hosts_flag(hosts or {})  # checked before anything starts
        executable = executable or find_chromium()
        if executable is None:
            raise BrowserUnavailable("no Chromium found; on Debian run: apt-get install chromium")
        self.timeout = timeout
        self._profile = tempfile.TemporaryDirectory(prefix="labkit-chromium-", ignore_cleanup_errors=True)
        self._process = subprocess.Popen(
            [executable, *CHROMIUM_FLAGS, *flags, f"--user-data-dir={self._profile.name}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._ids = itertools.count(1)
        self._kept: dict[str, list[dict[str, Any]]] = {}  # DevTools events kept, by name prefix
        self._resources = contextlib.ExitStack()
        try:
            self._page = self._connect_to_page()
            self.call("Page.enable")  # page events, so that dialogs can be answered
        except BaseException:
            self.close()
            raise

    def _connect_to_page(self) -> ClientConnection:
        port_file = Path(self._profile.name) / "DevToolsActivePort"
        deadline = time.monotonic() + self.timeout
        while not port_file.exists() or not port_file.read_text().strip():
            if time.monotonic() > deadline or self._process.poll() is not None:
                raise BrowserUnavailable("Chromium did not start its DevTools endpoint")
            time.sleep(0.05)
        port = port_file.read_text().split()[0]
        while True:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=self.timeout) as response:
                targets = json.loads(response.read())
            pages = [t for t in targets if t.get("type") == "page"]
            if pages:
                break
            if time.monotonic() > deadline:
                raise BrowserUnavailable("Chromium opened no page")
            time.sleep(0.05)
        return self._resources.enter_context(connect(pages[0]["webSocketDebuggerUrl"], max_size=None, compression=None))

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one DevTools command and return its result (events in between are skipped).

        A dialog the page opens meanwhile (``alert``, ``confirm``, "leave this page?") is accepted,
        as a user in a hurry would: an unanswered dialog freezes the page and every later call.
        """
        message_id = next(self._ids)
        self._page.send(json.dumps({"id": message_id, "method": method, "params": params}))
        deadline = time.monotonic() + self.timeout
        while True:
            reply = json.loads(self._page.recv(timeout=max(0.01, deadline - time.monotonic())))
            for prefix, kept in self._kept.items():
                if reply.get("method", "").startswith(prefix):
                    kept.append(reply)
            if reply.get("method") == "Page.javascriptDialogOpening":
                answer = {"id": next(self._ids), "method": "Page.handleJavaScriptDialog", "params": {"accept": True}}
                self._page.send(json.dumps(answer))
            if reply.get("id") == message_id:
                if "error" in reply:
                    raise LabkitError(f"DevTools {method} failed: {reply['error'].get('message')}")
                result: dict[str, Any] = reply["result"]
                return result

    def keep_events(self, prefix: str) -> list[dict[str, Any]]:
        """From now on, keep the DevTools events whose name starts with ``prefix`` (``"Network."``).

        Returns the list they are appended to (``{"method": ..., "params": ...}``). Events are
        read while a call waits for its answer: make one more call before reading the list.
        The domain must be enabled too (``call("Network.enable")``).
        """
        return self._kept.setdefault(prefix, [])

    def evaluate(self, expression: str) -> Any:
        """Evaluate JavaScript in the page, awaiting a promise, and return the value as JSON data."""
        result = self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise LabkitError(f"JavaScript failed: {details.get('exception', {}).get('description') or details}")
        return result["result"].get("value")

    def navigate(self, url: str) -> None:
        """Open ``url`` in the page and return once the new document has loaded."""
        self.evaluate("window.labkitLeaving = true")  # gone with the old document
        result = self.call("Page.navigate", url=url)
        if "errorText" in result:
            raise LabkitError(f"could not open {url[:100]}: {result['errorText']}")
        if "loaderId" in result:  # else the same document, scrolled to a fragment
            self.wait_for("!window.labkitLeaving && document.readyState === 'complete'", what=f"{url[:100]} to load")

    def wait_for(self, expression: str, timeout: float | None = None, what: str | None = None) -> Any:
        """Poll a JavaScript expression until it is truthy and return its value: waits on the page's state."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise LabkitError(f"timed out waiting for {what or expression}")
            time.sleep(0.05)

    def wait_for_selector(self, selector: str, timeout: float | None = None) -> None:
        """Wait until an element matching the CSS selector is on the page and visible."""
        check = f"Array.from(document.querySelectorAll({json.dumps(selector)})).some((e) => e.getClientRects().length)"
        self.wait_for(check, timeout, what=f"an element {selector}")

    def click(self, selector: str, text: str | None = None, timeout: float | None = None) -> None:
        """Click the first visible element matching ``selector`` (and ``text``) as a mouse would.

        The element is scrolled into view and the mouse is moved, pressed and released over the
        middle of it, so the page sees the same events as from a user's hand.
        """
        where = json.dumps([selector, text])
        what = f"{selector}" + (f" with text {text!r}" if text is not None else "")
        x, y = self.wait_for(LOCATE % where, timeout, what=what)
        self.click_at(x, y)

    def click_at(self, x: float, y: float, modifiers: int = 0) -> None:
        """A left click at page coordinates (CSS pixels)."""
        self.call("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y, modifiers=modifiers)
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1, modifiers=modifiers)

    def press(self, keys: str) -> None:
        """Press a key, with modifiers joined by ``+``: ``"Enter"``, ``"Shift+Enter"``, ``"Control+s"``."""
        *held, key = keys.split("+")
        unknown = [name for name in held if name not in MODIFIERS]
        if unknown or not key:
            raise LabkitError(f"unknown key combination {keys!r}")
        modifiers = sum(MODIFIERS[name] for name in held)
        if key in NAMED_KEYS:
            code, key_code, text = NAMED_KEYS[key]
        elif len(key) == 1:
            upper = key.upper()
            code = f"Key{upper}" if upper.isalpha() else f"Digit{key}" if key.isdigit() else ""
            key_code, text = ord(upper), key
        else:
            raise LabkitError(f"unknown key {key!r}")
        if modifiers & (MODIFIERS["Control"] | MODIFIERS["Meta"] | MODIFIERS["Alt"]):
            text = ""  # a shortcut types nothing
        common = {"key": key, "code": code, "windowsVirtualKeyCode": key_code, "modifiers": modifiers}
        self.call("Input.dispatchKeyEvent", type="keyDown" if text else "rawKeyDown", text=text, **common)
        self.call("Input.dispatchKeyEvent", type="keyUp", **common)

    def type(self, text: str) -> None:
        """Type text into the focused element, as a keyboard or an input method would."""
        self.call("Input.insertText", text=text)

    def screenshot(self, path: str | Path) -> Path:
        """Save what the page shows as a PNG file (for debugging a driver that lost its way)."""
        data = self.call("Page.captureScreenshot", format="png")["data"]
        target = Path(path)
        target.write_bytes(base64.b64decode(data))
        return target

    def close(self) -> None:
        self._resources.close()
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._profile.cleanup()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
