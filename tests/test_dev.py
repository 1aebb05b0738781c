"""dev.py, the README's commands: set-up installs what each command needs, the lab works on a copy."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from types import ModuleType

import pytest

from tests.jupyterlab import load_dev

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def dev() -> ModuleType:
    return load_dev()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def lesson(path: Path, title: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"cells": [{"cell_type": "markdown", "source": f"# {title}"}]}), encoding="utf-8")


@pytest.fixture
def course(tmp_path: Path) -> Path:
    """Stored lessons in two languages, as notebooks/ has them."""
    source = tmp_path / "notebooks"
    for language in ("es", "en"):
        lesson(source / language / "00-bienvenida.ipynb", f"00 {language}")
        lesson(source / language / "02-handshake-websocket.ipynb", f"02 {language}")
    (source / "sanitize.cfg").write_text("[regex1]\n")
    return source


def run_dev(checkout: Path, *args: str, before: str = "") -> subprocess.CompletedProcess[str]:
    """``python dev.py ARGS`` in a checkout, with ``before`` run first in the same interpreter."""
    code = "\n".join(
        [
            "import runpy, sys",
            before,
            f"sys.argv = ['dev.py', *{list(args)!r}]",
            "runpy.run_path('dev.py', run_name='__main__')",
        ]
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=checkout, capture_output=True, text=True, timeout=60, check=False
    )


# The working copy -------------------------------------------------------------------------------


def test_the_lab_copies_every_lesson_once_and_never_overwrites_the_students_work(
    dev: ModuleType, course: Path, tmp_path: Path
) -> None:
    lab = tmp_path / "lab"
    assert dev.prepare_lab(course, lab) == [
        "en/00-bienvenida.ipynb",
        "en/02-handshake-websocket.ipynb",
        "es/00-bienvenida.ipynb",
        "es/02-handshake-websocket.ipynb",
    ]
    assert (lab / "es/00-bienvenida.ipynb").read_bytes() == (course / "es/00-bienvenida.ipynb").read_bytes()
    assert not (lab / "sanitize.cfg").exists()

    (lab / "es/00-bienvenida.ipynb").write_text("my work")
    (lab / "en/02-handshake-websocket.ipynb").unlink()
    lesson(course / "es" / "03-dos-direcciones.ipynb", "03, new after a git pull")
    assert dev.prepare_lab(course, lab) == ["en/02-handshake-websocket.ipynb", "es/03-dos-direcciones.ipynb"]
    assert (lab / "es/00-bienvenida.ipynb").read_text() == "my work"


def test_the_lab_says_which_lessons_changed_since_they_were_copied(
    dev: ModuleType, course: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = tmp_path / "lab"
    dev.prepare_lab(course, lab)
    lesson(course / "es" / "02-handshake-websocket.ipynb", "02, better")
    capsys.readouterr()

    assert dev.prepare_lab(course, lab) == []

    out = capsys.readouterr().out
    assert out == (
        "[dev.py] changed since you copied them: es/02-handshake-websocket; "
        "python3 dev.py reset LESSON takes the new version\n"
    )
    assert (lab / "es/02-handshake-websocket.ipynb").read_bytes() != (
        course / "es/02-handshake-websocket.ipynb"
    ).read_bytes()


@pytest.mark.parametrize(
    ("names", "reset"),
    [
        (["02"], ["en/02-handshake-websocket.ipynb", "es/02-handshake-websocket.ipynb"]),
        (["02-handshake-websocket"], ["en/02-handshake-websocket.ipynb", "es/02-handshake-websocket.ipynb"]),
        (["es/02-handshake-websocket.ipynb"], ["es/02-handshake-websocket.ipynb"]),
        (["es/02"], ["es/02-handshake-websocket.ipynb"]),
        (["lab/en/00-bienvenida.ipynb", "02"], ["en/00-bienvenida.ipynb", "en/02-handshake-websocket.ipynb",
                                                "es/02-handshake-websocket.ipynb"]),
        (["all"], ["en/00-bienvenida.ipynb", "en/02-handshake-websocket.ipynb", "es/00-bienvenida.ipynb",
                   "es/02-handshake-websocket.ipynb"]),
    ],
)  # fmt: skip
def test_reset_puts_the_named_lessons_back_and_drops_their_checkpoints(
    dev: ModuleType, course: Path, tmp_path: Path, names: list[str], reset: list[str]
) -> None:
    lab = tmp_path / "lab"
    dev.prepare_lab(course, lab)
    for path in dev.stored_lessons(course):
        (lab / path).write_text("my work")
        checkpoint = lab / path.replace(".ipynb", "-checkpoint.ipynb").replace("/", "/.ipynb_checkpoints/")
        checkpoint.parent.mkdir(exist_ok=True)
        checkpoint.write_text("my work, saved")

    assert dev.reset(names, course, lab) == reset

    for path in dev.stored_lessons(course):
        checkpoint = lab / path.replace(".ipynb", "-checkpoint.ipynb").replace("/", "/.ipynb_checkpoints/")
        if path in reset:
            assert (lab / path).read_bytes() == (course / path).read_bytes()
            assert not checkpoint.exists()
        else:
            assert (lab / path).read_text() == "my work"
            assert checkpoint.exists()


@pytest.mark.parametrize("names", [["07"], ["es/07"], ["fr/00-bienvenida.ipynb"], ["02", "bienvenida"], []])
def test_reset_of_an_unknown_lesson_says_so_in_one_line_and_resets_nothing(
    dev: ModuleType, course: Path, tmp_path: Path, names: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    lab = tmp_path / "lab"
    dev.prepare_lab(course, lab)
    (lab / "es/02-handshake-websocket.ipynb").write_text("my work")
    capsys.readouterr()

    with pytest.raises(SystemExit) as exited:
        dev.reset(names, course, lab)

    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("dev.py: ") and err.count("\n") == 1, err
    assert (lab / "es/02-handshake-websocket.ipynb").read_text() == "my work"


def test_reset_on_the_command_line(tmp_path: Path) -> None:
    shutil.copyfile(ROOT / "dev.py", tmp_path / "dev.py")
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks")

    unknown = run_dev(tmp_path, "reset", "99")
    assert (unknown.returncode, unknown.stdout) == (2, "")
    numbers = sorted(lesson.name[:2] for lesson in (ROOT / "notebooks/es").glob("*.ipynb"))
    assert len(numbers) >= 7
    assert unknown.stderr == f"dev.py: no lesson called '99'; lessons are {', '.join(numbers)} (or: all)\n"

    done = run_dev(tmp_path, "reset", "00")
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == "[dev.py] reset lab/en/00-bienvenida.ipynb\n[dev.py] reset lab/es/00-bienvenida.ipynb\n"
    assert (tmp_path / "lab/es/00-bienvenida.ipynb").read_bytes() == (
        ROOT / "notebooks/es/00-bienvenida.ipynb"
    ).read_bytes()


def test_the_lab_listens_on_127_0_0_1_like_the_lessons_servers(dev: ModuleType) -> None:
    args = dev.lab_command([])
    assert "--ServerApp.ip=127.0.0.1" in args  # not localhost: another site to a browser (lesson 10)
    for chosen in (["--ip=0.0.0.0"], ["--ip", "0.0.0.0"], ["--ServerApp.ip=0.0.0.0"]):
        args = dev.lab_command(chosen)  # JupyterLab refuses to start with two
        assert [a for a in args if a.startswith(("--ip", "--ServerApp.ip"))] == chosen[:1]


def test_the_lab_opens_jupyterlab_on_the_working_copy_at_the_first_spanish_lesson(
    dev: ModuleType, tmp_path: Path
) -> None:
    lab_dir = tmp_path / "lab"
    dev.prepare_lab(dev.NOTEBOOKS, lab_dir)
    port = free_port()
    args = dev.lab_command(
        ["--no-browser", f"--port={port}", "--IdentityProvider.token=labkit-test"],
        root=lab_dir,
        python=Path(sys.executable),  # this environment, whatever venv the command would use
    )
    env = {"JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "JUPYTER_CONFIG_DIR": str(tmp_path / "config")}
    lab = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **env})
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                url = f"http://127.0.0.1:{port}/api/contents/es?token=labkit-test"
                with urllib.request.urlopen(url, timeout=5) as response:
                    listing = json.loads(response.read())
                break
            except OSError:
                assert lab.poll() is None, "JupyterLab exited"
                assert time.monotonic() < deadline, "JupyterLab did not answer within 60 s"
                time.sleep(0.25)
        assert "00-bienvenida.ipynb" in {item["name"] for item in listing["content"]}
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/?token=labkit-test", timeout=5) as response:
            assert urllib.parse.urlparse(response.geturl()).path == "/lab/tree/es/00-bienvenida.ipynb"
    finally:
        lab.terminate()
        lab.wait(20)


def test_lab_settings_turn_the_news_question_off_and_keep_other_overrides(dev: ModuleType, tmp_path: Path) -> None:
    overrides = tmp_path / "share/jupyter/lab/settings/overrides.json"
    overrides.parent.mkdir(parents=True)
    theme = {"@jupyterlab/apputils-extension:themes": {"theme": "JupyterLab Dark"}}
    overrides.write_text(json.dumps(theme))

    dev.write_lab_settings(tmp_path)

    assert json.loads(overrides.read_text()) == {
        **theme,
        "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
    }


# Set-up -----------------------------------------------------------------------------------------


@pytest.fixture
def installs(dev: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The pip installs set-up runs (recorded, not run) into a venv in tmp_path; apt counts as one."""
    commands: list[str] = []
    python = tmp_path / "venv" / dev.BIN.name / dev.PYTHON.name
    python.parent.mkdir(parents=True)
    python.touch()
    monkeypatch.setattr(dev, "run", lambda args, **kwargs: commands.append(" ".join(args[1:])))
    monkeypatch.setattr(dev, "system_packages", lambda: commands.append("apt"))
    monkeypatch.setattr(dev, "page_assets", lambda python: commands.append("assets"))
    return commands


