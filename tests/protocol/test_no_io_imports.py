"""labkit.protocol is sans-I/O: no module may import an I/O or threading module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import labkit.protocol

FORBIDDEN = {"socket", "asyncio", "threading", "selectors"}
PACKAGE = Path(labkit.protocol.__file__).parent
MODULES = sorted(PACKAGE.glob("*.py"))


def imported_modules(path: Path) -> set[str]:
    """Top-level names of every module imported anywhere in *path*."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_the_package_has_modules() -> None:
    assert {p.name for p in MODULES} >= {
        "__init__.py",
        "connection.py",
        "errors.py",
        "events.py",
        "frames.py",
        "handshake.py",
        "http11.py",
    }


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_no_io_imports(path: Path) -> None:
    assert not imported_modules(path) & FORBIDDEN


def test_the_checker_would_notice(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import os, socket\nfrom asyncio.events import get_event_loop\n")
    assert imported_modules(sample) & FORBIDDEN == {"socket", "asyncio"}
