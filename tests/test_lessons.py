"""Invariants of the lessons that nbval alone does not check."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from nbval.plugin import comment_markers

from labkit.notebooks import LESSONS_DIR, lessons

NOTEBOOK_NAME = re.compile(r"\d\d-[a-z0-9-]+\.ipynb")


def load(path: Path) -> dict[str, Any]:
    notebook: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return notebook


def code_cells(path: Path) -> list[dict[str, Any]]:
    return [c for c in load(path)["cells"] if c["cell_type"] == "code"]


def source(cell: dict[str, Any]) -> str:
    return "".join(cell["source"])


def text_output(cell: dict[str, Any]) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            parts.append("".join(output["text"]))
        elif "data" in output:
            parts.append("".join(output["data"].get("text/plain", "")))
    return "".join(parts)


ALL = lessons()
SPANISH = [lesson.path for lesson in ALL if lesson.language == "es"]


def test_there_are_lessons_00_to_04() -> None:
    assert [p.name[:2] for p in SPANISH][:5] == ["00", "01", "02", "03", "04"]


def test_spanish_and_english_have_the_same_files() -> None:
    es = sorted(p.name for p in (LESSONS_DIR / "es").glob("*.ipynb"))
    en = sorted(p.name for p in (LESSONS_DIR / "en").glob("*.ipynb"))
    assert es == en
    assert all(NOTEBOOK_NAME.fullmatch(name) for name in es), es


@pytest.mark.parametrize("path", SPANISH, ids=lambda p: p.name)
def test_code_cells_are_identical_in_both_languages(path: Path) -> None:
    english = LESSONS_DIR / "en" / path.name
    assert [source(c) for c in code_cells(path)] == [source(c) for c in code_cells(english)]


@pytest.mark.parametrize("path", [lesson.path for lesson in ALL], ids=lambda p: f"{p.parent.name}/{p.name}")
def test_lesson_was_executed_top_to_bottom_without_errors(path: Path) -> None:
    cells = [c for c in code_cells(path) if source(c).strip()]
    assert [c["execution_count"] for c in cells] == list(range(1, len(cells) + 1))
    for cell in cells:
        errors = [o for o in cell.get("outputs", []) if o["output_type"] == "error"]
        tags = cell.get("metadata", {}).get("tags", [])
        assert not errors or "raises-exception" in tags, source(cell)[:80]
        for output in cell.get("outputs", []):
            if output["output_type"] == "stream":
                assert output["name"] == "stdout", f"a cell printed to stderr: {source(cell)[:80]}"


@pytest.mark.parametrize("path", [lesson.path for lesson in ALL], ids=lambda p: f"{p.parent.name}/{p.name}")
def test_lesson_ends_with_nothing_left_running(path: Path) -> None:
    last = code_cells(path)[-1]
    assert "labkit.stop_all()" in source(last) and "labkit.leftovers()" in source(last)
    expected = {"es": "nada en marcha: 0 servidores, 0 hilos", "en": "nothing left running: 0 servers, 0 threads"}
    assert text_output(last).strip() == expected[path.parent.name]


@pytest.mark.parametrize("path", [lesson.path for lesson in ALL], ids=lambda p: f"{p.parent.name}/{p.name}")
def test_lesson_ends_with_an_exercise_and_its_check(path: Path) -> None:
    cells = code_cells(path)
    tagged = [i for i, c in enumerate(cells) if "exercise" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'exercise'"
    later = "".join(source(c) for c in cells[tagged[0] + 1 :])
    assert ".check(" in later
    checked = [c for c in cells[tagged[0] + 1 :] if ".check(" in source(c)]
    assert "Todavía no" in text_output(checked[0]) or "Not yet" in text_output(checked[0])


@pytest.mark.parametrize("path", [lesson.path for lesson in ALL], ids=lambda p: f"{p.parent.name}/{p.name}")
def test_ignored_outputs_say_why(path: Path) -> None:
    for cell in code_cells(path):
        lines = source(cell).splitlines()
        if lines and lines[0] in ("# NBVAL_IGNORE_OUTPUT", "# NBVAL_SKIP"):
            reason = len(lines) > 1 and lines[1].startswith("# ") and lines[1][2:].strip()
            assert reason, f"{path.name}: {lines[0]} needs its reason on the next line: {lines[:2]}"


@pytest.mark.parametrize("path", [lesson.path for lesson in ALL], ids=lambda p: f"{p.parent.name}/{p.name}")
def test_nbval_markers_stand_alone_on_their_line(path: Path) -> None:
    """nbval only obeys a marker that is the whole comment: ``# NBVAL_SKIP: why`` is silently ignored."""
    markers = set(comment_markers)
    for cell in code_cells(path):
        for line in source(cell).splitlines():
            comment = line.strip().lstrip("#").strip()
            if line.strip().startswith("#") and comment.startswith("NBVAL_"):
                why = "put the reason on the next line"
                assert comment in markers, f"{path.name}: nbval ignores {line.strip()!r}; {why}"


@pytest.mark.parametrize("path", SPANISH, ids=lambda p: p.name)
def test_english_output_is_in_english(path: Path) -> None:
    english = LESSONS_DIR / "en" / path.name
    outputs = "".join(text_output(c) for c in code_cells(english))
    assert "Todavía no" not in outputs and "¡Correcto!" not in outputs
