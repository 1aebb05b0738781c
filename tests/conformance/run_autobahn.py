"""Run the Autobahn|Testsuite against the scratch stack's echo server and judge the report.

    .venv/bin/python tests/conformance/run_autobahn.py            # cases 1-7, 9, 10
    .venv/bin/python tests/conformance/run_autobahn.py --cases 5.* 7.1.1

Autobahn|Testsuite (``wstest``, PyPI ``autobahntestsuite``) is the independent conformance
suite for RFC 6455. It still runs on Python 2.7 only (it pins Twisted 19.10 and autobahn
0.10.9), so this script builds its own Python 2.7 virtualenv in ``.venv-autobahn/`` the
first time, with every version pinned, and reuses it afterwards. It then starts
``labkit.serve("echo", over="scratch")``, runs ``wstest -m fuzzingclient`` against it,
and reads ``.autobahn-reports/index.json``.

Exit status 0 when every case is OK, NON-STRICT, INFORMATIONAL or UNIMPLEMENTED (the
compression cases 12 and 13 would be UNIMPLEMENTED: the server negotiates no extension,
so they are not run), 1 on anything else, 2 when the suite cannot be set up. The last
line is a summary such as ``autobahn: 303 cases, 303 OK (22.1 s)``.
"""

from __future__ import annotations

import argparse
import collections
import glob
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv-autobahn"
REPORTS = ROOT / ".autobahn-reports"
AGENT = "labkit-scratch"

