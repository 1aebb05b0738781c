"""dev.py, the README's two commands: the lab one really opens JupyterLab on the lessons."""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load_dev() -> object:
    spec = importlib.util.spec_from_file_location("dev", ROOT / "dev.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_lab_command_serves_the_lessons_in_both_languages() -> None:
    dev = load_dev()
    port = free_port()
    args = dev.lab_command(  # type: ignore[attr-defined]
        ["--no-browser", f"--port={port}", "--ip=127.0.0.1", "--IdentityProvider.token=labkit-test"]
    )
    args[0] = sys.executable  # this environment, whatever .venv the command would use
    lab = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                url = f"http://127.0.0.1:{port}/api/contents/es?token=labkit-test"
                with urllib.request.urlopen(url, timeout=5) as response:
                    listing = json.loads(response.read())
                break
            except OSError:
                assert lab.poll() is None, "JupyterLab exited"
                assert time.monotonic() < deadline, "JupyterLab did not answer within 60 s"
                time.sleep(0.25)
        names = {item["name"] for item in listing["content"]}
        assert "00-bienvenida.ipynb" in names
    finally:
        lab.terminate()
        lab.wait(20)
