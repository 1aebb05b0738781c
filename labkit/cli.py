"""The ``labkit`` command, for instructors in class and for scripts.

    labkit serve APP --over STACK [--host H] [--port P] [--redis URL] [--quiet]
                 [--allow-origin ORIGIN ...] [--tls] [--max-rate N]
    labkit lessons [--language es|en]
    labkit doctor
    labkit bench throughput|startup|decode|tap [--json] [--rounds N] [--messages N] [--size BYTES]
    labkit bench connections [--clients N] [--over websocket|scratch|socketio] [--messages N] [--json]
    labkit bench fanout [--processes P] [--clients N] [--messages N] [--over STACK] [--json]
    labkit compare [--updates N] [--rate HZ] [--browser] [--json]

A user mistake gives one line on standard error and exit status 2, never a traceback.
``labkit serve`` prints what clients send with control characters escaped: with
``--host 0.0.0.0`` any student can send text, and raw escape sequences or line breaks
would reach the instructor's terminal (recolour it, forge lines of output).
"""

from __future__ import annotations

__all__ = ["announce", "class_addresses", "main", "printable", "route_source", "tls_note"]

import argparse
import contextlib
import ipaddress
import re
import signal
import socket
import sys
import time
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from .errors import LabkitError
from .i18n import say

#: Addresses that mean "every interface of this machine", and the loopback address that
#: reaches a server listening on them from this machine.
_ALL_INTERFACES = {"0.0.0.0": ("127.0.0.1", socket.AF_INET), "::": ("::1", socket.AF_INET6)}

#: Documentation addresses (RFC 5737, RFC 3849): connecting a UDP socket to one sends
#: nothing, but makes the system pick the interface its default route goes through.
_ROUTE_PROBES = {socket.AF_INET: "192.0.2.1", socket.AF_INET6: "2001:db8::1"}

#: Unicode categories escaped before printing: controls (C0, DEL, C1), invisible format
#: characters (bidirectional overrides), lone surrogates, line and paragraph separators.
_ESCAPED_CATEGORIES = {"Cc", "Cf", "Cs", "Zl", "Zp"}


