"""labkit bench: each benchmark measures what it says and ends with its JSON line.

Nothing here checks a speed (the machines are shared and noisy): the figures are checked
for shape and for consistency with each other, and the loads for reaching the wire.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest

import labkit
from labkit import bench
from labkit.protocol import frames
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
