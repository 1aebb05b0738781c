"""Which language a lesson speaks, so that output made by labkit matches the prose.

Lessons in ``notebooks/es`` and ``notebooks/en`` share identical code cells, so the code
cannot say which language it is in. Kernels start in the notebook's folder, so the folder
name tells; ``LABKIT_LANG`` overrides it.
"""

from __future__ import annotations

__all__ = ["language", "say"]

import os
from pathlib import Path


def language() -> str:
    """``"en"`` in ``notebooks/en`` (or with LABKIT_LANG=en), else ``"es"``, the course's language."""
    chosen = os.environ.get("LABKIT_LANG") or Path.cwd().name
    return "en" if chosen == "en" else "es"


def say(es: str, en: str) -> str:
    """The text in the lesson's language."""
    return en if language() == "en" else es
