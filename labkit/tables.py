"""Tables for cells: one HTML shape for every table labkit shows in JupyterLab.

Plain text (``repr``) stays for terminals and for nbval, which compares ``text/plain``;
JupyterLab shows the HTML. Short columns never wrap; the last, wide column wraps only
between words, so nothing breaks mid-word at 1280 px.
"""

from __future__ import annotations

__all__ = ["html_table"]

import html
import re
from collections.abc import Sequence

_TABLE = "table-layout:auto;border-collapse:collapse;margin:0"
_CELL = "text-align:left;vertical-align:top;padding:1px 8px;font-family:var(--jp-code-font-family,monospace)"
_NARROW = _CELL + ";white-space:pre"
_WIDE = _CELL + ";white-space:pre-wrap;overflow-wrap:normal;word-break:normal;min-width:12em"
# Browsers also break inside a word at '/', '?', '-' or ',' (UAX #14): each word is kept whole.
_WORD = "<span style='white-space:nowrap'>{}</span>"
_SPACES = re.compile(r"(\s+)")


def html_table(header: Sequence[str], rows: Sequence[Sequence[str]], wide_last: bool = True) -> str:
    """An HTML table whose cells keep their text exactly (escaped), left-aligned."""
    last = len(header) - 1

    def style(column: int) -> str:
        return _WIDE if wide_last and column == last else _NARROW

    def cell(column: int, text: str) -> str:
        if not (wide_last and column == last):
            return html.escape(text)
        return "".join(_WORD.format(html.escape(p)) if p.strip() else p for p in _SPACES.split(text) if p)

    head = "".join(f"<th style='{style(i)}'>{html.escape(h)}</th>" for i, h in enumerate(header))
    body = "".join(
        "<tr>" + "".join(f"<td style='{style(i)}'>{cell(i, c)}</td>" for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table style='{_TABLE}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
