"""``labkit bench``: labkit measured side by side with the bare libraries, in one run.

Speed targets are checked here, by ratios measured in the same run, never by timed tests:
the machines are shared and noisy. Every load is bounded in count and time and talks only
to 127.0.0.1. Each benchmark prints a few lines for people, then its figures as one JSON
object on the last line, for scripts (the keys are a public contract: only ever add).

- ``throughput``: one echo client against a bare ``websockets`` echo server (a separate
  process that never imports labkit), against ``labkit serve echo --over websocket`` and
  against ``--over scratch`` (separate processes too), two processes of each, alternating
  rounds; ``{"bare": …, "websocket": …, "scratch": …}`` in messages per second (medians),
  plus ``"ratio"`` (websocket / bare) and ``"scratch_ratio"`` (scratch / bare).
- ``startup``: median milliseconds from ``labkit.serve(...)`` to a server that accepts
  connections, per stack; ``{"http": …, "websocket": …, "socketio": …}``.
- ``decode``: masked 1 MiB binary frames through ``labkit.protocol``'s frame parser, fed
  in socket-sized chunks; ``{"mb_per_s": …}`` (MB of payload, 10**6 bytes, per second).
- ``tap``: the time of one echo round trip straight to a server and through
  ``labkit.tap``, alternating rounds on the same server; ``{"direct_us": …, "tap_us": …,
  "ratio": …}`` (microseconds, medians; ratio = tap / direct).
- ``connections``: N clients, opened from separate client processes, held by one
  ``labkit serve chat`` process, then broadcasts to all of them; ``{"held": …,
  "kib_per_connection": …, "fanout_ms_p50": …, "fanout_ms_p99": …, "lost": …, "clients": …,
  "server_held": …}`` (the server's RSS growth per idle connection; fan-out = receipt − send).
- ``fanout``: one sender's broadcasts, at a bounded rate, to N clients of P chat processes
  sharing a Redis (``labkit.redis()``), next to the same load on one process alone;
  ``{"one_process": …, "redis": …, "ratio": …, "p99_ms": …}``: deliveries per second each,
  redis / one_process, and the 99th percentile of delivery time through Redis (ms).
"""

from __future__ import annotations

__all__ = [
    "BARE_ECHO_SERVER",
    "CONNECTION_STACKS",
    "HeldConnections",
    "MAX_BROADCASTS",
    "MAX_CLIENTS",
    "MAX_SIZE",
    "connections",
    "decode",
    "fanout",
    "open_files_limit",
    "percentile",
    "run_bench",
    "startup",
    "tap_round_trips",
    "throughput",
]

import asyncio
import contextlib
import json
import logging
import math
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import LabkitError
from .processes import end_with_parent

#: A bare websockets echo server with the same settings as labkit's (compression off).
BARE_ECHO_SERVER = """
import asyncio, sys
from websockets.asyncio.server import serve

async def echo(ws):
    async for message in ws:
        await ws.send(message)

async def main():
    async with serve(echo, "127.0.0.1", 0, compression=None) as server:
        print(f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

asyncio.run(main())
"""

_LABKIT_ECHO_SERVER = [sys.executable, "-m", "labkit", "serve", "echo", "--quiet", "--over"]

#: The servers ``throughput`` compares, each started as its own process.
ECHO_SERVERS = {
    "bare": [sys.executable, "-c", BARE_ECHO_SERVER],
    "websocket": [*_LABKIT_ECHO_SERVER, "websocket"],
    "scratch": [*_LABKIT_ECHO_SERVER, "scratch"],
}

#: Largest message the benchmarks send: every server's default message limit (1 MiB).
MAX_SIZE = 2**20

#: What a socket read hands over at most, as the servers read (64 KiB).
_READ_SIZE = 65536