class _Parser(argparse.ArgumentParser):
    """argparse prints usage and the error on two lines; labkit prints one."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, printable(f"labkit: {message} (see {self.prog} --help)") + "\n")


def _build_parser() -> _Parser:
    from .apps import APPS
    from .bench import CONNECTION_STACKS
    from .servers import STACKS

    parser = _Parser(prog="labkit", description="Real HTTP, WebSocket and Socket.IO servers for the lessons.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    serve = commands.add_parser("serve", help="start a demo server until Ctrl-C")
    serve.add_argument("app", choices=sorted(APPS), help="what the server does")
    serve.add_argument("--over", required=True, choices=sorted(STACKS), help="which stack serves it")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 shares it)"
    )
    serve.add_argument("--port", type=_port, default=0, help="port (default 0: any free port)")
    serve.add_argument("--quiet", action="store_true", help="print only the URLs, not what the server sees")
    serve.add_argument(
        "--redis", metavar="URL", help="share the app's broadcasts with its other processes through this Redis"
    )
    serve.add_argument(
        "--allow-origin",
        dest="allow_origins",
        metavar="ORIGIN",
        action="append",
        type=_origin,
        help="a page origin allowed to connect, like http://127.0.0.1:8000 (repeatable; default: any); "
        "a browser page from any other origin gets 403",
    )
    serve.add_argument(
        "--tls", action="store_true", help="serve wss:// and https:// with a certificate from a local authority"
    )
    serve.add_argument(
        "--max-rate",
        metavar="N",
        type=_rate,
        help="messages per second one connection may send; past it the connection is cut (close 1008)",
    )

    lessons = commands.add_parser("lessons", help="list the lessons")
    lessons.add_argument("--language", choices=("es", "en"), help="only this language")

    commands.add_parser("doctor", help="report versions and known problems")

    bench = commands.add_parser("bench", help="measure labkit against bare libraries")
    bench.add_argument("what", choices=("throughput", "startup", "decode", "tap", "connections", "fanout"))
    bench.add_argument("--json", action="store_true", help="end with one JSON line of results")
    bench.add_argument(
        "--rounds", type=_positive, default=None, help="alternating rounds per server (not connections, fanout)"
    )
    bench.add_argument(
        "--messages",
        type=_positive,
        default=None,
        help="messages per round (throughput, tap), frames (decode), broadcasts (connections, default 5;"
        " fanout, default 100)",
    )
    bench.add_argument(
        "--size", type=_message_size, default=None, help="bytes per message or frame (not startup, connections, fanout)"
    )
    defaults = ", ".join(f"{count} over {stack}" for stack, count in CONNECTION_STACKS.items())
    bench.add_argument(
        "--clients",
        type=_clients,
        default=None,
        help=f"connections: clients to open ({defaults}); fanout: clients across the processes (200)",
    )
    bench.add_argument(
        "--over",
        choices=tuple(CONNECTION_STACKS),
        default=None,
        help="connections: the stack (websocket); fanout: the stack of the chat processes (socketio)",
    )
    bench.add_argument("--processes", type=_positive, default=None, help="fanout: chat processes sharing a Redis (2)")

    compare = commands.add_parser(
        "compare", help="polling, long polling, SSE, WebSocket, Socket.IO: one feed, measured"
    )
    # Read as typed and checked by labkit.compare itself, so that the limits live in one place.
    compare.add_argument("--updates", default="20", help="updates the feed publishes, 1 to 10000 (default 20)")
    compare.add_argument("--rate", default="10", help="updates per second, 0.1 to 100 (default 10)")
    compare.add_argument("--browser", action="store_true", help="the clients are pages in headless Chromium")
    compare.add_argument("--json", action="store_true", help="end with one JSON line: an object per transport")
    return parser


def _check_bench(args: argparse.Namespace) -> None:
    """Options that mean nothing to the benchmark asked for are a mistake, not silently ignored."""
    from .bench import MAX_BROADCASTS

    bench = _Parser(prog="labkit bench")
    if args.what in ("connections", "fanout"):
        unused = [f"--{name}" for name in ("rounds", "size") if getattr(args, name) is not None]
        if args.messages is not None and args.messages > MAX_BROADCASTS:
            bench.error(f"bench {args.what} sends at most {MAX_BROADCASTS} broadcasts (--messages)")
        if args.what == "connections" and args.processes is not None:
            unused.append("--processes")
    else:
        unused = [f"--{name}" for name in ("clients", "over", "processes") if getattr(args, name) is not None]
    if unused:
        bench.error(f"bench {args.what} takes no {' or '.join(unused)}")


#: The serve options that only some stacks take, by the flag that sets them.
_SERVE_FLAGS = {"allow_origins": "--allow-origin", "max_rate": "--max-rate", "tls": "--tls"}


def _check_serve(args: argparse.Namespace) -> None:
    """A flag the chosen stack does not take is a mistake, said before anything starts."""
    from .servers import STACKS, backend_class

    for option, flag in _SERVE_FLAGS.items():
        if getattr(args, option) in (None, False):
            continue
        if option not in backend_class(args.over).options:
            takers = [stack for stack in STACKS if option in backend_class(stack).options]
            listed = f"{', '.join(takers[:-1])} and {takers[-1]}" if len(takers) > 1 else takers[0]
            _Parser(prog="labkit serve").error(f"{flag} works over {listed}, not over {args.over}")


def _origin(text: str) -> str:
    """A page's origin as browsers send it; the rule lives in :func:`labkit.options.origin`."""
    from .options import origin

    try:
        return origin(text)
    except LabkitError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _rate(text: str) -> float:
    """Messages per second, written in ASCII digits; the range is the one ``labkit.serve`` checks."""
    from .servers import SECURITY_OPTIONS

    if not re.fullmatch(r"[0-9]{1,9}(\.[0-9]{1,9})?", text):
        raise argparse.ArgumentTypeError(f"invalid rate {text!r}: use a number of messages per second, like 50")
    try:
        rate: float = SECURITY_OPTIONS["max_rate"].check("--max-rate", float(text))
    except LabkitError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return rate


def _whole_number(text: str) -> int | None:
    """``text`` as a number written in ASCII digits, or None.

    ``int()`` also reads other scripts' digits ("٨٠٨٠" is 8080) and ``str.isdigit()``
    accepts superscripts that ``int()`` refuses: a port is typed in 0-9 or is a mistake.
    """
    return int(text) if re.fullmatch(r"[0-9]+", text) else None


