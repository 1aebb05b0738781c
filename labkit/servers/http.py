"""The ``http`` stack: the demo apps on the standard library's threaded ``http.server``.

It speaks HTTP/1.1 with keep-alive and answers HTTP/1.0 requests by closing the
connection after each response, so a lesson can count TCP connections both ways. What it
cannot do, by design of HTTP, is speak first: a client learns news only by asking again.

- echo:  POST / answers the request body unchanged (same Content-Type).
- clock: GET / answers the current time (what polling reads).
- chat:  POST / with a text adds a message; GET /?after=N answers the messages after N
  as JSON (a chat by polling).
"""

from __future__ import annotations

__all__ = ["HttpBackend"]

import json
import os
import selectors
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..apps import chat_payload, clock_text
from ..errors import LabkitError
from ..record import CLIENT_TO_SERVER, SERVER_TO_CLIENT, HttpHead, Record
from . import Backend


class Handler(BaseHTTPRequestHandler):
    """One TCP connection: possibly several requests when the client keeps it alive."""

    protocol_version = "HTTP/1.1"
    # A request line without a version would get an HTTP/0.9 answer: a bare body with no
    # status line. HTTP/0.9 is long obsolete; answer such lines (garbage, mostly) as 1.0.
    default_request_version = "HTTP/1.0"
    server: LabServer
    error_content_type = "text/plain; charset=utf-8"
    error_message_format = "%(code)d %(message)s: %(explain)s\n"

    def version_string(self) -> str:
        return "labkit-http"

    def setup(self) -> None:
        super().setup()
        self.conn = self.server.record.new_connection()
        self.server.record.add("open", self.conn, f"from {self.client_address[0]}:{self.client_address[1]}")

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.record.add("close", self.conn, "connection closed")

    def parse_request(self) -> bool:
        ok = super().parse_request()
        if ok:
            head = HttpHead.of(self.requestline, self.headers.items())
            self.server.record.add("request", self.conn, self.requestline, data=head)
        return ok

    def send_response(self, code: int, message: str | None = None) -> None:
        self.response_status = f"{code} {message or self.responses.get(code, ('',))[0]}"
        self.response_headers: list[tuple[str, str]] = []
        super().send_response(code, message)

    def send_header(self, keyword: str, value: str) -> None:
        super().send_header(keyword, value)
        self.response_headers.append((keyword, value))

    def end_headers(self) -> None:
        super().end_headers()
        head = HttpHead.of(f"{self.protocol_version} {self.response_status}", self.response_headers)
        self.server.record.add("response", self.conn, self.response_status, data=head)

    def log_message(self, format: str, *args: Any) -> None:
        """The base class writes every request to stderr; errors go to the record instead."""
        if format.startswith("code %d") or "error" in format.lower():
            self.server.record.add("error", getattr(self, "conn", None), format % args)

    def reply(self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.server.record.message(self.conn, SERVER_TO_CLIENT, body)

    def read_body(self) -> bytes | None:
        length = self.headers.get("Content-Length", "0")
        if not length.isdigit() or int(length) > self.server.max_body:
            self.reply(400 if not length.isdigit() else 413, b"a body needs a valid Content-Length up to 1 MiB\n")
            self.close_connection = True
            return None
        body = self.rfile.read(int(length))
        self.server.record.message(self.conn, CLIENT_TO_SERVER, body)
        return body

    def do_GET(self) -> None:
        app = self.server.app
        if app == "clock":
            self.reply(200, clock_text().encode() + b"\n")
        elif app == "chat":
            query = parse_qs(urlsplit(self.path).query)
            after = query.get("after", ["0"])[0]
            if not after.isdigit():
                self.reply(400, b"after must be a message number\n")
                return
            messages = self.server.chat_after(int(after))
            self.reply(200, json.dumps(messages, ensure_ascii=False).encode(), "application/json")
        else:
            self.reply(200, b"POST a body to this URL and it comes back unchanged\n")

    do_HEAD = do_GET

    def do_POST(self) -> None:
        body = self.read_body()
        if body is None:
            return
        app = self.server.app
        if app == "echo":
            self.reply(200, body, self.headers.get("Content-Type", "application/octet-stream"))
        elif app == "chat":
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                self.reply(400, b"a chat message must be UTF-8 text\n")
                return
            number = self.server.chat_post(self.conn, text)
            self.reply(201, json.dumps({"id": number}).encode(), "application/json")
        else:
            self.reply(405, b"the clock only answers GET\n")


class LabServer(ThreadingHTTPServer):
    """A threaded HTTP server that stops at once and closes its kept-alive connections."""

    daemon_threads = True
    max_body = 2**20

    def __init__(self, address: tuple[str, int], app: str, record: Record) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, Handler)
        self.app = app
        self.record = record
        self.open_connections: set[socket.socket] = set()
        self.handler_threads: set[threading.Thread] = set()
        self.lock = threading.Lock()
        self.messages: list[dict[str, object]] = []
        self._wake_r, self._wake_w = os.pipe()
        self._stopping = False

    def process_request(self, request: Any, client_address: Any) -> None:
        """One daemon thread per connection, tracked so that ``stop`` can close and join it."""
        thread = threading.Thread(target=self.process_request_thread, args=(request, client_address), daemon=True)
        with self.lock:
            self.handler_threads = {t for t in self.handler_threads if t.is_alive()}
            self.handler_threads.add(thread)
            self.open_connections.add(request)
        thread.start()

    def shutdown_request(self, request: Any) -> None:
        with self.lock:
            self.open_connections.discard(request)
        super().shutdown_request(request)

    def chat_post(self, sender: int, text: str) -> int:
        with self.lock:
            message = chat_payload(sender, text)
            message["id"] = len(self.messages) + 1
            self.messages.append(message)
            return len(self.messages)

    def chat_after(self, after: int) -> list[dict[str, object]]:
        with self.lock:
            return self.messages[after:]

    def handle_error(self, request: Any, client_address: Any) -> None:
        """The base class prints a traceback to stderr; record it instead."""
        self.record.add("error", None, f"handler failed: {sys.exc_info()[1]!r}")

    def serve_until_stopped(self) -> None:
        """Like ``serve_forever`` but woken by a pipe instead of polling every 0.5 s."""
        with selectors.DefaultSelector() as selector:
            selector.register(self.socket, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while not self._stopping:
                for key, _ in selector.select():
                    if key.fileobj is self.socket and not self._stopping:
                        self._handle_request_noblock()  # type: ignore[attr-defined]

    def stop(self, thread: threading.Thread) -> None:
        self._stopping = True
        os.write(self._wake_w, b"x")
        thread.join(10)
        self.server_close()
        with self.lock:
            connections, threads = list(self.open_connections), list(self.handler_threads)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for handler in threads:
            handler.join(10)
        os.close(self._wake_r)
        os.close(self._wake_w)


class HttpBackend(Backend):
    stack = "http"

    def __init__(self, app: str, record: Record, **options: Any) -> None:
        if options:
            raise LabkitError(f"unknown option(s) for the http stack: {', '.join(sorted(options))}")
        super().__init__(app, record)

    def start(self, host: str, port: int) -> int:
        self.server = LabServer((host, port), self.app, self.record)
        self.thread = threading.Thread(
            target=self.server.serve_until_stopped, name=f"labkit-http-{self.app}", daemon=True
        )
        self.thread.start()
        bound: int = self.server.server_address[1]
        return bound

    def stop(self) -> None:
        self.server.stop(self.thread)
