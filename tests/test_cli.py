"""The labkit command: serve until a signal, one clear line for bad input, lessons, doctor.

``labkit bench`` has its own tests (tests/test_bench.py).
"""

from __future__ import annotations

import ipaddress
import os
import re
import signal
import socket
import subprocess
import sys

import pytest

import labkit
from labkit import cli

LABKIT = [sys.executable, "-m", "labkit"]

#: Commands run in English, as the in-process tests do (tests/conftest.py).
ENGLISH = dict(os.environ, LABKIT_LANG="en")


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LABKIT, *args], capture_output=True, text=True, timeout=timeout, env=ENGLISH)


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*LABKIT, *args], stdout=subprocess.PIPE, text=True, env=ENGLISH)


def stop(process: subprocess.Popen[str]) -> list[str]:
    """Interrupt ``labkit serve`` as Ctrl-C does; the lines it printed after the first."""
    try:
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=10)
    finally:
        process.kill()
    assert process.returncode == 0
    return out.splitlines()


@pytest.mark.parametrize(
    ("stack", "scheme", "sig"),
    [("websocket", "ws", signal.SIGINT), ("http", "http", signal.SIGTERM), ("socketio", "http", signal.SIGINT)],
)
def test_serve_prints_its_url_first_serves_and_exits_0_on_signal(stack: str, scheme: str, sig: int) -> None:
    process = start("serve", "echo", "--over", stack)
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
        # int() reads any script's digits: ٨٠٨٠ (Arabic-Indic) would listen on 8080.
        (["serve", "echo", "--over", "http", "--port", "٨٠٨٠"], "invalid port '٨٠٨٠'"),
        (["serve", "echo", "--over", "http", "--port", "²"], "invalid port '²'"),
        (["serve", "echo", "--over", "http", "--port", "-1"], "invalid port '-1'"),
        (["bench", "startup", "--rounds", "٣"], "invalid count '٣'"),
        (["bench", "throughput", "--size", "0"], "invalid size '0'"),
        (["bench", "throughput", "--size", "1048577"], "invalid size '1048577'"),
        # An origin with a path or a slash would never match a browser's Origin: every page refused.
        (["serve", "echo", "--over", "websocket", "--allow-origin", "http://127.0.0.1:8000/"], "invalid origin"),
        (["serve", "echo", "--over", "websocket", "--allow-origin", "ws://127.0.0.1:8000"], "invalid origin"),
        (["serve", "echo", "--over", "websocket", "--allow-origin", "http://127.0.0.1:99999"], "invalid origin"),
        (["serve", "echo", "--over", "http", "--allow-origin", "http://127.0.0.1:8000"], "--allow-origin works over"),
        (["serve", "echo", "--over", "http", "--max-rate", "10"], "--max-rate works over"),
        (["serve", "echo", "--over", "websocket", "--max-rate", "0.5"], "from 1 to 100000, not 0.5"),
        (["serve", "echo", "--over", "websocket", "--max-rate", "fast"], "invalid rate 'fast'"),
        (["serve", "echo", "--over", "websocket", "--max-rate", "٣"], "invalid rate '٣'"),
    ],
)
def test_bad_arguments_exit_2_with_one_clear_line(args: list[str], message: str) -> None:
    result = run(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("labkit: ") and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


@pytest.mark.parametrize(
    ("args", "ending"),
    [
        (["teach"], "(see labkit --help)"),
        ([], "(see labkit --help)"),
        (["serve", "echo", "--over", "ftp"], "(see labkit serve --help)"),
        (["bench", "latency"], "(see labkit bench --help)"),
    ],
)
def test_usage_errors_point_to_the_right_help(args: list[str], ending: str) -> None:
    result = run(*args)
    assert result.returncode == 2 and result.stderr.endswith(f" {ending}\n"), result.stderr
    assert "labkit labkit" not in result.stderr


def test_printable_escapes_what_could_drive_a_terminal() -> None:
    sent = "hola\x1b[2J\r\n#99 error forged\t\x07\x7f\x85\u202e\u2028\udc80"
    assert cli.printable(sent) == "hola\\x1b[2J\\r\\n#99 error forged\\t\\x07\\x7f\\x85\\u202e\\u2028\\udc80"
    assert cli.printable("¿sigues ahí? ñandú 🙂 C→S") == "¿sigues ahí? ñandú 🙂 C→S"


def test_serve_escapes_control_characters_clients_send() -> None:
    process = start("serve", "echo", "--over", "websocket")
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    forged = "hi\x1b[31m red\r\n#99 error forged\u202e"
    with labkit.ws_connect(url) as ws:
        ws.send(forged)
        assert ws.recv(timeout=5) == forged
    lines = stop(process)
    assert not any(char in line for line in lines for char in "\x1b\r\u202e")
    assert not any(line.startswith("#99") for line in lines)
    assert "#1 recv C→S hi\\x1b[31m red\\r\\n#99 error forged\\u202e" in lines, lines
    assert "#1 send S→C hi\\x1b[31m red\\r\\n#99 error forged\\u202e" in lines, lines


@pytest.mark.parametrize(
    ("typed", "sent"),
    [
        ("HTTP://LocalHost:80", "http://localhost"),
        ("https://App.Example:443", "https://app.example"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("https://[::1]:8443", "https://[::1]:8443"),
    ],
)
def test_an_allowed_origin_is_written_as_browsers_send_it(typed: str, sent: str) -> None:
    assert cli._origin(typed) == sent


def test_serve_with_allow_origin_tls_and_max_rate_refuses_other_pages_and_floods() -> None:
    import ssl

    from websockets.exceptions import ConnectionClosedError, InvalidStatus

    process = start(
        "serve", "echo", "--over", "websocket", "--tls", "--max-rate", "20",
        "--allow-origin", "http://127.0.0.1:8000", "--allow-origin", "https://app.example",
    )  # fmt: skip
    assert process.stdout is not None
    try:
        url = process.stdout.readline().strip()
        note = process.stdout.readline().strip()
        assert re.fullmatch(r"wss://127\.0\.0\.1:\d+", url), url
        found = re.search(r"trust (\S+\.pem) .*spki-list=(\S{44})\)$", note)
        assert found, note
        trusted = ssl.create_default_context(cafile=found.group(1))  # the CA file the note names
        with pytest.raises(ssl.SSLCertVerificationError):
            labkit.ws_connect(url, ssl=ssl.create_default_context())  # no one else trusts it
        with pytest.raises(InvalidStatus) as refused:
            labkit.ws_connect(url, ssl=trusted, origin="http://127.0.0.1:9999")
        assert refused.value.response.status_code == 403
        for origin in ("http://127.0.0.1:8000", "https://app.example", None):
            with labkit.ws_connect(url, ssl=trusted, origin=origin) as ws:
                ws.send("hola")
                assert ws.recv(timeout=5) == "hola"
        with labkit.ws_connect(url, ssl=trusted, close_timeout=0.5) as flood:
            with pytest.raises(ConnectionClosedError):
                for i in range(500):  # one at a time, each echo read: nothing unread when the server fails it
                    flood.send(str(i))  # (over TLS it cannot half-close: unread bytes would turn its close
                    flood.recv(timeout=5)  # into a reset and the client would see 1006, not 1008)
        assert flood.close_code == 1008
    finally:
        lines = stop(process)
    assert any("403 Forbidden" in line for line in lines), lines
    assert any("over 20 messages a second: closed with 1008" in line for line in lines), lines


def test_serve_socketio_with_allow_origin_refuses_another_pages_websocket() -> None:
    from websockets.exceptions import InvalidStatus

    process = start("serve", "echo", "--over", "socketio", "--allow-origin", "http://127.0.0.1:8000")
    assert process.stdout is not None
    try:
        url = process.stdout.readline().strip()
        ws_url = url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        with pytest.raises(InvalidStatus):
            labkit.ws_connect(ws_url, origin="http://127.0.0.1:9999")
        with labkit.ws_connect(ws_url, origin="http://127.0.0.1:8000") as ws:
            opening = ws.recv(timeout=5)
            assert isinstance(opening, str) and opening.startswith('0{"sid"')
    finally:
        stop(process)


def test_serve_on_every_interface_prints_urls_that_work() -> None:
    process = start("serve", "echo", "--over", "websocket", "--host", "0.0.0.0")
    assert process.stdout is not None
    try:
        first = process.stdout.readline().strip()
        assert re.fullmatch(r"ws://127\.0\.0\.1:\d+", first), first  # tools read the first line
        port = int(first.rpartition(":")[2])
        classroom, note = [], []
        with labkit.ws_connect(first) as ws:  # what it sees comes after the announcement
            ws.send("hola")
            assert ws.recv(timeout=5) == "hola"
        while not (line := process.stdout.readline().strip()).startswith("#1 "):
            if line.startswith("from other machines: "):
                classroom.append(line.removeprefix("from other machines: "))
            else:
                note.append(line)
        if classroom:
            assert note == []
        else:  # a machine without a network (some CI sandboxes) says so and prints nothing unusable
            assert note == [
                "listening on every interface (0.0.0.0), but this machine has no address other machines"
                " can use (is the network up?)"
            ]
        for url in classroom:
            assert re.fullmatch(rf"ws://[0-9.]+:{port}", url) and not url.startswith("ws://127.")
            with labkit.ws_connect(url) as ws:  # an address of this machine: it works from here too
                ws.send("hola")
                assert ws.recv(timeout=5) == "hola"
    finally:
        stop(process)


def test_class_addresses_are_this_machines_and_not_loopback() -> None:
    addresses = cli.class_addresses(socket.AF_INET)
    for address in addresses:
        ip = ipaddress.ip_address(address)
        assert not (ip.is_loopback or ip.is_link_local or ip.is_unspecified)
        with socket.socket() as sock:
            sock.bind((address, 0))  # only an address of this machine can be bound


def test_route_source_finds_the_route_to_loopback() -> None:
    assert cli.route_source(socket.AF_INET, "127.0.0.1") == "127.0.0.1"


def test_without_a_network_there_is_no_class_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "route_source", lambda family, probe: None)  # no default route
    monkeypatch.setattr(socket, "gethostname", lambda: "localhost")  # a name for loopback only
    assert cli.class_addresses(socket.AF_INET) == []
    lines = cli.announce("ws://0.0.0.0:8000", "0.0.0.0", 8000)
    assert lines[0] == "ws://127.0.0.1:8000"
    assert lines[1:] == [
        "listening on every interface (0.0.0.0), but this machine has no address other machines can use"
        " (is the network up?)"
    ]


@pytest.mark.parametrize(
    ("host", "addresses", "expected"),
    [
        ("0.0.0.0", ["192.0.2.7"], ["ws://127.0.0.1:8000", "from other machines: ws://192.0.2.7:8000"]),
        ("::", ["2001:db8::7"], ["ws://[::1]:8000", "from other machines: ws://[2001:db8::7]:8000"]),
        ("127.0.0.1", ["192.0.2.7"], ["ws://127.0.0.1:8000"]),
        ("192.0.2.7", ["192.0.2.7"], ["ws://192.0.2.7:8000"]),
    ],
)
def test_announce_puts_a_url_that_works_here_first(
    monkeypatch: pytest.MonkeyPatch, host: str, addresses: list[str], expected: list[str]
) -> None:
    monkeypatch.setattr(cli, "class_addresses", lambda family: addresses)
    url = f"ws://{f'[{host}]' if ':' in host else host}:8000"
    assert cli.announce(url, host, 8000) == expected


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

    monkeypatch.setitem(sys.modules, "websockets.legacy.server", object())
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,  # the module doctor imports
        "find_spec",
        lambda name: object() if name == "nest_asyncio" else real_find_spec(name),
    )
    report = doctor_module.doctor()
    assert not report.ok
    assert any("legacy websockets API" in p for p in report.problems)
    assert any("nest_asyncio is installed" in p for p in report.problems)


