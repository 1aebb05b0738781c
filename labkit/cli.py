"""The ``labkit`` command, for instructors in class and for scripts.

    labkit serve APP --over STACK [--host H] [--port P]
    labkit lessons [--language es|en]
    labkit doctor
    labkit bench throughput|startup [--json]

A user mistake gives one line on standard error and exit status 2, never a traceback.
"""

from __future__ import annotations

__all__ = ["main"]

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from typing import NoReturn

from .errors import LabkitError


class _Parser(argparse.ArgumentParser):
    """argparse prints usage and the error on two lines; labkit prints one."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"labkit: {message} (see labkit {self.prog.split()[-1]} --help)\n")


def _build_parser() -> _Parser:
    from .servers import APPS, STACKS

    parser = _Parser(prog="labkit", description="Real HTTP, WebSocket and Socket.IO servers for the lessons.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    serve = commands.add_parser("serve", help="start a demo server until Ctrl-C")
    serve.add_argument("app", choices=sorted(APPS), help="what the server does")
    serve.add_argument("--over", required=True, choices=sorted(STACKS), help="which stack serves it")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 shares it)"
    )
    serve.add_argument("--port", type=_port, default=0, help="port (default 0: any free port)")
    serve.add_argument("--quiet", action="store_true", help="print only the URL, not what the server sees")

    lessons = commands.add_parser("lessons", help="list the lessons")
    lessons.add_argument("--language", choices=("es", "en"), help="only this language")

    commands.add_parser("doctor", help="report versions and known problems")

    bench = commands.add_parser("bench", help="measure labkit against bare libraries")
    bench.add_argument("what", choices=("throughput", "startup"))
    bench.add_argument("--json", action="store_true", help="end with one JSON line of results")
    bench.add_argument("--rounds", type=_positive, default=None, help="alternating rounds per server")
    bench.add_argument("--messages", type=_positive, default=None, help="messages per round (throughput)")
    return parser


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"invalid port {text!r}: use a number from 0 to 65535")
    return int(text)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"invalid count {text!r}: use a whole number above 0")
    return int(text)


def _serve(app: str, over: str, host: str, port: int, quiet: bool) -> int:
    from .servers import serve

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    server = serve(app, over=over, host=host, port=port)
    print(server.url, flush=True)
    shown = 0

    def show_new_entries() -> None:
        nonlocal shown
        entries = [e for e in server.record.entries() if e.seq > shown]
        for entry in entries:
            conn = "" if entry.conn is None else f"#{entry.conn}"
            print(" ".join(part for part in (conn, entry.kind, entry.direction, entry.detail) if part), flush=True)
        shown = entries[-1].seq if entries else shown

    try:
        while not stop.wait(0.2):
            if not quiet:
                show_new_entries()
    finally:
        server.stop()
        if not quiet:
            show_new_entries()
    return 0


def _lessons(language: str | None) -> int:
    from .notebooks import LESSONS_DIR, lessons

    found = lessons(language)
    if not found:
        print(f"labkit: no lessons found in {LESSONS_DIR}", file=sys.stderr)
        return 2
    for lesson in found:
        print(f"{lesson.language}  {lesson.number}  {lesson.title}  ({lesson.path.relative_to(LESSONS_DIR)})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    try:
        if args.command == "serve":
            return _serve(args.app, args.over, args.host, args.port, args.quiet)
        if args.command == "lessons":
            return _lessons(args.language)
        if args.command == "doctor":
            from .doctor import doctor

            report = doctor()
            print(report)
            return 0 if report.ok else 1
        from .bench import run_bench

        return run_bench(args.what, as_json=args.json, rounds=args.rounds, messages=args.messages)
    except LabkitError as exc:
        print(f"labkit: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
