"""labkit.code_of: a function's code for a lesson, without the English prose around it."""

from __future__ import annotations

from typing import Any

import labkit
from labkit.i18n import using


def example(count: int) -> list[str]:
    """A docstring in English.

    On two paragraphs.
    """
    # a comment on its own line
    marks = ["#" * count]  # a comment after code; the '#' in the string stays

    def inner() -> str:
        """Nested docstrings go too."""
        return "# not a comment"

    return [*marks, inner()]


class Example:
    """A class docstring."""

    size = 1  # the size


def test_code_keeps_every_line_of_code_and_drops_docstrings_and_comments() -> None:
    shown: Any = labkit.code_of(example)
    assert shown.data == (
        "def example(count: int) -> list[str]:\n"
        '    marks = ["#" * count]\n'
        "\n"
        "    def inner() -> str:\n"
        '        return "# not a comment"\n'
        "\n"
        "    return [*marks, inner()]"
    )
    assert shown.language == "python" and '<span class="k">def</span>' in shown._repr_html_()  # highlighted


def test_several_functions_and_classes_are_shown_one_after_another_whatever_the_language() -> None:
    with using("es"):
        shown: Any = labkit.code_of(example, Example)
    assert shown.data.endswith("    return [*marks, inner()]\n\n\nclass Example:\n    size = 1")
    assert "docstring" not in shown.data and "comment" not in shown.data.replace("# not a comment", "")
