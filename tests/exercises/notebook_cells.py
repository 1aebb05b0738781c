"""Read a lesson's exercise stub straight from the notebook, as the student sees it."""

from __future__ import annotations

__all__ = ["exercise_function"]

import json
from collections.abc import Callable
from typing import Any

import labkit
from labkit.notebooks import LESSONS_DIR


def exercise_function(lesson: str, language: str, name: str) -> Callable[..., Any]:
    """Run the cell tagged ``exercise`` of ``notebooks/<language>/<lesson>`` and return ``name``."""
    notebook = json.loads((LESSONS_DIR / language / lesson).read_text(encoding="utf-8"))
    cells = [c for c in notebook["cells"] if "exercise" in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, "exactly one cell tagged 'exercise'"
    namespace: dict[str, Any] = {"labkit": labkit}
    exec("".join(cells[0]["source"]), namespace)
    function: Callable[..., Any] = namespace[name]
    return function
