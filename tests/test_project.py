"""The project's own promises: dependencies agree and are installed, CI runs the README's command."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
#: What python-socketio's "client" extra brings, listed by name in environment.yml.
CLIENT_EXTRA = {"requests", "websocket-client"}


def conda_requirements() -> dict[str, str]:
    found = {}
    text = (ROOT / "environment.yml").read_text()
    for line in text.split("dependencies:", 1)[1].splitlines():
        match = re.fullmatch(r"  - ([A-Za-z0-9_.\-]+)(.*)", line)
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
        version = importlib.metadata.version(requirement.name)
        assert requirement.specifier.contains(version, prereleases=True), f"{requirement.name} {version} vs {text}"


def test_websockets_new_api_only() -> None:
    for path in (ROOT / "labkit").rglob("*.py"):
        assert "websockets.legacy" not in path.read_text() or path.name == "doctor.py", path


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python3 dev.py lab" in readme and "python3 dev.py test" in readme
    assert "python3 dev.py test" in [line.strip() for line in ci.splitlines()]


def test_console_script_is_declared() -> None:
    assert PYPROJECT["project"]["scripts"]["labkit"] == "labkit.cli:main"


def test_no_third_party_code_is_committed() -> None:
    # Installed, never committed: .venv/, .venv-autobahn/ (tests/conformance), node_modules/.
    vendored = [
        p
        for p in ROOT.rglob("*.js")
        if not any(part.startswith(".venv") or part == "node_modules" for part in p.relative_to(ROOT).parts)
    ]
    assert vendored == []
