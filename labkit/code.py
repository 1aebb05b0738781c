"""Functions shown in a lesson as code only: no docstring, no comments.

A lesson in Spanish that shows labkit's own servers (``inspect.getsource``) would show
their English docstrings and comments; the lesson's prose says what they mean, in its
language. :func:`code_of` keeps every line of code as written, with its indentation, and
leaves out the docstring and each comment.
"""

from __future__ import annotations

__all__ = ["code_of"]

import ast
import inspect
import io
import textwrap
import tokenize
from collections.abc import Callable
from typing import Any


def _without_prose(source: str) -> str:
    """``source`` without the docstrings of its functions and classes, and without comments."""
    dropped: set[int] = set()  # 1-based line numbers of docstrings
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.body:
            first = node.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                end = first.end_lineno or first.lineno
                dropped.update(range(first.lineno, end + 1))
                if len(node.body) > 1 and node.body[1].lineno > end + 1:
                    dropped.add(end + 1)  # the blank line that set the docstring apart
    lines = source.splitlines()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            row, column = token.start
            lines[row - 1] = lines[row - 1][:column].rstrip()
            if not lines[row - 1].strip():
                dropped.add(row)  # a line that was only a comment
    kept = [line for number, line in enumerate(lines, start=1) if number not in dropped]
    return "\n".join(kept) + "\n"


def code_of(*functions: Callable[..., Any]) -> Any:
    """The source of ``functions`` without docstrings or comments, highlighted as Python in a cell."""
    from IPython.display import Code

    parts = [_without_prose(textwrap.dedent(inspect.getsource(function))) for function in functions]
    return Code("\n\n\n".join(part.rstrip("\n") for part in parts), language="python")  # type: ignore[no-untyped-call]