#: RFC 6455 §1.3's key: the handshake of the round-trip client needs no randomness.
_UPGRADE = (
    "GET / HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


@contextlib.contextmanager
def _server_process(name: str) -> Iterator[str]:
    """Start the echo server ``name`` in its own process, yield the URL it prints first, always end it."""
    args = ECHO_SERVERS[name]
    process = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url.startswith("ws://"):
            raise LabkitError(f"the {name} echo server did not start (its error is above)")
        yield url
    finally:
        process.terminate()
        try:
            process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


async def _echo_round(url: str, messages: int, window: int = 32, size: int = 32) -> float:
    """Messages per second for ``messages`` echoes of ``size`` bytes, ``window`` in flight at a time."""
    from websockets.asyncio.client import connect

    payload = "x" * size
    async with connect(url, compression=None, max_size=MAX_SIZE) as ws:
        for _ in range(window):  # warm up the connection
            await ws.send(payload)
            await ws.recv()
        start = time.perf_counter()
        sent = 0
        while sent < messages:
            batch = min(window, messages - sent)
            for _ in range(batch):
                await ws.send(payload)
            for _ in range(batch):
                await ws.recv()
            sent += batch
        return messages / (time.perf_counter() - start)


def throughput(rounds: int = 6, messages: int = 4000, processes: int = 2, size: int = 32) -> dict[str, float]:
    """Median echo rate of bare websockets and of labkit's two WebSocket stacks, rounds alternated.

    Each kind runs in ``processes`` separate server processes: two runs of the very same
    server differ by a few percent with the process's memory layout (hash seeds, ASLR),
    so one process per side would measure that luck as much as the code.
    """
    rates: dict[str, list[float]] = {key: [] for key in ECHO_SERVERS}
    with contextlib.ExitStack() as running:
        servers = [(key, running.enter_context(_server_process(key))) for _ in range(processes) for key in ECHO_SERVERS]
        for _ in range(rounds):
            for key, url in servers:
                rate = asyncio.run(asyncio.wait_for(_echo_round(url, messages, size=size), 60))
                rates[key].append(rate)
    result = {key: round(statistics.median(values), 1) for key, values in rates.items()}
    result["ratio"] = round(result["websocket"] / result["bare"], 3)
    result["scratch_ratio"] = round(result["scratch"] / result["bare"], 3)
    return result


def startup(rounds: int = 30) -> dict[str, float]:
    """Median milliseconds from ``labkit.serve`` to accepting connections, per stack."""
    from .servers import serve

    result = {}
    for stack in ("http", "websocket", "socketio"):
        serve("echo", over=stack, name="bench-startup").stop()  # imports and first-time set-up
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            server = serve("echo", over=stack, name="bench-startup")
            times.append((time.perf_counter() - start) * 1000)
            server.stop()
        result[stack] = round(statistics.median(times), 2)
    return result


def decode(rounds: int = 5, frames: int = 32, size: int = MAX_SIZE) -> dict[str, float]:
    """Median MB/s of payload that ``FrameParser`` takes out of masked binary frames.

    The frames are what a browser sends a server (§5.3: masked, a fresh key each), cut in
    64 KiB chunks as a socket read hands them over; the payloads are checked afterwards,
    outside the timing, so a fast wrong parser cannot win.
    """
    from .protocol.frames import Frame, FrameParser, Opcode, encode

    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    wire = b"".join(encode(Frame(True, Opcode.BINARY, payload), mask_key=os.urandom(4)) for _ in range(frames))
    chunks = [wire[i : i + _READ_SIZE] for i in range(0, len(wire), _READ_SIZE)]
    rates = []
    for _ in range(rounds):
        parser = FrameParser(expect_masked=True)
        parsed = []
        start = time.perf_counter()
        for chunk in chunks:
            parsed += parser.feed(chunk)
        elapsed = time.perf_counter() - start
        if len(parsed) != frames or any(frame.payload != payload for frame in parsed):
            raise LabkitError("the frame parser returned other payloads than were sent")
        rates.append(frames * size / elapsed / 1e6)
    return {"mb_per_s": round(statistics.median(rates), 1)}


def _open_websocket(address: tuple[str, int]) -> socket.socket:
    """A blocking socket that has done the opening handshake with the server at ``address``."""
    sock = socket.create_connection(address, timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # one frame, one segment, no waiting
    sock.sendall(_UPGRADE.format(host=f"{address[0]}:{address[1]}").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            raise LabkitError("the server closed the connection during the handshake")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101 "):
        raise LabkitError(f"the server refused the handshake: {head.splitlines()[0]!r}")
    return sock


def _round_trips(sock: socket.socket, trips: int, size: int) -> list[float]:
    """Seconds each of ``trips`` echo round trips of a ``size``-byte text message took."""
    from .protocol.frames import Frame, Opcode, encode

    message = encode(Frame(True, Opcode.TEXT, b"x" * size), mask_key=b"\x37\xfa\x21\x3d")
    echo_length = len(encode(Frame(True, Opcode.TEXT, b"x" * size)))
    times = []
    for _ in range(trips):
        start = time.perf_counter()
        sock.sendall(message)
        received = 0
        while received < echo_length:
            chunk = sock.recv(echo_length - received)
            if not chunk:
                raise LabkitError("the server closed the connection")
            received += len(chunk)
        times.append(time.perf_counter() - start)
    return times


def tap_round_trips(rounds: int = 10, trips: int = 1000, size: int = 32) -> dict[str, float]:
    """Median round trip straight to a websocket echo server and through a tap in front of it.

    The server runs in its own process, as in class; the tap runs on its thread in this
    process, as in a notebook. Both connections stay open and take turns, ``trips`` round
    trips at a time, so that both see the same machine at the same moment.
    """
    from .protocol.frames import Frame, Opcode, encode
    from .wiretap import tap

    times: dict[str, list[float]] = {"direct": [], "tap": []}
    with contextlib.ExitStack() as running:
        url = running.enter_context(_server_process("websocket"))
        in_front = running.enter_context(tap(url, name="bench-tap"))
        sockets = {
            "direct": running.enter_context(_open_websocket(_address_of(url))),
            "tap": running.enter_context(_open_websocket((in_front.host, in_front.port))),
        }
        for sock in sockets.values():
            _round_trips(sock, max(1, trips // 10), size)  # warm up
        for _ in range(rounds):
            for key, sock in sockets.items():
                times[key] += _round_trips(sock, trips, size)
        for sock in sockets.values():
            sock.sendall(encode(Frame(True, Opcode.CLOSE, b"\x03\xe8"), mask_key=b"\x37\xfa\x21\x3d"))
    result = {
        "direct_us": round(statistics.median(times["direct"]) * 1e6, 1),
        "tap_us": round(statistics.median(times["tap"]) * 1e6, 1),
    }
    result["ratio"] = round(result["tap_us"] / result["direct_us"], 3)
    return result


def _address_of(url: str) -> tuple[str, int]:
    host, _, port = url.removeprefix("ws://").rpartition(":")
    return host, int(port)


# connections -------------------------------------------------------------------------------

#: The stacks ``connections`` loads, each with the clients it opens unless told (``--clients``).
#: Socket.IO holds 10,000 on a quiet 2-core machine (about 45 s, fan-out p99 2-5 s), but on a
#: busy one its heartbeats fall behind and clients drop by the thousand; 5,000 hold either way.
CONNECTION_STACKS = {"websocket": 10_000, "scratch": 10_000, "socketio": 5_000}

#: Most clients ``connections`` opens: each takes an ephemeral port of 127.0.0.1 (Linux has about 28,000).
MAX_CLIENTS = 20_000

#: Broadcasts ``connections`` sends unless told (``--messages``), and at most: each is a frame to every client.
BROADCASTS = 5
MAX_BROADCASTS = 100

#: Client processes sharing the clients: the load runs beside the server, never inside it.
CLIENT_PROCESSES = 4

#: Handshakes one client process has in flight: four of them stay within the server's listen
#: backlog (100, asyncio's default), so that no connection waits for a dropped SYN to be sent again.
OPENING_AT_ONCE = 25

#: Open files a process needs besides its connections (modules, pipes, the event loop, the listener).
SPARE_FILES = 100

#: Seconds one broadcast may take to reach every client, at least and per client (Socket.IO
#: needs about 3 s for 10,000 here); receipts missing then count as lost.
FANOUT_WAIT = 10.0
FANOUT_SECONDS_PER_CLIENT = 0.002

#: Seconds the clients may take to open all their connections: per client, and at least.
OPEN_SECONDS_PER_CLIENT = 0.02
OPEN_SECONDS_AT_LEAST = 60.0

#: Seconds a server or client process has to start (imports included) or to answer a command.
ANSWER_SECONDS = 30.0

#: Longest line a client process answers with: every fan-out time it measured, as JSON.
_LINE_LIMIT = 2**26

_LABKIT_CHAT_SERVER = [sys.executable, "-m", "labkit", "serve", "chat", "--quiet", "--over"]

#: The Socket.IO clients' logger: a client the server drops is counted (not held), not printed
#: 10,000 times ("packet queue is empty, aborting").
_QUIET = logging.getLogger("labkit.bench.clients")
_QUIET.disabled = True
_CLIENT_PROCESS = [sys.executable, "-c", "from labkit.bench import _client_process_main; _client_process_main()"]


def open_files_limit(needed: int, soft: int, hard: int, unlimited: int = -1) -> int | None:
    """The soft limit of open files a process should set to hold ``needed``, or None if it may not.

    Each connection is a file descriptor, and RLIMIT_NOFILE's soft limit is the one enforced;
    a process may raise it itself, up to the hard limit and no further (getrlimit(2)).
    Enough already: ``soft`` unchanged. Else the hard limit, as far as allowed, or ``needed``
    when the hard limit is ``unlimited`` (RLIM_INFINITY: the system's own ceiling applies).
    """
    if soft == unlimited or soft >= needed:
        return soft
    if hard == unlimited:
        return needed
    return hard if hard >= needed else None


def _too_few_files(clients: int, limit: int) -> str:
    needed = clients + SPARE_FILES
    return (
        f"{clients} clients need about {needed} open files in one process, but the limit here is {limit}:"
        f" raise it (ulimit -n {needed} in the shell that runs labkit; past the hard limit, as root or with"
        f" nofile in /etc/security/limits.conf) or ask for --clients {max(2, limit - SPARE_FILES)}"
    )


def raise_open_files(clients: int) -> None:
    """Let this process (and the processes it starts, which inherit it) hold ``clients`` connections.

    Raises the soft limit of open files where allowed; if the hard limit is too low, one
    LabkitError that says what to do. (Windows has no such limit to raise.)
    """
    try:
        import resource
    except ImportError:
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = clients + SPARE_FILES
    target = open_files_limit(needed, soft, hard, resource.RLIM_INFINITY)
    if target is None:
        raise LabkitError(_too_few_files(clients, hard))
    if target == soft:
        return
    for attempt in dict.fromkeys((target, needed)):  # macOS refuses more than kern.maxfilesperproc
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (attempt, hard))
            return
    raise LabkitError(_too_few_files(clients, soft))


def _open_files_of(pid: int) -> int | None:
    """The soft limit of open files of process ``pid`` (Linux's /proc); None if unlimited or unknown."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
            if line.startswith("Max open files"):
                soft = line.split()[3]
                return None if soft == "unlimited" else int(soft)
    return None


def _rss_kib(pid: int) -> int:
    """Resident memory of process ``pid`` in KiB: VmRSS of /proc/PID/status (Linux), else ``ps``."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])  # "kB" there means KiB
    with contextlib.suppress(OSError, subprocess.SubprocessError, ValueError):
        return int(subprocess.run(["ps", "-o", "rss=", "-p", str(pid)], capture_output=True, timeout=10).stdout)
    raise LabkitError("cannot read the server's memory here (no /proc/PID/status, no ps)")


async def _idle_rss_kib(pid: int, seconds: float = 10.0) -> int:
    """The server's RSS once it stops changing (its last handshakes finished), at most ``seconds`` on."""
    rss = _rss_kib(pid)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        rss, before = _rss_kib(pid), rss
        if abs(rss - before) <= 64:
            break
    return rss


def _established(port: int) -> int | None:
    """TCP connections established to 127.0.0.1:``port``, as the kernel counts them (Linux), or None.

    The server's side of each has ``port`` as its local port; its clients' side has it as
    the remote one, so each connection is counted once.
    """
    try:
        table = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return None
    local = f"0100007F:{port:04X}"  # 127.0.0.1 in the kernel's byte order
    return sum(1 for line in table if line.split()[1:4:2] == [local, "01"])  # 01: ESTABLISHED


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile: the smallest value with ``fraction`` of ``values`` at or below it."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


@contextlib.asynccontextmanager
async def _child(args: list[str]) -> AsyncIterator[asyncio.subprocess.Process]:
    """A process of its own session (Ctrl-C reaches only the bench, which ends it); always ended."""
    process = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=_LINE_LIMIT,
        start_new_session=True,
        preexec_fn=end_with_parent(),
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)  # labkit serve stops within about 3 s
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()


async def _answer(process: asyncio.subprocess.Process, what: str, seconds: float) -> str:
    """The next line ``process`` prints, within ``seconds``; else one LabkitError naming ``what``."""
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), seconds)
    except TimeoutError:
        raise LabkitError(f"{what} took over {seconds:.0f} s: stopped") from None
    if not line:
        raise LabkitError(f"{what}: the process ended early (its error is above)")
    return line.decode()


async def _ask(process: asyncio.subprocess.Process, command: str, seconds: float) -> dict[str, Any]:
    """Give a client process one command; its answer, one JSON object."""
    assert process.stdin is not None
    try:
        process.stdin.write(f"{command}\n".encode())
        await process.stdin.drain()
    except (BrokenPipeError, ConnectionResetError):
        raise LabkitError(f"a client process ended before {command!r} (its error is above)") from None
    answer: dict[str, Any] = json.loads(await _answer(process, f"a client process asked to {command!r}", seconds))
    if "error" in answer:
        raise LabkitError(answer["error"])
    return answer


async def _ask_all(commands: list[tuple[asyncio.subprocess.Process, str]], seconds: float) -> list[dict[str, Any]]:
    """Every client process's answer, the commands running at once; the first failure raised after all end."""
    answers = await asyncio.gather(*(_ask(p, c, seconds) for p, c in commands), return_exceptions=True)
    for answer in answers:
        if isinstance(answer, BaseException):
            raise answer
    return answers  # type: ignore[return-value]


class _ClientShare:
    """One client process's share of the clients of ``connections``, and what each received.

    Clients are numbered in the order they start opening; a process's first is the one that
    sends, when asked. Each broadcast's text carries the time it was sent: the monotonic
    clock (CLOCK_MONOTONIC on Linux) is one clock for every process of the machine, so
    receipt − send is the fan-out time, measured across processes.
    """

    def __init__(self, url: str, over: str) -> None:
        self.url = url
        self.over = over
        self.clients: dict[int, Any] = {}
        self.started = 0
        self.failed = 0
        self.first_error = ""
        self.sender: int | None = None
        self.receipts: set[tuple[int, int]] = set()
        self.counts: dict[int, int] = {}
        self.fanout_ms: list[float] = []
        self.readers: set[asyncio.Task[None]] = set()

    async def open(self, count: int) -> dict[str, Any]:
        """Open ``count`` more clients, ``OPENING_AT_ONCE`` at a time; a failure is counted, not raised."""
        raise_open_files(len(self.clients) + count)
        gate = asyncio.Semaphore(OPENING_AT_ONCE)

        async def one(number: int) -> None:
            async with gate:
                try:
                    self.clients[number] = await self.connect(number)
                except Exception as exc:
                    self.failed += 1
                    self.first_error = self.first_error or f"{type(exc).__name__}: {exc}"

        numbers = range(self.started, self.started + count)
        self.started += count
        await asyncio.gather(*(one(number) for number in numbers))
        return {"opened": len(self.clients), "failed": self.failed, "first_error": self.first_error}

    async def connect(self, number: int) -> Any:
        if self.over == "socketio":
            import socketio

            client = socketio.AsyncClient(
                reconnection=False, handle_sigint=False, logger=_QUIET, engineio_logger=_QUIET
            )
            client.on("chat", lambda data: self.note(number, data.get("text") if isinstance(data, dict) else None))
            await client.connect(self.url, transports=["websocket"], wait_timeout=ANSWER_SECONDS)
            return client
        from websockets.asyncio.client import connect

        ws = await connect(
            self.url, compression=None, proxy=None, ping_interval=None, open_timeout=ANSWER_SECONDS, max_size=MAX_SIZE
        )
        reader = asyncio.create_task(self.read(number, ws))
        self.readers.add(reader)
        return ws

    async def read(self, number: int, ws: Any) -> None:
        """A WebSocket client's messages: the chat's ``{"from": n, "text": …}`` as JSON text."""
        from websockets.exceptions import ConnectionClosed

        with contextlib.suppress(ConnectionClosed):
            async for message in ws:
                try:
                    chat = json.loads(message)
                except ValueError:
                    continue  # not the chat's: not a receipt
                self.note(number, chat.get("text") if isinstance(chat, dict) else None)

    def note(self, number: int, text: Any) -> None:
        """Client ``number`` received ``text``: if a broadcast of the bench, its fan-out time."""
        arrived = time.monotonic()
        words = text.split() if isinstance(text, str) else []
        if len(words) != 3 or words[0] != "bench" or number == self.sender:
            return  # the sender's own message back is no receipt: the others are waited for
        broadcast, sent = int(words[1]), float(words[2])
        if (number, broadcast) not in self.receipts:
            self.receipts.add((number, broadcast))
            self.counts[broadcast] = self.counts.get(broadcast, 0) + 1
            self.fanout_ms.append((arrived - sent) * 1000)

    async def send(self, broadcast: int) -> dict[str, Any]:
        """Broadcast number ``broadcast`` from this process's first client, stamped with the time now."""
        self.sender = min(self.clients)
        sender = self.clients[self.sender]
        text = f"bench {broadcast} {time.monotonic()!r}"
        await (sender.emit("chat", text) if self.over == "socketio" else sender.send(text))
        return {"sent": broadcast}

    async def wait(self, broadcast: int, seconds: float) -> dict[str, Any]:
        """Until every client here but the sender has received broadcast ``broadcast``, or ``seconds`` passed."""
        expected = len(self.clients) - (self.sender is not None)
        deadline = time.monotonic() + seconds
        while self.counts.get(broadcast, 0) < expected and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        return {"got": self.counts.get(broadcast, 0), "expected": expected}

    def report(self) -> dict[str, Any]:
        """Clients opened and still open now, and every fan-out time measured (ms)."""
        from websockets.protocol import State

        if self.over == "socketio":
            held = sum(client.connected for client in self.clients.values())
        else:
            held = sum(ws.state is State.OPEN for ws in self.clients.values())
        return {"opened": len(self.clients), "held": held, "fanout_ms": [round(ms, 3) for ms in self.fanout_ms]}


def _client_process_main() -> None:
    """A client process of ``connections``: ``python -c … URL STACK``; commands on standard input.

    ``open N``, ``send I``, ``wait I SECONDS``, ``report``: one JSON line answers each;
    ``{"error": …}`` for a problem the bench reports. It ends with its standard input.
    """
    url, over = sys.argv[1:3]
    share = _ClientShare(url, over)

    async def serve_commands() -> None:
        loop = asyncio.get_running_loop()
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            command, *args = line.split()
            answer: dict[str, Any]
            try:
                if command == "open":
                    answer = await share.open(int(args[0]))
                elif command == "send":
                    answer = await share.send(int(args[0]))
                elif command == "wait":
                    answer = await share.wait(int(args[0]), float(args[1]))
                else:
                    answer = share.report()
            except LabkitError as exc:
                answer = {"error": str(exc)}
            print(json.dumps(answer), flush=True)

    asyncio.run(serve_commands())


@dataclass(frozen=True)
class HeldConnections:
    """What ``connections`` measured; :meth:`figures` is its JSON line."""

    over: str
    clients: int
    opened: int
    held: int
    server_held: int | None
    rss_before_kib: int
    rss_after_kib: int
    broadcasts: int
    fanout_ms_p50: float | None
    fanout_ms_p99: float | None
    lost: int
    open_seconds: float
    first_error: str

    @property
    def kib_per_connection(self) -> float:
        """The server's RSS growth from its first client to all of them, per added connection."""
        return round((self.rss_after_kib - self.rss_before_kib) / max(1, self.opened - 1), 2)

    def figures(self) -> dict[str, float | int | None]:
        return {
            "held": self.held,
            "kib_per_connection": self.kib_per_connection,
            "fanout_ms_p50": self.fanout_ms_p50,
            "fanout_ms_p99": self.fanout_ms_p99,
            "lost": self.lost,
            "clients": self.clients,
            "server_held": self.server_held,
        }


def connections(
    clients: int, over: str = "websocket", broadcasts: int = BROADCASTS, processes: int = CLIENT_PROCESSES
) -> HeldConnections:
    """``clients`` clients held by one ``labkit serve chat --over OVER`` process, then broadcasts to all.

    The server runs alone in its process, so its RSS (before the clients but the first,
    and once they are all open and idle) is its memory only; the clients are shared among
    ``processes`` client processes. Then the first client sends ``broadcasts`` chat
    messages, one at a time, each waited for by every other client (for a bounded time:
    :data:`FANOUT_WAIT`, or :data:`FANOUT_SECONDS_PER_CLIENT` each). Bounded: every step
    has a time limit, and every process ends, whatever happens.
    """
    if over not in CONNECTION_STACKS:
        raise LabkitError(f"bench connections runs over {', '.join(CONNECTION_STACKS)}, not {over!r}")
    if not 2 <= clients <= MAX_CLIENTS:
        raise LabkitError(f"bench connections needs 2 to {MAX_CLIENTS} clients (one sends, the others receive)")
    if not 1 <= broadcasts <= MAX_BROADCASTS:
        raise LabkitError(f"bench connections sends 1 to {MAX_BROADCASTS} broadcasts")
    return asyncio.run(_connections(clients, over, broadcasts, max(1, min(processes, clients))))


async def _connections(clients: int, over: str, broadcasts: int, processes: int) -> HeldConnections:
    raise_open_files(clients)
    shares = [clients // processes + (i < clients % processes) for i in range(processes)]
    async with contextlib.AsyncExitStack() as running:
        server = await running.enter_async_context(_child([*_LABKIT_CHAT_SERVER, over]))
        url = (await _answer(server, f"labkit serve chat --over {over}", ANSWER_SECONDS)).strip()
        if not url.startswith(("ws://", "http://")):
            raise LabkitError(f"labkit serve chat --over {over} printed {url!r}, not its URL")
        server_files = _open_files_of(server.pid)
        if server_files is not None and server_files < clients + SPARE_FILES:
            raise LabkitError(_too_few_files(clients, server_files))
        children = [await running.enter_async_context(_child([*_CLIENT_PROCESS, url, over])) for _ in shares]
        start = time.monotonic()
        first = await _ask(children[0], "open 1", ANSWER_SECONDS)  # the sender; the server's one-time costs
        if not first["opened"]:
            raise LabkitError(f"could not open a first client to {url}: {first['first_error']}")
        open_seconds = time.monotonic() - start
        rss_before = await _idle_rss_kib(server.pid)
        shares[0] -= 1
        start = time.monotonic()
        opening = await _ask_all(
            [(child, f"open {share}") for child, share in zip(children, shares, strict=True)],
            max(OPEN_SECONDS_AT_LEAST, clients * OPEN_SECONDS_PER_CLIENT),
        )
        open_seconds += time.monotonic() - start
        rss_after = await _idle_rss_kib(server.pid)
        wait = max(FANOUT_WAIT, clients * FANOUT_SECONDS_PER_CLIENT)
        for broadcast in range(broadcasts):
            await _ask(children[0], f"send {broadcast}", ANSWER_SECONDS)
            await _ask_all([(child, f"wait {broadcast} {wait}") for child in children], wait + ANSWER_SECONDS)
        server_held = _established(int(url.rpartition(":")[2].split("/")[0]))
        reports = await _ask_all([(child, "report") for child in children], ANSWER_SECONDS)
    opened = sum(report["opened"] for report in reports)
    fanout_ms = [ms for report in reports for ms in report["fanout_ms"]]
    return HeldConnections(
        over=over,
        clients=clients,
        opened=opened,
        held=sum(report["held"] for report in reports),
        server_held=server_held,
        rss_before_kib=rss_before,
        rss_after_kib=rss_after,
        broadcasts=broadcasts,
        fanout_ms_p50=round(percentile(fanout_ms, 0.5), 3) if fanout_ms else None,
        fanout_ms_p99=round(percentile(fanout_ms, 0.99), 3) if fanout_ms else None,
        lost=broadcasts * (opened - 1) - len(fanout_ms),
        open_seconds=round(open_seconds, 1),
        first_error=next((answer["first_error"] for answer in [first, *opening] if answer["first_error"]), ""),
    )


def _show_connections(result: HeldConnections, processes: int) -> None:
    """What ``connections`` measured, for people."""
    print(
        f"{result.clients} clients over {result.over} ({processes} client processes, open after"
        f" {result.open_seconds:.1f} s), one labkit serve chat process:"
    )
    seen = "" if result.server_held is None else f" (the server's end: {result.server_held} established)"
    print(f"  held           {result.held} of {result.clients}{seen}")
    if result.opened < result.clients:
        print(f"  not opened     {result.clients - result.opened}, the first because of {result.first_error}")
    target = " (target <= 32 KiB)" if result.over == "websocket" else ""
    growth = (result.rss_after_kib - result.rss_before_kib) / 1024
    print(
        f"  server memory  {growth:+.1f} MiB for {result.opened - 1} idle connections:"
        f" {result.kib_per_connection:.1f} KiB each{target}"
    )
    if result.fanout_ms_p50 is None:
        print(f"  fan-out        {result.broadcasts} broadcasts, none arrived: {result.lost} lost")
    else:
        print(
            f"  fan-out        {result.broadcasts} broadcasts to {result.opened - 1} clients each:"
            f" p50 {result.fanout_ms_p50:.1f} ms, p99 {result.fanout_ms_p99:.1f} ms, {result.lost} lost"
        )


# fanout (issue 9: many processes through Redis) ------------------------------------------

#: Defaults and bounds of ``fanout``: server processes, clients, broadcasts, broadcasts per second.
FANOUT_PROCESSES = 2
MAX_FANOUT_PROCESSES = 8
FANOUT_CLIENTS = 200
MAX_FANOUT_CLIENTS = 2_000
FANOUT_MESSAGES = 100
FANOUT_RATE = 1000.0
MAX_FANOUT_RATE = 1000.0
#: Seconds the servers have to subscribe to Redis once their clients are in.
SUBSCRIBE_SECONDS = 10.0


@dataclass(frozen=True)
class FanoutRun:
    """One side of ``fanout``: broadcasts delivered per second, their delivery times, what was lost."""

    servers: int
    delivered: int
    expected: int
    seconds: float
    p50_ms: float | None
    p99_ms: float | None

    @property
    def per_second(self) -> float:
        return round(self.delivered / self.seconds, 1) if self.seconds > 0 else 0.0

    @property
    def lost(self) -> int:
        return self.expected - self.delivered


@dataclass(frozen=True)
class Fanout:
    """What ``fanout`` measured: one process alone, then ``processes`` sharing a Redis; :meth:`figures`."""

    over: str
    clients: int
    messages: int
    rate: float
    one_process: FanoutRun
    redis: FanoutRun

    def figures(self) -> dict[str, float | int | None]:
        return {
            "one_process": self.one_process.per_second,
            "redis": self.redis.per_second,
            "ratio": round(self.redis.per_second / self.one_process.per_second, 3)
            if self.one_process.per_second
            else 0.0,
            "p99_ms": self.redis.p99_ms,
            "p50_ms": self.redis.p50_ms,
            "one_process_p50_ms": self.one_process.p50_ms,
            "one_process_p99_ms": self.one_process.p99_ms,
            "lost": self.redis.lost,
            "one_process_lost": self.one_process.lost,
            "processes": self.redis.servers,
            "clients": self.clients,
            "messages": self.messages,
        }


def fanout(
    processes: int = FANOUT_PROCESSES,
    clients: int = FANOUT_CLIENTS,
    messages: int = FANOUT_MESSAGES,
    rate: float = FANOUT_RATE,
    over: str = "socketio",
) -> Fanout:
    """Broadcast fan-out across ``processes`` chat processes sharing a Redis, next to one process alone.

    Both sides get the same load: ``clients`` clients in as many client processes as there
    are server processes (at least two), one of them sending ``messages`` chat messages at
    ``rate`` per second, each stamped with the time it was sent. Alone, one ``labkit serve
    chat`` process (no Redis) holds every client; shared, ``processes`` of them, started
    with ``--redis`` on one ``labkit.redis()``, hold a share each, so every broadcast
    crosses Redis to reach the clients of the others. Delivered per second = deliveries /
    (first send to the last delivery, or to the time limit). Bounded: every wait has a time
    limit, and every process (servers, clients, Redis) ends whatever happens.
    """
    if over not in CONNECTION_STACKS:
        raise LabkitError(f"bench fanout runs over {', '.join(CONNECTION_STACKS)}, not {over!r}")
    if not 1 <= processes <= MAX_FANOUT_PROCESSES:
        raise LabkitError(f"bench fanout runs 1 to {MAX_FANOUT_PROCESSES} server processes")
    if not max(2, processes) <= clients <= MAX_FANOUT_CLIENTS:
        raise LabkitError(f"bench fanout needs {max(2, processes)} to {MAX_FANOUT_CLIENTS} clients")
    if not 1 <= messages <= MAX_BROADCASTS:
        raise LabkitError(f"bench fanout sends 1 to {MAX_BROADCASTS} broadcasts")
    if not 0 < rate <= MAX_FANOUT_RATE:
        raise LabkitError(f"bench fanout sends at most {MAX_FANOUT_RATE:g} broadcasts a second")
    from .redis import redis

    alone = asyncio.run(_fanout_run(over, clients, messages, rate, servers=1, client_processes=max(2, processes)))
    with redis(name="bench-fanout-redis") as shared:
        through_redis = asyncio.run(
            _fanout_run(
                over, clients, messages, rate, servers=processes, client_processes=max(2, processes), redis=shared
            )
        )
    return Fanout(over, clients, messages, rate, alone, through_redis)


async def _fanout_run(
    over: str, clients: int, messages: int, rate: float, servers: int, client_processes: int, redis: Any = None
) -> FanoutRun:
    """One side of ``fanout``: ``servers`` chat processes (sharing ``redis`` if given) and their clients."""
    raise_open_files(clients)
    shares = [clients // client_processes + (i < clients % client_processes) for i in range(client_processes)]
    args = [*_LABKIT_CHAT_SERVER, over, *(["--redis", redis.url] if redis is not None else [])]
    async with contextlib.AsyncExitStack() as running:
        urls = []
        for _ in range(servers):
            server = await running.enter_async_context(_child(args))
            urls.append((await _answer(server, f"labkit serve chat --over {over}", ANSWER_SECONDS)).strip())
        children = [
            await running.enter_async_context(_child([*_CLIENT_PROCESS, urls[i % servers], over]))
            for i in range(client_processes)
        ]
        opened = await _ask_all(
            [(child, f"open {share}") for child, share in zip(children, shares, strict=True)],
            max(OPEN_SECONDS_AT_LEAST, clients * OPEN_SECONDS_PER_CLIENT),
        )
        if sum(answer["opened"] for answer in opened) < clients:
            first_error = next((a["first_error"] for a in opened if a["first_error"]), "")
            raise LabkitError(f"bench fanout could not open every client: {first_error}")
        if redis is not None:
            channel = "labkit:socketio:chat" if over == "socketio" else "labkit:chat"
            deadline = time.monotonic() + SUBSCRIBE_SECONDS
            while redis.subscribers(channel) < servers:
                if time.monotonic() > deadline:
                    raise LabkitError(
                        f"the {servers} servers did not all subscribe to Redis in {SUBSCRIBE_SECONDS:g} s"
                    )
                await asyncio.sleep(0.01)
        start = time.monotonic()
        for broadcast in range(messages):
            await _ask(children[0], f"send {broadcast}", ANSWER_SECONDS)
            await asyncio.sleep(max(0.0, start + (broadcast + 1) / rate - time.monotonic()))
        # Timed until every client has the last broadcast (or the limit); then the others are counted.
        await _ask_all([(child, f"wait {messages - 1} {FANOUT_WAIT}") for child in children], FANOUT_WAIT + 5)
        seconds = time.monotonic() - start
        deadline = time.monotonic() + FANOUT_WAIT
        for broadcast in range(messages - 1):
            left = max(0.0, deadline - time.monotonic())
            await _ask_all([(child, f"wait {broadcast} {left:.3f}") for child in children], left + 5)
        reports = await _ask_all([(child, "report") for child in children], ANSWER_SECONDS)
    fanout_ms = [ms for report in reports for ms in report["fanout_ms"]]
    return FanoutRun(
        servers=servers,
        delivered=len(fanout_ms),
        expected=messages * (clients - 1),
        seconds=round(seconds, 3),
        p50_ms=round(percentile(fanout_ms, 0.5), 3) if fanout_ms else None,
        p99_ms=round(percentile(fanout_ms, 0.99), 3) if fanout_ms else None,
    )


def _show_fanout(result: Fanout) -> None:
    """What ``fanout`` measured, for people."""
    print(
        f"{result.messages} broadcasts at {result.rate:g} a second to {result.clients - 1} clients over {result.over}"
        f" ({result.messages * (result.clients - 1)} deliveries a side):"
    )
    for label, run in (("one process", result.one_process), (f"{result.redis.servers} + Redis", result.redis)):
        times = "none arrived" if run.p50_ms is None else f"p50 {run.p50_ms:.1f} ms, p99 {run.p99_ms:.1f} ms"
        print(f"  {label:<12} {run.per_second:>10.1f} delivered/s   {times}, {run.lost} lost")
    print(f"  ratio        {result.figures()['ratio']:.3f} (through Redis / one process)")


def run_bench(
    what: str,
    as_json: bool,
    rounds: int | None = None,
    messages: int | None = None,
    size: int | None = None,
    clients: int | None = None,
    over: str | None = None,
    processes: int | None = None,
) -> int:
    """Run one benchmark, print its figures for people, then (``as_json``) one JSON line."""
    result: dict[str, float]
    if what == "fanout":
        shared = fanout(
            processes or FANOUT_PROCESSES,
            clients or FANOUT_CLIENTS,
            messages or FANOUT_MESSAGES,
            over=over or "socketio",
        )
        _show_fanout(shared)
        if as_json:
            print(json.dumps(shared.figures()))
        return 0
    if what == "connections":
        over = over or "websocket"
        clients = clients or CONNECTION_STACKS[over]
        processes = min(CLIENT_PROCESSES, clients)
        held = connections(clients, over, messages or BROADCASTS, processes)
        _show_connections(held, processes)
        if as_json:
            print(json.dumps(held.figures()))
        return 0
    if what == "throughput":
        rounds = rounds or 6
        size = size or 32
        result = throughput(rounds, messages or 4000, size=size)
        print(
            f"echo messages of {size} bytes per second, median of {rounds} alternating rounds on each of"
            " 2 server processes per kind (compression off everywhere):"
        )
        print(f"  bare websockets  {result['bare']:>10.1f}")
        print(f"  labkit websocket {result['websocket']:>10.1f}   ratio {result['ratio']:.3f} (target >= 0.9)")
        print(f"  labkit scratch   {result['scratch']:>10.1f}   ratio {result['scratch_ratio']:.3f} (target >= 0.5)")
    elif what == "startup":
        result = startup(rounds or 30)
        print(f"median start-to-ready milliseconds over {rounds or 30} starts:")
        for stack, ms in result.items():
            target = 5 if stack == "websocket" else 50
            print(f"  {stack:<10} {ms:>7.2f} ms   (target <= {target} ms)")
    elif what == "decode":
        rounds = rounds or 5
        size = size or MAX_SIZE
        frames = messages or 32
        result = decode(rounds, frames, size)
        print(f"masked frames of {size} bytes through labkit.protocol's FrameParser, {frames} a round,")
        print(f"median of {rounds} rounds: {result['mb_per_s']:.1f} MB/s of payload (target >= 200)")
    else:
        rounds = rounds or 10
        size = size or 32
        trips = messages or 1000
        result = tap_round_trips(rounds, trips, size)
        print(f"one echo round trip ({size}-byte text message), median of {rounds} alternating rounds of {trips}:")
        print(f"  straight to the server  {result['direct_us']:>8.1f} µs")
        print(f"  through labkit.tap      {result['tap_us']:>8.1f} µs   ratio {result['ratio']:.3f} (target <= 1.5)")
    if as_json:
        print(json.dumps(result))
    return 0
