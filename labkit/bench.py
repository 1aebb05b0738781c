"""``labkit bench``: labkit measured side by side with the bare libraries, in one run.

Speed targets are checked here, by ratios measured in the same run, never by timed tests:
the machines are shared and noisy. Every load is bounded in count and time and talks only
to 127.0.0.1.

- ``throughput``: one echo client against a bare ``websockets`` echo server (a separate
  process that never imports labkit) and against ``labkit serve echo --over websocket``
  (also a separate process), two processes of each, alternating rounds; last line
  ``{"bare": …, "websocket": …}``
  in messages per second (medians), plus ``"ratio"``.
- ``startup``: median milliseconds from ``labkit.serve(...)`` to a server that accepts
  connections, per stack; last line ``{"http": …, "websocket": …, "socketio": …}``.
"""

from __future__ import annotations

__all__ = ["BARE_ECHO_SERVER", "run_bench", "startup", "throughput"]

import asyncio
import contextlib
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator

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

LABKIT_ECHO_SERVER = [sys.executable, "-m", "labkit", "serve", "echo", "--over", "websocket", "--quiet"]


@contextlib.contextmanager
def _server_process(args: list[str]) -> Iterator[str]:
    """Start a server process, yield the URL it prints first, and always end it."""
    process = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url.startswith("ws://"):
            raise RuntimeError(f"benchmark server did not start: {' '.join(args[:4])}")
        yield url
    finally:
        process.terminate()
        try:
            process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


async def _echo_round(url: str, messages: int, window: int = 32, size: int = 32) -> float:
    """Messages per second for ``messages`` echoes, ``window`` in flight at a time."""
    from websockets.asyncio.client import connect

    payload = "x" * size
    async with connect(url, compression=None) as ws:
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


def throughput(rounds: int = 6, messages: int = 4000, processes: int = 2) -> dict[str, float]:
    """Median echo rate of bare websockets and of labkit's websocket stack, rounds alternated.

    Each kind runs in ``processes`` separate server processes: two runs of the very same
    server differ by a few percent with the process's memory layout (hash seeds, ASLR),
    so one process per side would measure that luck as much as the code.
    """
    rates: dict[str, list[float]] = {"bare": [], "websocket": []}
    commands = {"bare": [sys.executable, "-c", BARE_ECHO_SERVER], "websocket": LABKIT_ECHO_SERVER}
    with contextlib.ExitStack() as running:
        servers = [
            (key, running.enter_context(_server_process(command)))
            for _ in range(processes)
            for key, command in commands.items()
        ]
        for _ in range(rounds):
            for key, url in servers:
                rates[key].append(asyncio.run(asyncio.wait_for(_echo_round(url, messages), 60)))
    result = {key: round(statistics.median(values), 1) for key, values in rates.items()}
    result["ratio"] = round(result["websocket"] / result["bare"], 3)
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


def run_bench(what: str, as_json: bool, rounds: int | None = None, messages: int | None = None) -> int:
    if what == "throughput":
        rounds = rounds or 6
        result = throughput(rounds, messages or 4000)
        print(
            f"echo messages per second, median of {rounds} alternating rounds on each of 2 server processes"
            " per side (compression off both sides):"
        )
        print(f"  bare websockets  {result['bare']:>10.1f}")
        print(f"  labkit websocket {result['websocket']:>10.1f}   ratio {result['ratio']:.3f} (target >= 0.9)")
    else:
        result = startup(rounds or 30)
        print(f"median start-to-ready milliseconds over {rounds or 30} starts:")
        for stack, ms in result.items():
            target = 5 if stack == "websocket" else 50
            print(f"  {stack:<10} {ms:>7.2f} ms   (target <= {target} ms)")
    if as_json:
        print(json.dumps(result))
    return 0
