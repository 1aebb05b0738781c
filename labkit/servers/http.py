"""The ``http`` stack: the apps over plain HTTP/1.1, served by aiohttp.

It speaks HTTP/1.1 with keep-alive and closes HTTP/1.0 connections after each response,
so a lesson can count TCP connections both ways (aiohttp parses and frames the messages:
``Expect: 100-continue``, chunked bodies, bodies left unread, idle connections). What it
cannot do, by design of HTTP, is speak first: a client learns news only by asking again.

- ``POST /`` with a body is a message to the app: its reply is the response (``200``);
  a message for others is kept for polling (``201`` with ``{"id": n}``).
- ``GET /`` asks: the clock answers the time now; the chat (and the feed) answer the
  messages after ``?after=N`` as JSON (polling), waiting up to ``&wait=S`` seconds for one
  (long polling), or stream them as Server-Sent Events to a client that accepts
  ``text/event-stream``; the echo says how to use it.
"""

from __future__ import annotations

__all__ = ["HttpBackend"]

import asyncio
import contextlib
import json
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from aiohttp import web

from ..apps import AppError, Send
from ..i18n import Text
from ..loop import stop_accepting
from ..options import Option, size
from ..pages import page_headers_option, page_option
from ..patches import ConnectionCounter
from ..record import CLIENT_TO_SERVER, SERVER_TO_CLIENT, HttpHead
from . import SECURITY_OPTIONS, STOP_TIMEOUT, AsyncBackend

#: The ``Server`` header of every response: the stack, not the versions installed.
SERVER_NAME = "labkit-http"
#: Seconds an idle kept-alive connection stays open (a lesson keeps one across cells).
IDLE_TIMEOUT = 600.0
#: Connections waiting to be accepted before the system refuses more.
BACKLOG = 512
#: ``?after=N``: ASCII digits only (``str.isdigit`` also accepts "²").
_NUMBER = re.compile(r"[0-9]{1,18}")
#: ``?wait=S``: seconds a long poll may wait, ASCII digits with an optional fraction.
_SECONDS = re.compile(r"[0-9]{1,3}(\.[0-9]{1,3})?")
#: The longest a long poll waits before answering with nothing new.
MAX_WAIT = 60.0


def aiohttp_listeners(runner: web.BaseRunner) -> list[Any]:
    """The listening sockets of an aiohttp runner's sites (each site keeps its asyncio server)."""
    return [sock for site in runner.sites for sock in getattr(getattr(site, "_server", None), "sockets", None) or ()]