#: §5-§7 of RFC 6455 (framing, ping/pong, reserved bits, opcodes, fragmentation, UTF-8,
#: close), 9 (limits and performance: 16 MiB messages, many small ones) and 10 (fragmented
#: messages from the peer). 12 and 13 test permessage-deflate, which is not implemented.
DEFAULT_CASES = ("1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "9.*", "10.*")
#: Verdicts that are not failures: NON-STRICT and INFORMATIONAL are Autobahn's own notes.
ACCEPTED = {"OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED"}
#: Case 9.1.6 sends a 16 MiB message; the default limit (1 MiB) would answer it with 1009.
MAX_SIZE = 2**25

#: The versions ``pip install autobahntestsuite==25.10.1`` resolved to on Python 2.7.18.
BOOTSTRAP = "virtualenv==20.15.1"  # the last virtualenv series that creates Python 2.7 envs
PINS = """\
autobahntestsuite==25.10.1
attrs==21.4.0
autobahn==0.10.9
Automat==22.10.0
cffi==1.15.1
constantly==15.1.0
cryptography==3.3.2
enum34==1.1.10
hyperlink==21.0.0
idna==2.10
incremental==16.10.1
ipaddress==1.0.23
Jinja2==2.11.3
klein==17.10.0
linecache2==1.0.0
MarkupSafe==1.1.1
pyasn1==0.5.1
pyasn1-modules==0.3.0
pycparser==2.21
PyHamcrest==1.10.1
pyOpenSSL==19.1.0
service-identity==18.1.0
setuptools==44.0.0
six==1.16.0
traceback2==1.4.0
Twisted==19.10.0
txaio==2.1.0
typing==3.10.0.0
ujson==2.0.3
unittest2==1.1.0
Werkzeug==1.0.1
wsaccel==0.6.6
zope.interface==4.6.0
"""


class SetupError(Exception):
    """The suite could not be installed or started."""


def find_python27() -> str:
    candidates = [os.environ.get("LABKIT_PYTHON27", "")]
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/2.7*/bin/python2.7")), reverse=True)
    candidates += [shutil.which("python2.7") or ""]  # a pyenv shim is found here but may not run
    for candidate in filter(None, candidates):
        check = subprocess.run([candidate, "-c", "import sys; print(sys.version[:4])"], capture_output=True)
        if check.stdout.strip() == b"2.7.":
            return candidate
    raise SetupError("Autobahn|Testsuite needs Python 2.7: install it (pyenv install 2.7.18) or set LABKIT_PYTHON27")


def run(command: list[str], what: str, env: dict[str, str] | None = None) -> None:
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise SetupError(f"{what} failed ({result.returncode}):\n{result.stdout[-3000:]}{result.stderr[-3000:]}")


def ensure_venv() -> Path:
    """``.venv-autobahn/bin/wstest``, installing the pinned suite if it is missing or stale."""
    wstest, stamp = VENV / "bin" / "wstest", VENV / "labkit-pins.txt"
    if wstest.exists() and stamp.exists() and stamp.read_text() == PINS:
        return wstest
    python27 = find_python27()
    shutil.rmtree(VENV, ignore_errors=True)
    bootstrap = VENV / "bootstrap"
    started = time.monotonic()
    print(f"autobahn: creating {VENV.name}/ with {python27} (once; about a minute)", file=sys.stderr)
    run([python27, "-m", "pip", "install", "-q", "--target", str(bootstrap), BOOTSTRAP], "installing virtualenv")
    env = {**os.environ, "PYTHONPATH": str(bootstrap)}
    run([python27, "-m", "virtualenv", "-q", str(VENV)], "creating the virtualenv", env=env)
    constraints = VENV / "constraints.txt"
    constraints.write_text(PINS)
    pip = [str(VENV / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    run([*pip, "-c", str(constraints), "autobahntestsuite"], "installing autobahntestsuite")
    stamp.write_text(PINS)
    print(f"autobahn: installed in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return wstest


def run_suite(wstest: Path, cases: list[str], timeout: float) -> tuple[dict[str, dict[str, object]], list[str]]:
    """Serve echo over scratch, run the fuzzing client, return its verdicts and the server's own errors."""
    sys.path.insert(0, str(ROOT))
    import labkit
    from labkit.i18n import using

    shutil.rmtree(REPORTS, ignore_errors=True)
    REPORTS.mkdir()
    with labkit.serve("echo", over="scratch", name="autobahn", max_size=MAX_SIZE) as server:
        spec = {
            "outdir": str(REPORTS),
            "servers": [{"agent": AGENT, "url": server.url}],
            "cases": cases,
            "exclude-cases": ["12.*", "13.*"],
            "exclude-agent-cases": {},
        }
        (REPORTS / "spec.json").write_text(json.dumps(spec, indent=2))
        with open(REPORTS / "wstest.log", "w") as log:
            result = subprocess.run(
                [str(wstest), "-m", "fuzzingclient", "-s", "spec.json"],
                cwd=REPORTS,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=timeout,
            )
        # Errors the record holds that are not the peer's fault: a bug of the server's own.
        with using("en"):
            failed = ("internal error", "the handler failed")
            internal = [e.detail for e in server.record.entries("error") if e.detail.startswith(failed)]
    if result.returncode != 0:
        raise SetupError(f"wstest exited with {result.returncode}; see {REPORTS / 'wstest.log'}")
    index = json.loads((REPORTS / "index.json").read_text())
    return index[AGENT], internal


def case_key(case: str) -> list[int]:
    return [int(part) for part in case.split(".")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="+", default=list(DEFAULT_CASES), help="case patterns, e.g. 1.* 7.1.1")
    parser.add_argument("--timeout", type=float, default=900, help="seconds allowed for wstest (default 900)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        verdicts, internal = run_suite(ensure_venv(), args.cases, args.timeout)
    except (SetupError, subprocess.TimeoutExpired) as exc:
        print(f"autobahn: could not run: {exc}", file=sys.stderr)
        return 2
    elapsed = time.monotonic() - started
    counts: collections.Counter[str] = collections.Counter()
    bad = []
    for case in sorted(verdicts, key=case_key):
        verdict = verdicts[case]
        behavior, close = str(verdict["behavior"]), str(verdict["behaviorClose"])
        counts[behavior] += 1
        if behavior not in ACCEPTED or close not in ACCEPTED:
            bad.append(f"  {case}: {behavior} (close: {close}); see {REPORTS / str(verdict['reportfile'])}")
    for line in bad:
        print(line)
    for error in internal:
        print(f"  server error: {error}")
    order = ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED"]
    ranked = sorted(counts, key=lambda k: (order.index(k) if k in order else len(order), k))
    shown = ", ".join(f"{counts[k]} {k}" for k in ranked)
    print(f"autobahn: {len(verdicts)} cases, {shown} ({elapsed:.1f} s)")
    return 1 if bad or internal or not verdicts else 0


if __name__ == "__main__":
    sys.exit(main())