def test_lab_then_test_installs_only_the_rest_and_nothing_again(
    dev: ModuleType, tmp_path: Path, installs: list[str]
) -> None:
    venv = tmp_path / "venv"
    dev.setup("lab", venv)
    assert installs[-2:] == ["-m pip install --quiet -e .", "assets"] and "apt" not in installs
    installs.clear()

    dev.setup("test", venv)
    assert installs == ["apt", "-m pip install --quiet --upgrade pip", "-m pip install --quiet -e .[test]", "assets"]
    installs.clear()

    dev.setup("lab", venv)
    dev.setup("test", venv)
    # Debian packages and page assets are looked for each time (quick when there): they may have been removed.
    assert installs == ["assets", "apt", "assets"]


def test_a_changed_pyproject_reinstalls_all_that_was_installed(
    dev: ModuleType, tmp_path: Path, installs: list[str]
) -> None:
    venv = tmp_path / "venv"
    (venv / dev.STAMP.name).write_text(json.dumps({"pyproject": "an older one", "extras": ["test"]}))

    dev.setup("lab", venv)

    assert installs == ["-m pip install --quiet --upgrade pip", "-m pip install --quiet -e .[test]", "assets"]
    assert json.loads((venv / dev.STAMP.name).read_text())["extras"] == ["test"]


