"""Exercise checks: each lesson ends with a function for the student to write and a check.

A check never raises: it returns a :class:`Result` that displays a verdict in the lesson's
language (Markdown in JupyterLab, plain text elsewhere), so the unsolved lesson stores a
stable "not yet" output. ``tests/exercises``
runs every check on the notebook's stub (it must fail) and on a solution (it must pass).
"""

from __future__ import annotations

__all__ = ["Result", "passed", "failed"]

from dataclasses import dataclass

from ..i18n import say


@dataclass(frozen=True)
class Result:
    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def _mark(self) -> str:
        return say("✔ ¡Correcto!", "✔ Correct!") if self.passed else say("✘ Todavía no:", "✘ Not yet:")

    def __repr__(self) -> str:
        return f"{self._mark()} {self.message}".rstrip()

    def _repr_markdown_(self) -> str:
        """JupyterLab renders the feedback's Markdown: `code` as code, not as backticks."""
        return f"**{self._mark()}** {self.message}".rstrip()

    def _repr_pretty_(self, printer: object, cycle: bool) -> None:
        printer.text(repr(self))  # type: ignore[attr-defined]


def passed(es: str = "", en: str = "") -> Result:
    return Result(True, say(es, en))


def failed(es: str, en: str) -> Result:
    return Result(False, say(es, en))
