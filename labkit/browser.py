"""A real browser for checks: headless Chromium driven through the DevTools protocol.

The browser's WebSocket API (WHATWG HTML standard) is one of labkit's clients: tests run
JavaScript in a real page against labkit's servers. Chromium comes from the system's
packages (Debian's ``chromium``), never downloaded at run time; the DevTools protocol is
spoken with labkit's own WebSocket client, so no browser-driver package is needed.
"""

from __future__ import annotations

__all__ = ["Browser", "find_chromium", "BrowserUnavailable"]

import contextlib
import itertools
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

from .errors import LabkitError

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
    "--remote-debugging-port=0",
)


class BrowserUnavailable(LabkitError):
    """No Chromium on this machine (``python3 dev.py setup`` installs it on Debian as root)."""


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Browser:
    """One headless Chromium with one page; ``evaluate`` runs JavaScript and returns its value."""

    def __init__(self, executable: str | None = None, timeout: float = 20.0) -> None:
        executable = executable or find_chromium()
        if executable is None:
            raise BrowserUnavailable("no Chromium found; on Debian run: apt-get install chromium")
        self.timeout = timeout
        self._profile = tempfile.TemporaryDirectory(prefix="labkit-chromium-")
        self._process = subprocess.Popen(
            [executable, *CHROMIUM_FLAGS, f"--user-data-dir={self._profile.name}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._ids = itertools.count(1)
        self._resources = contextlib.ExitStack()
        try:
            self._page = self._connect_to_page()
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
        """Send one DevTools command and return its result (events in between are skipped)."""
        message_id = next(self._ids)
        self._page.send(json.dumps({"id": message_id, "method": method, "params": params}))
        deadline = time.monotonic() + self.timeout
        while True:
            reply = json.loads(self._page.recv(timeout=max(0.01, deadline - time.monotonic())))
            if reply.get("id") == message_id:
                if "error" in reply:
                    raise LabkitError(f"DevTools {method} failed: {reply['error'].get('message')}")
                result: dict[str, Any] = reply["result"]
                return result

    def evaluate(self, expression: str) -> Any:
        """Evaluate JavaScript in the page, awaiting a promise, and return the value as JSON data."""
        result = self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise LabkitError(f"JavaScript failed: {details.get('exception', {}).get('description') or details}")
        return result["result"].get("value")

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
