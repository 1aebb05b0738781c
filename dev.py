#!/usr/bin/env python3
"""labkit's set-up and maintenance commands; needs only Python >= 3.11 with pip.

    python3 dev.py lab       set everything up, then open JupyterLab on the lessons
    python3 dev.py test      set everything up, then run the whole test suite
    python3 dev.py refresh   re-execute every lesson in place to refresh its stored outputs
    python3 dev.py conformance   run the Autobahn|Testsuite against the from-scratch server
    python3 dev.py oldest    run the tests with the oldest dependency versions pyproject.toml allows
    python3 dev.py setup     only set up (a virtual environment in .venv)

Set-up is idempotent and quick when nothing changed: it reinstalls only when
pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".labkit-setup"
NOTEBOOKS = ROOT / "notebooks"

#: The whole suite: lint, types, unit tests and every lesson through nbval (strict).
TEST_COMMAND = [
    ["-m", "ruff", "check", "labkit", "tests", "dev.py"],
    ["-m", "ruff", "format", "--check", "labkit", "tests", "dev.py"],
    ["-m", "mypy"],
    [
        "-m",
        "pytest",
        "tests",
        "notebooks",
        "--nbval",
        "--nbval-current-env",
        "--nbval-sanitize-with",
        "notebooks/sanitize.cfg",
        "--nbval-cell-timeout",
        "15",
        "-n",
        "auto",
        "--dist",
        "loadscope",
    ],
]


def say(message: str) -> None:
    print(f"[dev.py] {message}", flush=True)


def run(args: list[str], **kwargs: object) -> None:
    result = subprocess.run(args, cwd=ROOT, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        sys.exit(result.returncode)


#: Debian packages the tests need: a real browser for the WebSocket API tests.
DEBIAN_PACKAGES = {"chromium": "chromium"}


def system_packages() -> None:
    """Install the Debian packages the tests need when running as root (as CI does)."""
    missing = [package for command, package in DEBIAN_PACKAGES.items() if shutil.which(command) is None]
    if not missing:
        return
    if os.name == "posix" and os.geteuid() == 0 and shutil.which("apt-get"):
        say(f"installing Debian packages: {' '.join(missing)}")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        run(["apt-get", "update", "-qq"], env=env)
        run(["apt-get", "install", "-y", "-qq", *missing], env=env, stdout=subprocess.DEVNULL)
    else:
        say(f"not installed: {' '.join(missing)} (browser tests will be skipped; install it to run them)")


def setup() -> None:
    """Create .venv and install labkit with its test tools, unless already done for this pyproject."""
    if sys.version_info < (3, 11):  # noqa: UP036 (dev.py runs before anything checks the version)
        sys.exit(f"labkit needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    system_packages()
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted and PYTHON.exists():
        return
    if not PYTHON.exists():
        say(f"creating a virtual environment in {VENV.name}/")
        venv.EnvBuilder(with_pip=True).create(VENV)
    say("installing labkit and its test tools (pip)")
    run([str(PYTHON), "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
    run([str(PYTHON), "-m", "pip", "install", "--quiet", "-e", ".[test]"])
    STAMP.write_text(wanted)


def child_env() -> dict[str, str]:
    """The environment for tools: the virtual environment first on PATH, so kernels use it."""
    env = dict(os.environ)
    env["PATH"] = str(BIN) + os.pathsep + env.get("PATH", "")
    env["VIRTUAL_ENV"] = str(VENV)
    env.pop("PYTHONPATH", None)
    return env


def lab_command(extra: list[str]) -> list[str]:
    """JupyterLab on the lessons; as root (containers, Binder, CI) it must be allowed explicitly."""
    args = [str(PYTHON), "-m", "jupyterlab", "--notebook-dir", str(NOTEBOOKS)]
    if os.name == "posix" and os.geteuid() == 0:
        args.append("--allow-root")
    return args + extra


def lab(extra: list[str]) -> None:
    setup()
    say("opening JupyterLab on the lessons (Ctrl-C to stop)")
    os.chdir(ROOT)
    args = lab_command(extra)
    env = child_env()
    if os.name == "nt":
        sys.exit(subprocess.call(args, env=env))
    os.execve(str(PYTHON), args, env)


def test(extra: list[str]) -> None:
    setup()
    env = child_env()
    for step in TEST_COMMAND:
        args = [str(PYTHON), *step]
        if step[1] == "pytest":
            args += extra
        say(" ".join(step[1:4]) + (" …" if len(step) > 4 else ""))
        run(args, env=env)


def refresh(extra: list[str]) -> None:
    setup()
    run([str(PYTHON), "-m", "labkit.notebooks", "refresh", *extra], env=child_env())


OLDEST = ROOT / ".venv-oldest"


def lowest_pins() -> list[str]:
    """Each runtime dependency pinned to the lowest release series pyproject.toml allows."""
    import re
    import tomllib

    pins = []
    for requirement in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]:
        match = re.match(r"([A-Za-z0-9_.\-]+(?:\[[a-z,]+\])?)>=([0-9.]+)", requirement)
        if match is None:
            sys.exit(f"dev.py: {requirement!r} has no lower bound to test")
        pins.append(f"{match[1]}=={match[2]}.*")
    return pins


def oldest(extra: list[str]) -> None:
    """The suite again, with every runtime dependency at the oldest versions the ranges allow."""
    system_packages()
    bin_dir = OLDEST / BIN.name
    python = bin_dir / PYTHON.name
    if not python.exists():
        say(f"creating {OLDEST.name}/ for the oldest supported versions")
        venv.EnvBuilder(with_pip=True).create(OLDEST)
    pins = lowest_pins()
    say("installing the oldest supported versions: " + " ".join(pins))
    run([str(python), "-m", "pip", "install", "--quiet", "-e", ".[test]", *pins])
    env = dict(child_env(), PATH=str(bin_dir) + os.pathsep + os.environ.get("PATH", ""), VIRTUAL_ENV=str(OLDEST))
    run([str(python), *TEST_COMMAND[-1], *extra], env=env)


def conformance(extra: list[str]) -> None:
    """The Autobahn|Testsuite against the scratch server (it builds its own Python 2.7 env once)."""
    setup()
    run([str(PYTHON), "tests/conformance/run_autobahn.py", *extra], env=child_env())


COMMANDS = {
    "lab": lab,
    "test": test,
    "refresh": refresh,
    "conformance": conformance,
    "oldest": oldest,
    "setup": lambda extra: setup(),
}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__.strip(), file=sys.stderr)
        sys.exit(2)
    COMMANDS[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
