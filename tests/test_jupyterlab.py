"""The lab as a student uses it: JupyterLab in a real Chromium, started the way ``dev.py lab`` starts it.

All of it happens in a throwaway git checkout (dev.py, .gitignore and the stored lessons), so
the test can say what ``git status`` sees after a student's work in the lab.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from labkit.browser import Browser, find_chromium
from labkit.notebooks import kernelspec, refresh
from tests.jupyterlab import JupyterLab, load_dev

if find_chromium() is None:
    if os.environ.get("CI"):
        pytest.fail("CI must run the JupyterLab tests: python3 dev.py setup installs Chromium", pytrace=False)
    pytest.skip("no Chromium here (python3 dev.py setup installs it on Debian as root)", allow_module_level=True)

ROOT = Path(__file__).resolve().parent.parent
LESSON = "es/00-bienvenida.ipynb"
NEWS_QUESTION = "official Jupyter news?"  # "Would you like to get notified about …" (to receive, in 4.1)
TOASTS = "Array.from(document.querySelectorAll('.Toastify__toast')).map((t) => t.textContent)"
SOLUTION = """def ida_y_vuelta(url, texto):
    with labkit.ws_connect(url) as ws:
        ws.send(texto)
        return ws.recv()"""


def git(checkout: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=labkit", "-c", "user.email=labkit@localhost", *args],
        cwd=checkout,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git repository with the course as committed: dev.py, .gitignore and the stored lessons."""
    root = tmp_path_factory.mktemp("checkout")
    for name in ("dev.py", ".gitignore"):
        shutil.copyfile(ROOT / name, root / name)
    shutil.copytree(ROOT / "notebooks", root / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    git(root, "init", "--quiet")
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "--message", "the course")
    return root


@pytest.fixture(scope="module")
def dev(checkout: Path) -> ModuleType:
    module = load_dev(checkout)
    module.prepare_lab()  # what python3 dev.py lab does before it starts JupyterLab
    return module


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with Browser(timeout=60) as chromium:
        yield chromium


@pytest.fixture(scope="module")
def lab(checkout: Path, dev: ModuleType, browser: Browser) -> Iterator[JupyterLab]:
    with JupyterLab(dev.LAB, browser, dev) as jupyterlab:
        yield jupyterlab


def test_the_lab_opens_on_the_first_spanish_lesson_without_asking_about_news(lab: JupyterLab) -> None:
    lab.browser.navigate(lab.page_url())  # the address JupyterLab prints, without a path
    lab.wait_for("location.pathname.endsWith('/lab/tree/es/00-bienvenida.ipynb')", "the first Spanish lesson")
    lab.shown(LESSON)  # its kernel is idle: the lab is ready for the student
    assert lab.browser.evaluate(TOASTS) == []
    # overrides.json changes the default the settings' schema reports ("none" means: ask).
    settings = lab.api("GET", "lab/api/settings/@jupyterlab/apputils-extension:notification")
    assert settings["schema"]["properties"]["fetchNews"]["default"] == "false"


def test_without_the_lab_settings_jupyterlab_would_ask_about_news(
    tmp_path: Path, dev: ModuleType, browser: Browser
) -> None:
    # The same lab with an empty settings folder instead of the environment's: the question comes.
    (tmp_path / "es").mkdir()
    shutil.copyfile(dev.NOTEBOOKS / LESSON, tmp_path / LESSON)
    settings = tmp_path / "no-settings"
    settings.mkdir()
    with JupyterLab(tmp_path, browser, dev, extra=[f"--LabApp.app_settings_dir={settings}"]) as plain:
        plain.open(LESSON)
        toasts = plain.wait_for(f"{TOASTS}.length && {TOASTS}", "a notification")
    assert [t for t in toasts if NEWS_QUESTION in t], toasts


def test_opening_and_saving_a_refreshed_lesson_changes_no_byte(lab: JupyterLab, dev: ModuleType) -> None:
    copy = dev.LAB / "refreshed" / LESSON
    copy.parent.mkdir(parents=True)
    shutil.copyfile(dev.NOTEBOOKS / LESSON, copy)
    refresh([copy])
    refreshed = copy.read_bytes()
    assert json.loads(refreshed)["metadata"]["kernelspec"] == kernelspec()

    saved = lab.open(f"refreshed/{LESSON}").save()

    assert saved == refreshed


def test_lesson_00_runs_top_to_bottom_in_the_lab_without_errors(lab: JupyterLab) -> None:
    cells = lab.open(LESSON).run_all()

    code = [cell for cell in cells if cell.kind == "code" and cell.source.strip()]
    assert [cell.prompt for cell in code] == [f"[{n}]:" for n in range(1, len(code) + 1)]
    assert [cell.errors for cell in cells if cell.errors] == []
    check = next(cell for cell in code if ".check(" in cell.source)
    assert check.text.startswith("✘ Todavía no:"), check.text  # the stub, judged in Spanish
    assert code[-1].text.strip() == "nada en marcha: 0 servidores, 0 hilos"


def test_solving_the_exercise_in_the_lab_leaves_the_course_untouched(
    lab: JupyterLab, dev: ModuleType, checkout: Path
) -> None:
    stored = (dev.NOTEBOOKS / LESSON).read_bytes()
    notebook = lab.open(LESSON)
    cells = notebook.run_all()
    exercise = next(i for i, cell in enumerate(cells) if "exercise" in cell.tags)

    notebook.edit_cell(exercise, SOLUTION)
    cells = notebook.run_cells(2)  # the exercise, then its check: Shift+Enter twice
    saved = json.loads(notebook.save())

    assert "".join(saved["cells"][exercise]["source"]) == SOLUTION
    assert cells[exercise + 1].text.startswith("✔ ¡Correcto!"), cells[exercise + 1].text
    assert (dev.NOTEBOOKS / LESSON).read_bytes() == stored
    assert git(checkout, "status", "--porcelain", "--untracked-files=all") == ""

    checkpoint = dev.LAB / "es" / ".ipynb_checkpoints" / "00-bienvenida-checkpoint.ipynb"
    assert checkpoint.exists()
    dev.reset(["00"])
    assert (dev.LAB / LESSON).read_bytes() == stored
    assert not checkpoint.exists()
    assert git(checkout, "status", "--porcelain", "--untracked-files=all") == ""