def _port(text: str) -> int:
    number = _whole_number(text)
    if number is None or number > 65535:
        raise argparse.ArgumentTypeError(f"invalid port {text!r}: use a number from 0 to 65535")
    return number


def _positive(text: str) -> int:
    number = _whole_number(text)
    if number is None or number < 1:
        raise argparse.ArgumentTypeError(f"invalid count {text!r}: use a whole number above 0")
    return number


def _clients(text: str) -> int:
    from .bench import MAX_CLIENTS

    number = _whole_number(text)
    if number is None or not 2 <= number <= MAX_CLIENTS:
        raise argparse.ArgumentTypeError(
            f"invalid count {text!r}: use 2 to {MAX_CLIENTS} clients (one sends, the others receive)"
        )
    return number


def _message_size(text: str) -> int:
    from .bench import MAX_SIZE

    number = _whole_number(text)
    if number is None or not 1 <= number <= MAX_SIZE:
        raise argparse.ArgumentTypeError(
            f"invalid size {text!r}: use a number of bytes from 1 to {MAX_SIZE} (the servers' message limit)"
        )
    return number


def printable(text: str) -> str:
    """``text`` with control and invisible format characters escaped (``\\x1b``, ``\\n``, ``\\u202e``).

    What clients send must not drive the instructor's terminal: no escape sequences, no
    line break to start a forged ``#99 error`` line, no bidirectional override.
    """
    return "".join(
        char.encode("unicode_escape").decode("ascii") if unicodedata.category(char) in _ESCAPED_CATEGORIES else char
        for char in text
    )


def route_source(family: socket.AddressFamily, probe: str) -> str | None:
    """The address this machine sends from to reach ``probe``, or None without a route.

    Connecting a UDP socket sends no packet: the system only picks the route.
    """
    with socket.socket(family, socket.SOCK_DGRAM) as probe_socket:
        try:
            probe_socket.connect((probe, 9))
        except OSError:  # no network, or no route to there
            return None
        address: str = probe_socket.getsockname()[0]
        return address


def class_addresses(family: socket.AddressFamily) -> list[str]:
    """Addresses other machines can use to reach this one, in ``family``, best first.

    The address of the default route's interface first, then what the machine's name
    resolves to; loopback, link-local and unspecified addresses never (no other machine
    can use them). Empty when the machine has no network: no default route and a name
    that resolves to loopback only.
    """
    found = [route_source(family, _ROUTE_PROBES[family])]
    with contextlib.suppress(OSError):
        found += [
            str(info[4][0]) for info in socket.getaddrinfo(socket.gethostname(), None, family, socket.SOCK_STREAM)
        ]
    addresses: list[str] = []
    for address in found:
        if address is None or address in addresses:
            continue
        ip = ipaddress.ip_address(address.split("%")[0])
        if not (ip.is_loopback or ip.is_link_local or ip.is_unspecified):
            addresses.append(address)
    return addresses


def _url(scheme: str, host: str, port: int) -> str:
    return f"{scheme}://{f'[{host}]' if ':' in host else host}:{port}"


def announce(url: str, host: str, port: int) -> list[str]:
    """What ``labkit serve`` prints first: a URL that works from this machine, then the class's.

    Tools read the first line (``labkit bench``), so it is always one URL. A server on
    every interface (``0.0.0.0``, ``::``) is reached here through loopback; other
    machines need this machine's addresses, printed after it.
    """
    if host not in _ALL_INTERFACES:
        return [url]
    scheme = url.partition("://")[0]
    loopback, family = _ALL_INTERFACES[host]
    lines = [_url(scheme, loopback, port)]
    addresses = class_addresses(family)
    if not addresses:
        lines.append(
            say(
                f"escucha en todas las interfaces ({host}), pero esta máquina no tiene una dirección que otras "
                "máquinas puedan usar (¿hay red?)",
                f"listening on every interface ({host}), but this machine has no address other machines can use "
                "(is the network up?)",
            )
        )
    for address in addresses:
        lines.append(say("desde otras máquinas: ", "from other machines: ") + _url(scheme, address, port))
    return lines