class HttpBackend(AsyncBackend):
    stack = "http"
    options: ClassVar[Mapping[str, Option]] = {
        "max_size": Option(size(none=False), Text("bytes por cuerpo (1 MiB)", "bytes per body (1 MiB)")),
        "page": page_option,
        "page_headers": page_headers_option,
        "tls": SECURITY_OPTIONS["tls"],
    }

    async def serve(self, host: str, port: int) -> int:
        #: Messages kept for polling, long polling and Server-Sent Events; ``news`` wakes waiters.
        self.log: list[dict[str, Any]] = []
        self.news: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.publisher: asyncio.Task[None] | None = None
        max_size: int = self.settings.get("max_size", 2**20)
        logger = self.record.logger()
        server = web.Server(
            self.handle,
            request_factory=None,
            access_log=None,
            logger=logger,
            keepalive_timeout=IDLE_TIMEOUT,
            max_field_size=8190,
        )
        self.counter = ConnectionCounter(server, self.record)
        self.max_size = max_size
        self.runner = web.ServerRunner(server, handle_signals=False, shutdown_timeout=0.25)
        await self.runner.setup()
        site = web.TCPSite(self.runner, host, port, backlog=BACKLOG, ssl_context=self.ssl_context)
        try:
            await site.start()
        except BaseException:
            await self.runner.cleanup()
            raise
        bound: int = self.runner.addresses[0][1]
        return bound

    async def shutdown(self) -> None:
        await stop_accepting(aiohttp_listeners(self.runner))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STOP_TIMEOUT):
                await self.runner.cleanup()

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        conn = self.counter.number(request.protocol)
        version = f"HTTP/{request.version.major}.{request.version.minor}"
        start = f"{request.method} {request.raw_path} {version}"
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.raw_headers]
        self.record.add("request", conn, HttpHead.of(start, headers))
        for_the_page = self.page is not None and self.page.answer(request.raw_path) is not None
        if self.app.every is not None and self.publisher is None and not for_the_page:
            # The feed starts with the first request for the app, not for its page.
            self.publisher = asyncio.create_task(self.publish(self.app.every))
        if (
            request.method == "GET"
            and self.app.http_get == "log"
            and "text/event-stream" in request.headers.get("Accept", "")
            and not for_the_page
        ):
            return await self.stream_events(request, conn, version)
        try:
            response = await self.answer(request, conn)
        except web.HTTPException as exc:
            response = self.text(exc.status, exc.text or exc.reason)
        await response.prepare(request)
        status = f"{version} {response.status} {response.reason}"
        self.record.add("response", conn, HttpHead.of(status, response.headers.items()))
        if isinstance(response, web.Response) and response.body is not None and request.method != "HEAD":
            self.record.message(conn, SERVER_TO_CLIENT, bytes(response.body))  # type: ignore[arg-type]
        await response.write_eof()
        return response

    async def answer(self, request: web.BaseRequest, conn: int | None) -> web.Response:
        app = self.app
        if request.method in ("GET", "HEAD") and self.page is not None:
            served = self.page.answer(request.raw_path)
            if served is not None:  # with a page, the app answers at every other path (/app, …)
                headers = [*self.base_headers(served.content_type).items(), *served.headers]
                return web.Response(status=served.status, body=served.body, headers=headers)
        if request.method in ("GET", "HEAD"):
            if app.http_get == "tick":
                sends = [a for a in app.tick(conn or 0) if isinstance(a, Send)]
                return self.text(200, f"{sends[0].message}\n" if sends else "")
            if app.http_get == "log":
                after = request.query.get("after", "0")
                wait = request.query.get("wait", "0")
                if not _NUMBER.fullmatch(after) or not _SECONDS.fullmatch(wait) or float(wait) > MAX_WAIT:
                    return self.text(
                        400,
                        str(
                            Text(
                                f"after es un número de mensaje y wait, segundos de 0 a {MAX_WAIT:g}\n",
                                f"after is a message number and wait seconds from 0 to {MAX_WAIT:g}\n",
                            )
                        ),
                    )
                if float(wait) > 0:
                    await self.news_after(int(after), float(wait))  # long polling (RFC 6202 §2)
                return self.json(200, self.log[int(after) :])
            return self.text(200, str(app.usage))
        if request.method != "POST" or not app.http_post:
            allowed = "GET, HEAD, POST" if app.http_post else "GET, HEAD"
            response = self.text(
                405, str(Text(f"{app.name} solo atiende {allowed}\n", f"{app.name} answers {allowed}\n"))
            )
            response.headers["Allow"] = allowed
            return response
        if request.headers.get("Expect", "").lower() == "100-continue":
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # RFC 9110 §10.1.1
        body = await self.read_body(request)
        self.record.message(conn, CLIENT_TO_SERVER, body)
        try:
            actions = app.receive(conn or 0, body)
        except AppError as exc:
            self.record.error(conn, exc.text)
            return self.text(400, f"{exc.text}\n")
        for action in actions:
            if isinstance(action, Send) and action.reply:
                content_type = request.headers.get("Content-Type", "application/octet-stream")
                return web.Response(status=200, body=action.message, headers=self.base_headers(content_type))
        kept = [a for a in actions if isinstance(a, Send)]
        for send in kept:
            self.keep(send.message)
        if kept:
            return self.json(201, {"id": len(self.log)})
        return self.text(204, "")

    def keep(self, message: Any) -> None:
        """Keep a message for every client that asks (polling) or waits (long polling, SSE)."""
        kept = dict(message) if isinstance(message, dict) else {"message": message}
        kept["id"] = len(self.log) + 1
        self.log.append(kept)
        news, self.news = self.news, asyncio.get_running_loop().create_future()
        news.set_result(None)

    async def news_after(self, after: int, wait: float) -> None:
        """Wait until a message after ``after`` exists, at most ``wait`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while len(self.log) <= after and (left := deadline - loop.time()) > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.news), left)

    async def publish(self, every: float) -> None:
        """The app's publications, kept for every client, on a fixed schedule (no drift)."""
        loop = asyncio.get_running_loop()
        start, n = loop.time(), 0
        while (actions := self.app.publish(n)) is not None:
            for action in actions:
                if isinstance(action, Send):
                    self.keep(action.message)
            n += 1
            await asyncio.sleep(max(0.0, start + n * every - loop.time()))

    async def stream_events(self, request: web.BaseRequest, conn: int | None, version: str) -> web.StreamResponse:
        """Server-Sent Events (HTML Standard §9.2): one response that never ends, one event per message.

        ``Last-Event-ID`` (sent by a reconnecting EventSource) or ``?after=N`` says where to resume.
        """
        last = request.headers.get("Last-Event-ID", request.query.get("after", "0"))
        if not _NUMBER.fullmatch(last):
            return self.text(400, "Last-Event-ID / after: a message number\n")
        sent = int(last)
        response = web.StreamResponse(
            headers={"Server": SERVER_NAME, "Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        self.record.add("response", conn, HttpHead.of(f"{version} 200 OK", response.headers.items()))
        try:
            while True:
                while sent < len(self.log):
                    message = self.log[sent]
                    event = f"id: {message['id']}\ndata: {json.dumps(message, ensure_ascii=False)}\n\n".encode()
                    await response.write(event)
                    self.record.message(conn, SERVER_TO_CLIENT, event)
                    sent += 1
                await asyncio.shield(self.news)
        except (ConnectionResetError, ConnectionError):
            pass
        return response

    async def read_body(self, request: web.BaseRequest) -> bytes:
        """The whole body (chunked or not), or 413 when it passes ``max_size``."""
        if request.content_length is not None and request.content_length > self.max_size:
            raise web.HTTPRequestEntityTooLarge(max_size=self.max_size, actual_size=request.content_length)
        body = bytearray()
        async for chunk in request.content.iter_any():
            body += chunk
            if len(body) > self.max_size:
                raise web.HTTPRequestEntityTooLarge(max_size=self.max_size, actual_size=len(body))
        return bytes(body)

    @staticmethod
    def base_headers(content_type: str) -> dict[str, str]:
        return {"Server": SERVER_NAME, "Content-Type": content_type}

    def text(self, status: int, text: str) -> web.Response:
        body = text.encode()
        headers = self.base_headers("text/plain; charset=utf-8")
        return web.Response(status=status, body=body if status != 204 else None, headers=headers)

    def json(self, status: int, value: Any) -> web.Response:
        body = json.dumps(value, ensure_ascii=False).encode()
        return web.Response(status=status, body=body, headers=self.base_headers("application/json"))
