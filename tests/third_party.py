"""Typed names for the third-party functions the tests call that have no annotations.

nbformat and IPython ship type information, but these functions are unannotated, so mypy
strict refuses to call them. Each name here is the same function, with the type the tests use.
"""

from __future__ import annotations

__all__ = [
    "new_code_cell",
    "new_markdown_cell",
    "new_notebook",
    "notebook_from_dict",
    "pretty",
    "read_notebook",
    "write_notebook",
]

from collections.abc import Callable, Mapping
from typing import Any

import nbformat
from IPython.lib import pretty as ipython_pretty
from nbformat import NotebookNode

#: The text IPython shows for an object (what a notebook cell displays).
pretty: Callable[[object], str] = ipython_pretty.pretty

read_notebook: Callable[..., NotebookNode] = nbformat.read
write_notebook: Callable[..., None] = nbformat.write
notebook_from_dict: Callable[[Mapping[str, Any]], NotebookNode] = nbformat.from_dict
new_notebook: Callable[..., NotebookNode] = nbformat.v4.new_notebook
new_code_cell: Callable[..., NotebookNode] = nbformat.v4.new_code_cell
new_markdown_cell: Callable[..., NotebookNode] = nbformat.v4.new_markdown_cell
