"""The labkit command: serve until a signal, one clear line for bad input, lessons, doctor, bench."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys

import pytest

import labkit

LABKIT = [sys.executable, "-m", "labkit"]


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LABKIT, *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize(
    ("stack", "scheme", "sig"),
    [("websocket", "ws", signal.SIGINT), ("http", "http", signal.SIGTERM), ("socketio", "http", signal.SIGINT)],
)
def test_serve_prints_its_url_first_serves_and_exits_0_on_signal(stack: str, scheme: str, sig: int) -> None:
    process = subprocess.Popen([*LABKIT, "serve", "echo", "--over", stack], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith(f"{scheme}://127.0.0.1:")
        if stack == "websocket":
            with labkit.ws_connect(url) as ws:
                ws.send("hola")
                assert ws.recv(timeout=5) == "hola"
        elif stack == "http":
            assert labkit.raw_exchange(url, "POST / HTTP/1.0\r\nContent-Length: 4\r\n\r\nhola").endswith(b"hola")
        else:
            client = labkit.sio_connect(url)
            assert client.call("echo", "hola", timeout=5) == "hola"
            client.disconnect()
        process.send_signal(sig)
        out, _ = process.communicate(timeout=10)
    finally:
        process.kill()
    assert process.returncode == 0
    assert "open" in out  # what the server saw, printed for the instructor after the URL


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["serve", "radio", "--over", "http"], "invalid choice: 'radio'"),
        (["serve", "echo", "--over", "ftp"], "invalid choice: 'ftp'"),
        (["serve", "echo"], "the following arguments are required: --over"),
        (["serve", "echo", "--over", "http", "--port", "99999"], "invalid port '99999'"),
        (["serve", "echo", "--over", "http", "--colour", "red"], "unrecognized arguments: --colour red"),
        (["teach"], "invalid choice: 'teach'"),
        (["bench", "latency"], "invalid choice: 'latency'"),
    ],
)
def test_bad_arguments_exit_2_with_one_clear_line(args: list[str], message: str) -> None:
    result = run(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("labkit: ") and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_port_taken_exits_2_with_one_line() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = run("serve", "echo", "--over", "websocket", "--port", str(port))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"labkit: port {port} on 127.0.0.1 is already in use; stop what holds it, pick another port, or use port 0"
    )


def test_lessons_lists_both_languages() -> None:
    result = run("lessons")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert any(line.startswith("es  00  ") for line in lines)
    assert any(line.startswith("en  00  ") for line in lines)
    assert len([line for line in lines if line.startswith("es ")]) == len(
        [line for line in lines if line.startswith("en ")]
    )


def test_doctor_reports_versions_and_no_problem_here() -> None:
    result = run("doctor")
    assert result.returncode == 0, result.stdout
    for name in ("python", "websockets", "python-socketio", "ipykernel", "jupyterlab"):
        assert any(line.split()[0] == name for line in result.stdout.splitlines() if line.strip())
    assert "no known problems" in result.stdout


def test_doctor_flags_legacy_websockets_and_nest_asyncio(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from labkit import doctor as doctor_module

    monkeypatch.setitem(sys.modules, "websockets.legacy.server", object())  # type: ignore[arg-type]
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        doctor_module.importlib.util,
        "find_spec",
        lambda name: object() if name == "nest_asyncio" else real_find_spec(name),
    )
    report = doctor_module.doctor()
    assert not report.ok
    assert any("legacy websockets API" in p for p in report.problems)
    assert any("nest_asyncio is installed" in p for p in report.problems)


def test_bench_startup_json_has_one_number_per_stack() -> None:
    result = run("bench", "startup", "--json", "--rounds", "3")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(figures) == {"http", "websocket", "socketio"}
    assert all(isinstance(v, float | int) and v > 0 for v in figures.values())


def test_bench_throughput_json_compares_bare_and_labkit() -> None:
    result = run("bench", "throughput", "--json", "--rounds", "1", "--messages", "200")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert {"bare", "websocket"} <= set(figures)
    assert figures["bare"] > 0 and figures["websocket"] > 0


@pytest.mark.parametrize(("installed", "words"), [("14.2", "needs 15 or newer"), ("13.1", "legacy API by default")])
def test_doctor_flags_a_websockets_too_old(monkeypatch: pytest.MonkeyPatch, installed: str, words: str) -> None:
    from labkit import doctor as doctor_module

    real_version = doctor_module._version
    monkeypatch.setattr(
        doctor_module, "_version", lambda name: installed if name == "websockets" else real_version(name)
    )
    report = doctor_module.doctor()
    assert any(f"websockets {installed} is too old" in p and words in p for p in report.problems)