@pytest.mark.parametrize(("installed", "words"), [("14.2", "needs 15 or newer"), ("13.1", "legacy API by default")])
def test_doctor_flags_a_websockets_too_old(monkeypatch: pytest.MonkeyPatch, installed: str, words: str) -> None:
    from labkit import doctor as doctor_module

    real_version = doctor_module._version
    monkeypatch.setattr(
        doctor_module, "_version", lambda name: installed if name == "websockets" else real_version(name)
    )
    report = doctor_module.doctor()
    assert any(f"websockets {installed} is too old" in p and words in p for p in report.problems)


@pytest.mark.timeout(30, method="signal")
def test_a_stop_signal_landing_anywhere_in_the_serving_loop_ends_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """A signal handler runs in the main thread between two of its bytecodes, wherever they are; here
    SIGTERM arrives at every call and return the main thread makes once the server is up, inside its
    waits too. (A handler that set a threading.Event hung for ever when it landed inside Event.wait
    with the Event's lock held: python/cpython#126434; the likeliest reason a child of a killed
    ``labkit bench``, its ``labkit serve``, once outlived SIGTERM in CI.)
    """
    real_serve = labkit.servers.serve
    armed: list[bool] = []
    raised = 0

    def serve_then_arm(*args: object, **kwargs: object) -> labkit.Server:
        server = real_serve(*args, **kwargs)  # type: ignore[arg-type]
        armed.append(True)
        return server

    def profiler(frame: object, event: str, arg: object) -> None:
        nonlocal raised
        if armed and raised < 2000:
            raised += 1
            signal.raise_signal(signal.SIGTERM)

    monkeypatch.setattr(labkit.servers, "serve", serve_then_arm)
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    sys.setprofile(profiler)
    try:
        code = cli._serve("echo", "websocket", "127.0.0.1", 0, quiet=True)
    finally:
        sys.setprofile(None)
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    assert code == 0 and raised > 100
    assert labkit.running() == []
