"""The private event loop each server and tap runs on."""

from __future__ import annotations

import asyncio
import gc
import threading

from labkit.loop import LoopThread


def test_run_returns_the_result_and_finish_joins_the_thread() -> None:
    async def answer() -> int:
        return 42

    async def shutdown() -> None:
        await asyncio.sleep(0)

    loop = LoopThread("test-loop")
    assert loop.run(answer()) == 42
    assert loop.finish(shutdown()) is True
    assert not loop.thread.is_alive() and loop.loop.is_closed()


def test_finish_reports_a_shutdown_that_takes_too_long() -> None:
    loop = LoopThread("test-loop")
    assert loop.finish(asyncio.sleep(10), timeout=0.05) is False
    assert not loop.thread.is_alive()


def test_unhandled_task_errors_go_to_on_error_not_stderr() -> None:
    reported: list[str] = []
    seen = threading.Event()

    def on_error(line: str) -> None:
        reported.append(line)
        seen.set()

    loop = LoopThread("test-loop", on_error=on_error)

    async def fail() -> None:
        raise ValueError("boom")

    async def start_and_forget() -> None:
        task = asyncio.get_running_loop().create_task(fail())
        await asyncio.sleep(0.01)
        del task  # never awaited: asyncio reports it when the task is collected

    async def cancelled_task_noise() -> None:
        asyncio.get_running_loop().call_exception_handler(
            {"message": "callback failed", "exception": asyncio.CancelledError()}
        )

    loop.run(cancelled_task_noise())
    loop.run(start_and_forget())
    gc.collect()
    assert seen.wait(2)
    loop.close()
    assert reported == ["Task exception was never retrieved: ValueError('boom')"]