def test_without_apt_the_tests_set_up_says_what_is_missing_and_goes_on(
    dev: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(dev.shutil, "which", lambda name: None)  # neither apt-get nor chromium
    monkeypatch.setattr(dev.subprocess, "run", lambda *args, **kwargs: pytest.fail(f"ran {args}"))

    dev.system_packages()

    assert capsys.readouterr().out == (
        "[dev.py] not installed: chromium redis-server nginx "
        "(the tests that need them will be skipped; install them to run them)\n"
    )


def test_when_apt_fails_the_tests_set_up_says_so_and_goes_on(
    dev: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(dev.shutil, "which", lambda name: "/usr/bin/apt-get" if name == "apt-get" else None)
    monkeypatch.setattr(dev.os, "geteuid", lambda: 0)
    ran: list[list[str]] = []

    def apt_fails(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[bytes]:
        ran.append(args)
        return subprocess.CompletedProcess(args, 100)

    monkeypatch.setattr(dev.subprocess, "run", apt_fails)

    dev.system_packages()

    assert ran == [["apt-get", "update", "-qq"]]
    assert capsys.readouterr().out.splitlines()[-1] == (
        "[dev.py] apt-get could not install chromium redis-server nginx: the tests that need them will be skipped"
    )


def test_without_venv_support_set_up_says_what_to_install_in_one_line(tmp_path: Path) -> None:
    shutil.copyfile(ROOT / "dev.py", tmp_path / "dev.py")
    shutil.copyfile(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")

    # Debian and Ubuntu ship ensurepip (what venv needs for pip) in a separate package.
    result = run_dev(tmp_path, "lab", before="sys.modules['ensurepip'] = None")

    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("dev.py: "), result.stderr
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    if Path("/etc/debian_version").exists():
        assert result.stderr.endswith(f"install it with: apt install python{version}-venv\n")
    assert not (tmp_path / ".venv").exists()


def test_venv_belongs_to_the_python_that_created_it(dev: ModuleType, tmp_path: Path) -> None:
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert dev.venv_dir(tmp_path) == tmp_path / ".venv"
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv/pyvenv.cfg").write_text(f"home = /usr/bin\nversion = {here}.99\n")
    assert dev.venv_dir(tmp_path) == tmp_path / ".venv"
    (tmp_path / ".venv/pyvenv.cfg").write_text("home = /usr/bin\nversion_info = 3.9.18.final.0\n")
    assert dev.venv_dir(tmp_path) == tmp_path / f".venv-{here}"
