#!/usr/bin/env python3
"""labkit's set-up and maintenance commands; needs only Python >= 3.11 with pip.

    python3 dev.py lab       set up what the lessons need, then open JupyterLab on your copy of them
    python3 dev.py reset LESSON...   put lessons in your copy back to the stored version (or: reset all)
    python3 dev.py test      set up what the tests need too, then run the whole test suite
    python3 dev.py refresh   re-execute every stored lesson in place to refresh its outputs
    python3 dev.py conformance   run the Autobahn|Testsuite against the from-scratch server
    python3 dev.py oldest    run the tests with the oldest dependency versions pyproject.toml allows
    python3 dev.py setup     only set up, for the tests too (a virtual environment in .venv)

Set-up is idempotent and quick when nothing changed: it reinstalls only when pyproject.toml
changes or when the command needs more than was installed (``lab`` installs labkit; ``test``
adds the test tools and, as root on Debian, Chromium). ``.venv`` belongs to the Python that
created it; run by another minor version of Python, dev.py uses ``.venv-X.Y`` instead.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import venv
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

ROOT = Path(__file__).resolve().parent
NOTEBOOKS = ROOT / "notebooks"
#: The student's working copy of the lessons, git-ignored: the lab edits it, never ``notebooks/``.
LAB = ROOT / "lab"
#: What the lab opens first; a path under LAB.
FIRST_LESSON = "es/00-bienvenida.ipynb"
#: Inside LAB: the stored version each lesson was copied from, to tell when a lesson changed since.
COPIED_FROM = ".copied-from.json"
#: What set-up installs for each command: pip extras of labkit, and Debian packages (as root, with apt).
EXTRAS = {"lab": (), "test": ("test",)}
#: Debian packages the tests need, by the command each provides: a real browser for the browser tests.
DEBIAN_PACKAGES = {"chromium": "chromium", "redis-server": "redis-server", "nginx": "nginx"}
#: JupyterLab settings for the lab (the venv's ``share/jupyter/lab/settings/overrides.json``): do not ask
#: about fetching Jupyter news on first start (JupyterLab 4 asks when ``fetchNews`` is "none"), and do
#: not announce JupyterLab updates (4.1 does even without news): nothing to distract from the lesson.
LAB_SETTINGS = {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False}}

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


def fail(message: str) -> NoReturn:
    """A mistake or a missing piece the user can fix: one line, exit status 2."""
    print(f"dev.py: {message}", file=sys.stderr, flush=True)
    sys.exit(2)


def run(args: list[str], **kwargs: object) -> None:
    result = subprocess.run(args, cwd=ROOT, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        sys.exit(result.returncode)


def minor_version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def venv_minor_version(path: Path) -> str | None:
    """The ``X.Y`` of the Python that created the virtual environment at ``path`` (None: none there)."""
    try:
        config = (path / "pyvenv.cfg").read_text(encoding="utf-8")
    except OSError:
        return None
    match = re.search(r"^version(?:_info)?\s*=\s*(\d+\.\d+)", config, re.MULTILINE)
    return match[1] if match else None


def venv_dir(root: Path = ROOT) -> Path:
    """``.venv`` belongs to the Python that created it; another minor version gets ``.venv-X.Y``.

    So ``python3.13 dev.py test`` (CI, or a student trying a new Python) never clobbers ``.venv``.
    """
    default = root / ".venv"
    if venv_minor_version(default) in (None, minor_version()):
        return default
    return root / f".venv-{minor_version()}"


VENV = venv_dir()
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".labkit-setup"


def system_packages() -> None:
    """Install the Debian packages the tests need when running as root (as CI does)."""
    missing = [package for command, package in DEBIAN_PACKAGES.items() if shutil.which(command) is None]
    if not missing:
        return
    if os.name == "posix" and os.geteuid() == 0 and shutil.which("apt-get"):
        say(f"installing Debian packages: {' '.join(missing)}")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        steps = [["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *missing]]
        if all(subprocess.run(step, env=env, stdout=subprocess.DEVNULL).returncode == 0 for step in steps):
            return
        say(f"apt-get could not install {' '.join(missing)}: the tests that need them will be skipped")
    else:
        say(f"not installed: {' '.join(missing)} (the tests that need them will be skipped; install them to run them)")


def venv_help() -> str:
    """What to install when this Python cannot create a virtual environment with pip in it."""
    here = f"Python {sys.version.split()[0]} cannot create a virtual environment with pip (no ensurepip)"
    if Path("/etc/debian_version").exists():  # Debian and Ubuntu split venv support off
        return f"{here}; install it with: apt install python{minor_version()}-venv"
    return f"{here}; install a Python that includes venv and pip (python.org, or your system's packages)"


def create_venv(path: Path) -> None:
    """A virtual environment with pip, or one line saying what is missing (Debian's python3-venv)."""
    try:
        import ensurepip  # noqa: F401 (only to know it is there)
    except ImportError:
        fail(venv_help())
    say(f"creating a virtual environment in {path.name}/")
    try:
        venv.EnvBuilder(with_pip=True).create(path)
    except (subprocess.CalledProcessError, OSError):
        shutil.rmtree(path, ignore_errors=True)
        fail(venv_help())


def read_stamp(stamp: Path) -> tuple[str, set[str]]:
    """What the last set-up installed: the pyproject.toml hash and labkit's extras ('' and none if unknown)."""
    try:
        data = json.loads(stamp.read_text(encoding="utf-8"))
        return str(data["pyproject"]), {str(extra) for extra in data["extras"]}
    except (OSError, ValueError, KeyError, TypeError):
        return "", set()


def setup(command: str = "test", path: Path | None = None) -> None:
    """Make the venv ready for ``command``: labkit with the extras it needs, unless already there.

    The stamp records what was installed, so ``lab`` then ``test`` installs only the rest and
    ``test`` then ``lab`` installs nothing; a changed pyproject.toml reinstalls all that was there.
    """
    if sys.version_info < (3, 11):  # noqa: UP036 (dev.py runs before anything checks the version)
        fail(f"labkit needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    path = VENV if path is None else path
    python = path / BIN.name / PYTHON.name
    stamp = path / STAMP.name
    if command == "test":
        system_packages()
    wanted = set(EXTRAS[command])
    pyproject = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    installed_for, installed = read_stamp(stamp)
    if not (python.exists() and installed_for == pyproject and wanted <= installed):
        install(path, python, stamp, pyproject, wanted, installed)
    page_assets(python)


def install(path: Path, python: Path, stamp: Path, pyproject: str, wanted: set[str], installed: set[str]) -> None:
    """Create the venv if need be and pip-install labkit with every extra asked for now or before."""
    if not python.exists():
        create_venv(path)
        installed = set()
    extras = sorted(wanted | installed)
    say("installing labkit" + (f" with its {', '.join(extras)} tools" if extras else "") + " (pip)")
    run([str(python), "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
    run([str(python), "-m", "pip", "install", "--quiet", "-e", f".[{','.join(extras)}]" if extras else "."])
    stamp.write_text(json.dumps({"pyproject": pyproject, "extras": extras}) + "\n", encoding="utf-8")


def page_assets(python: Path = PYTHON) -> None:
    """Files pages load, from the package registries: never committed, always pinned and checked.

    The socket.io browser client comes from the npm registry (``python -m labkit.assets``:
    pinned version, integrity hash checked, no Node needed). Where Node.js is installed,
    lesson 08's Node server gets its socket.io with ``npm ci`` (pinned by package-lock.json).
    """
    run([str(python), "-m", "labkit.assets"], env=child_env())
    node = ROOT / "labkit" / "node"
    lock, installed = node / "package-lock.json", node / "node_modules" / ".package-lock.json"
    if shutil.which("npm") is None:
        say("Node.js is not installed: lesson 08's Node server is optional (the test that needs it is skipped)")
        return
    if installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime:
        return
    say("installing the Node server's socket.io (npm ci)")
    result = subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=node, stdout=subprocess.DEVNULL
    )
    if result.returncode != 0:
        say("npm ci failed: lesson 08's Node server will not run")


def child_env() -> dict[str, str]:
    """The environment for tools: the virtual environment first on PATH, so kernels use it."""
    env = dict(os.environ)
    env["PATH"] = str(BIN) + os.pathsep + env.get("PATH", "")
    env["VIRTUAL_ENV"] = str(VENV)
    env.pop("PYTHONPATH", None)
    return env


def stored_lessons(source: Path = NOTEBOOKS) -> list[str]:
    """Every stored lesson as a path relative to ``source``, e.g. ``es/00-bienvenida.ipynb``."""
    return sorted(p.relative_to(source).as_posix() for p in source.glob("*/[0-9][0-9]-*.ipynb"))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def copy_lesson(lesson: str, source: Path, target: Path, copied_from: dict[str, str]) -> None:
    (target / lesson).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source / lesson, target / lesson)
    copied_from[lesson] = digest(source / lesson)


def read_copied_from(target: Path) -> dict[str, str]:
    try:
        data = json.loads((target / COPIED_FROM).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def write_copied_from(target: Path, copied_from: dict[str, str]) -> None:
    (target / COPIED_FROM).write_text(json.dumps(copied_from, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def prepare_lab(source: Path = NOTEBOOKS, target: Path = LAB) -> list[str]:
    """Copy into the working copy the stored lessons it lacks; never overwrite one (the student's work).

    Returns the lessons copied. Lessons whose stored version changed since they were copied
    (after a ``git pull``) are named in one line, with the command that takes the new version.
    """
    copied_from = read_copied_from(target)
    copied, changed = [], []
    for lesson in stored_lessons(source):
        if not (target / lesson).exists():
            copy_lesson(lesson, source, target, copied_from)
            copied.append(lesson)
        elif lesson in copied_from and copied_from[lesson] != digest(source / lesson):
            changed.append(lesson)
    if copied:
        write_copied_from(target, copied_from)
    if changed:
        names = ", ".join(lesson.removesuffix(".ipynb") for lesson in changed)
        say(f"changed since you copied them: {names}; python3 dev.py reset LESSON takes the new version")
    return copied


def find_lessons(names: list[str], source: Path = NOTEBOOKS) -> list[str]:
    """The lessons the names mean: ``all``, ``02``, ``02-handshake-websocket`` (both languages) or
    ``es/02-handshake-websocket.ipynb`` (that one); an unknown name is a mistake (exit 2)."""
    known = stored_lessons(source)
    if not names:
        fail("say which lessons to reset: python3 dev.py reset 02 (both languages), es/02-…, or all")
    found: list[str] = []
    for name in names:
        if name == "all":
            matches = known
        else:
            parts = name.replace("\\", "/").rstrip("/").split("/")  # lab/es/02-….ipynb names es/02-…
            language, stem = (parts[-2] if len(parts) > 1 else ""), parts[-1].removesuffix(".ipynb")
            matches = [
                lesson
                for lesson in known
                if (not language or lesson.split("/")[0] == language)
                and stem in (lesson.split("/")[1].removesuffix(".ipynb"), lesson.split("/")[1][:2])
            ]
        if not matches:
            numbers = sorted({lesson.split("/")[1][:2] for lesson in known})
            fail(f"no lesson called {name!r}; lessons are {', '.join(numbers)} (or: all)")
        found += [lesson for lesson in matches if lesson not in found]
    return found


def reset(names: list[str], source: Path = NOTEBOOKS, target: Path = LAB) -> list[str]:
    """Put the named lessons of the working copy back to their stored version (and drop their checkpoints)."""
    lessons = find_lessons(names, source)
    copied_from = read_copied_from(target)
    for lesson in lessons:
        copy_lesson(lesson, source, target, copied_from)
        checkpoint = target / lesson
        checkpoint = checkpoint.parent / ".ipynb_checkpoints" / f"{checkpoint.stem}-checkpoint.ipynb"
        checkpoint.unlink(missing_ok=True)
        say(f"reset {(target / lesson).relative_to(target.parent).as_posix()}")
    write_copied_from(target, copied_from)
    return lessons


def write_lab_settings(prefix: Path) -> None:
    """Put LAB_SETTINGS in the JupyterLab settings overrides of the environment at ``prefix``.

    ``overrides.json`` in ``<prefix>/share/jupyter/lab/settings/`` changes JupyterLab's defaults
    (4.1 to 4.6 alike; a command-line ``news_url=None`` stops the fetching but not the question).
    """
    path = prefix / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    try:
        overrides = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        overrides = {}
    merged = dict(overrides)
    for plugin, settings in LAB_SETTINGS.items():
        merged[plugin] = {**overrides.get(plugin, {}), **settings}
    if merged != overrides:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(merged, indent=2) + "\n", encoding="utf-8")


def lab_command(extra: list[str], root: Path = LAB, python: Path = PYTHON) -> list[str]:
    """JupyterLab on the working copy, opening the first lesson; as root (containers, Binder, CI)
    it must be allowed explicitly.

    It listens on 127.0.0.1, like the lessons' servers, and so opens as http://127.0.0.1:8888:
    a browser counts ``localhost`` as another site than 127.0.0.1, and lesson 10's pages need
    the lab and its servers on the same one. An ``--ip`` of the user's replaces it (JupyterLab
    refuses two).
    """
    chooses_ip = any(arg.split("=")[0] in ("--ip", "--ServerApp.ip") for arg in extra)
    args = [
        str(python),
        "-m",
        "jupyterlab",
        *([] if chooses_ip else ["--ServerApp.ip=127.0.0.1"]),
        f"--ServerApp.root_dir={root}",
        f"--LabApp.default_url=/lab/tree/{FIRST_LESSON}",
    ]
    if os.name == "posix" and os.geteuid() == 0:
        args.append("--allow-root")
    return args + extra


def lab(extra: list[str]) -> None:
    setup("lab")
    copied = prepare_lab()
    if len(copied) > 4:
        say(f"copied the {len(copied)} lessons into {LAB.name}/, your working copy (git ignores it)")
    elif copied:
        say(f"copied into {LAB.name}/: {', '.join(lesson.removesuffix('.ipynb') for lesson in copied)}")
    write_lab_settings(VENV)
    say(f"opening JupyterLab on your copy of the lessons in {LAB.name}/ (Ctrl-C to stop)")
    os.chdir(ROOT)
    args = lab_command(extra)
    env = child_env()
    if os.name == "nt":
        sys.exit(subprocess.call(args, env=env))
    os.execve(str(PYTHON), args, env)


def test(extra: list[str]) -> None:
    setup("test")
    env = child_env()
    for step in TEST_COMMAND:
        args = [str(PYTHON), *step]
        if step[1] == "pytest":
            args += extra
        say(" ".join(step[1:4]) + (" …" if len(step) > 4 else ""))
        run(args, env=env)


def refresh(extra: list[str]) -> None:
    setup("test")
    run([str(PYTHON), "-m", "labkit.notebooks", "refresh", *extra], env=child_env())


OLDEST = ROOT / ".venv-oldest"


def lowest_pins() -> list[str]:
    """Each runtime dependency pinned to the lowest release series pyproject.toml allows."""
    import tomllib

    pins = []
    for requirement in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]:
        match = re.match(r"([A-Za-z0-9_.\-]+(?:\[[a-z,]+\])?)>=([0-9.]+)", requirement)
        if match is None:
            fail(f"{requirement!r} has no lower bound to test")
        pins.append(f"{match[1]}=={match[2]}.*")
    return pins


def oldest(extra: list[str]) -> None:
    """The suite again, with every runtime dependency at the oldest versions the ranges allow."""
    system_packages()
    bin_dir = OLDEST / BIN.name
    python = bin_dir / PYTHON.name
    if not python.exists():
        create_venv(OLDEST)
    pins = lowest_pins()
    say("installing the oldest supported versions: " + " ".join(pins))
    run([str(python), "-m", "pip", "install", "--quiet", "-e", ".[test]", *pins])
    page_assets(python)
    env = dict(child_env(), PATH=str(bin_dir) + os.pathsep + os.environ.get("PATH", ""), VIRTUAL_ENV=str(OLDEST))
    run([str(python), *TEST_COMMAND[-1], *extra], env=env)


def conformance(extra: list[str]) -> None:
    """The Autobahn|Testsuite against the scratch server (it builds its own Python 2.7 env once)."""
    setup("test")
    run([str(PYTHON), "tests/conformance/run_autobahn.py", *extra], env=child_env())


COMMANDS: dict[str, Callable[[list[str]], object]] = {
    "lab": lab,
    "reset": reset,
    "test": test,
    "refresh": refresh,
    "conformance": conformance,
    "oldest": oldest,
    "setup": lambda extra: setup("test"),
}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__.strip(), file=sys.stderr)
        sys.exit(2)
    COMMANDS[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