def tls_note(host: str) -> str:
    """What ``labkit serve --tls`` says after its URLs: who signed the certificate, and how to trust it."""
    from .tls import LocalAuthority, authority

    local = authority()
    names = ", ".join(LocalAuthority.HOSTS)
    line = say(
        f"TLS: certificado para {names} firmado por una autoridad local de labkit, que nadie más conoce: "
        f"confía en {local.ca_file} (o, en Chromium, --ignore-certificate-errors-spki-list={local.spki})",
        f"TLS: a certificate for {names} signed by a local labkit authority nobody else knows: trust "
        f"{local.ca_file} (or, in Chromium, --ignore-certificate-errors-spki-list={local.spki})",
    )
    if host not in LocalAuthority.HOSTS:
        line += say(
            "; otras máquinas no lo aceptarán con otra dirección",
            "; other machines will not accept it at another address",
        )
    return line


def stop_on_signals() -> Callable[[], bool]:
    """Make SIGINT (Ctrl-C) and SIGTERM ask ``labkit serve`` to stop; returns "was it asked?".

    The handlers only note the signal, taking no lock: a handler runs in the main thread
    between two of its bytecodes, wherever they are, and one that set a ``threading.Event``
    could land inside ``Event.wait()`` with the Event's lock held, then wait for that lock
    for ever (python/cpython#126434).
    """
    received: list[int] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda signum, _frame: received.append(signum))
    return lambda: bool(received)


def _serve(
    app: str,
    over: str,
    host: str,
    port: int,
    quiet: bool,
    redis: str | None = None,
    allow_origins: list[str] | None = None,
    tls: bool = False,
    max_rate: float | None = None,
) -> int:
    from .servers import serve

    stop_asked = stop_on_signals()
    given: dict[str, Any] = {"redis": redis, "allow_origins": allow_origins, "tls": tls or None, "max_rate": max_rate}
    server = serve(app, over=over, host=host, port=port, **{k: v for k, v in given.items() if v is not None})
    shown = 0

    def show_new_entries() -> None:
        nonlocal shown
        entries = [e for e in server.record.entries() if e.seq > shown]
        for entry in entries:
            conn = "" if entry.conn is None else f"#{entry.conn}"
            line = " ".join(part for part in (conn, entry.kind, entry.direction, entry.detail) if part)
            print(printable(line), flush=True)
        shown = entries[-1].seq if entries else shown

    try:
        for line in announce(server.url, host, server.port):
            print(printable(line), flush=True)
        if tls and not quiet:
            print(printable(tls_note(host)), flush=True)
        while not stop_asked():
            time.sleep(0.2)
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


def _compare(updates: str, rate: str, browser: bool, as_json: bool) -> int:
    """Print the comparison as a table, then (``as_json``) its figures as one JSON line."""
    import json

    from .compare import compare

    # Numbers in ASCII digits become numbers; anything else reaches compare's checks as typed.
    count: Any = updates if _whole_number(updates) is None else _whole_number(updates)
    hertz: Any = float(rate) if re.fullmatch(r"[0-9]{1,9}(\.[0-9]{0,9})?|\.[0-9]{1,9}", rate) else rate
    comparison = compare(updates=count, rate=hertz, browser=browser)
    print(comparison.text())
    if as_json:
        print(json.dumps(comparison.to_json(), ensure_ascii=False))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    if args.command == "bench":
        _check_bench(args)
    if args.command == "serve":
        _check_serve(args)
    try:
        if args.command == "serve":
            return _serve(
                args.app,
                args.over,
                args.host,
                args.port,
                args.quiet,
                args.redis,
                args.allow_origins,
                args.tls,
                args.max_rate,
            )
        if args.command == "lessons":
            return _lessons(args.language)
        if args.command == "doctor":
            from .doctor import doctor

            report = doctor()
            print(report)
            return 0 if report.ok else 1
        if args.command == "compare":
            return _compare(args.updates, args.rate, args.browser, args.json)
        from .bench import run_bench

        return run_bench(
            args.what,
            as_json=args.json,
            rounds=args.rounds,
            messages=args.messages,
            size=args.size,
            clients=args.clients,
            over=args.over,
            processes=args.processes,
        )
    except LabkitError as exc:
        print(printable(f"labkit: {exc}"), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
