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
"""

from __future__ import annotations

__all__ = [
    "BARE_ECHO_SERVER",
    "MAX_SIZE",
    "decode",
    "run_bench",
    "startup",
    "tap_round_trips",
    "throughput",
]

import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator

from .errors import LabkitError

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


def run_bench(
    what: str, as_json: bool, rounds: int | None = None, messages: int | None = None, size: int | None = None
) -> int:
    """Run one benchmark, print its figures for people, then (``as_json``) one JSON line."""
    result: dict[str, float]
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
