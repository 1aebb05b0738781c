"""A daemon thread with its own asyncio event loop.

A Jupyter kernel already runs an event loop, so ``asyncio.run()`` fails inside a cell and
``nest_asyncio`` is archived. Each server gets a loop of its own in a daemon thread instead;
the cell talks to it through thread-safe calls and works the same with or without
top-level ``await``.
"""

from __future__ import annotations

__all__ = ["LoopThread", "stop_accepting"]

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class Listener(Protocol):
    """A listening socket, as asyncio's ``Server.sockets`` lists them."""

    def fileno(self) -> int: ...


async def stop_accepting(listeners: Iterable[Listener]) -> None:
    """Take no new connection, then let those accepted a moment ago reach their server.

    An asyncio server closed after it accepted a connection but before the task that builds
    the connection's transport has run leaves that socket half built and never closed
    (CPython gh-109564): a ResourceWarning on 3.11, and on 3.13.0 an error inside asyncio's
    ``Server`` when the garbage collector finds it. Stopping the reader of each listening
    socket first, then yielding, lets those transports attach and their protocols start, so
    the server's usual close reaches them.
    """
    loop = asyncio.get_running_loop()
    for listener in listeners:
        loop.remove_reader(listener.fileno())
    for _ in range(3):  # the accept task builds the transport; connection_made; the handler starts
        await asyncio.sleep(0)


class LoopThread:
    """Run coroutines on a private event loop in a daemon thread.

    ``on_error`` receives, as one line, what asyncio would otherwise print to stderr
    (an unhandled task error), which in a kernel lands in whatever cell runs next.
    """

    def __init__(self, name: str, on_error: Callable[[str], object] | None = None) -> None:
        self.loop = asyncio.new_event_loop()
        self.on_error = on_error
        if on_error is not None:
            self.loop.set_exception_handler(self._report)
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()
        self._ready.wait()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._ready.set)
        try:
            self.loop.run_forever()
        finally:
            self._cancel_leftovers()
            self.loop.close()

    def _cancel_leftovers(self) -> None:
        """Cancel what is left, then let the callbacks already scheduled run before the loop closes.

        An aborted transport closes its socket in a callback (``connection_lost``); a loop
        closed before it runs leaves the transport to the garbage collector, which warns
        "unclosed transport" and, on Python 3.13.0, fails inside asyncio's own ``Server``.
        """
        tasks = asyncio.all_tasks(self.loop)
        for task in tasks:
            task.cancel()
        if tasks:
            self.loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        for _ in range(3):  # connection_lost, then what it schedules in turn
            self.loop.run_until_complete(asyncio.sleep(0))

    def _report(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, asyncio.CancelledError):
            # Python 3.11's start_server callback asks a handler cancelled at shutdown for
            # its exception and reports the CancelledError: noise, not an error.
            return
        assert self.on_error is not None
        self.on_error(f"{context.get('message', 'error')}{f': {exc!r}' if exc else ''}")

    def finish(self, shutdown: Coroutine[Any, Any, None], timeout: float = 5) -> bool:
        """Run ``shutdown`` on the loop, then close it; False if shutdown took over ``timeout``."""
        try:
            self.run(shutdown, timeout)
            return True
        except TimeoutError:
            return False
        finally:
            self.close()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = 10) -> T:
        """Run ``coro`` on the loop and wait for its result in the calling thread."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        """Stop the loop and join the thread; safe to call twice."""
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
