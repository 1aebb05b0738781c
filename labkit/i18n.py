"""Which language a lesson speaks, so that everything labkit prints matches the prose.

Lessons in ``notebooks/es`` and ``notebooks/en`` (and their working copies in ``lab/``)
share identical code cells, so the code cannot say which language it is in. Kernels start
in the notebook's folder, so the folder name tells; ``LABKIT_LANG`` overrides it, and
:func:`using` sets it for a block (tests render the same object in both languages).

Servers run in background threads and record facts, not sentences: wording is chosen
when a cell displays something, in the language of that moment. Text a server must keep
is kept as :class:`Text`, both languages at once.
"""

from __future__ import annotations

__all__ = ["LANGUAGES", "Text", "language", "say", "using"]

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

LANGUAGES = ("es", "en")

_chosen: str | None = None


def language() -> str:
    """``"en"`` in an ``en`` folder (or with LABKIT_LANG=en), else ``"es"``, the course's language."""
    chosen = _chosen or os.environ.get("LABKIT_LANG") or Path.cwd().name
    return "en" if chosen == "en" else "es"


@contextlib.contextmanager
def using(lang: str) -> Iterator[None]:
    """Speak ``lang`` inside the block, whatever the folder says."""
    global _chosen
    if lang not in LANGUAGES:
        raise ValueError(f"language must be one of {LANGUAGES}, not {lang!r}")
    previous, _chosen = _chosen, lang
    try:
        yield
    finally:
        _chosen = previous


def say(es: str, en: str) -> str:
    """The text in the lesson's language."""
    return en if language() == "en" else es


class Text(NamedTuple):
    """A sentence in both languages, shown in the one spoken when it is displayed."""

    es: str
    en: str

    def __str__(self) -> str:
        return say(self.es, self.en)
