"""The lessons as files: list them, and re-execute them to refresh their stored outputs.

Stored outputs are part of a lesson (nbval compares them), so they are never edited by
hand: ``python3 dev.py refresh`` runs every lesson top to bottom in a fresh kernel, in its
own folder, and writes it back exactly as JupyterLab would save it, so that opening a lesson
in the lab and saving it changes no byte.
"""

from __future__ import annotations

__all__ = [
    "LANGUAGES",
    "LESSONS_DIR",
    "Lesson",
    "LessonIndex",
    "as_jupyterlab_saves",
    "kernelspec",
    "lesson_index",
    "lessons",
    "main",
    "refresh",
]

import json
import re
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LESSONS_DIR = Path(__file__).resolve().parent.parent / "notebooks"
LANGUAGES = ("es", "en")


@dataclass(frozen=True)
class Lesson:
    path: Path
    language: str
    title: str

    @property
    def number(self) -> str:
        return self.path.name.split("-", 1)[0]


def _title(path: Path) -> str:
    nb = json.loads(path.read_text(encoding="utf-8"))
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            for line in "".join(cell.get("source", "")).splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return path.stem


def lessons(language: str | None = None, root: Path = LESSONS_DIR) -> list[Lesson]:
    """Every lesson, ordered by language then number (``NN-title.ipynb``)."""
    found = []
    for lang in LANGUAGES if language is None else (language,):
        for path in sorted((root / lang).glob("[0-9][0-9]-*.ipynb")):
            found.append(Lesson(path, lang, _title(path)))
    return found


def as_jupyterlab_saves(nb: Any, kernelspec: dict[str, str]) -> None:
    """Make an executed notebook what JupyterLab 4 would save after opening it, in place.

    JupyterLab writes nbformat 4.5 (every cell has an id), the kernelspec of the kernel it
    started (its ``display_name`` and ``language`` as the kernel spec says) and the
    ``language_info`` the kernel reports, ``version`` included: without it, JupyterLab marks the
    notebook changed as soon as the kernel answers, and autosave rewrites it. It also shows
    consecutive stream outputs of the same name (stdout, stderr) as one, and saves them so.
    """
    if (nb.nbformat, nb.nbformat_minor) < (4, 5):
        nb.nbformat_minor = 5
    for cell in nb.cells:
        if "id" not in cell:
            cell["id"] = uuid.uuid4().hex[:8]
        if cell.get("cell_type") != "code":
            continue
        merged: list[Any] = []
        for output in cell.get("outputs", []):
            last = merged[-1] if merged else None
            if (
                output.get("output_type") == "stream"
                and last is not None
                and last.get("output_type") == "stream"
                and last.get("name") == output.get("name")
            ):
                last["text"] = "".join(last["text"]) + "".join(output["text"])
            else:
                merged.append(output)
        cell["outputs"] = merged
    nb.metadata["kernelspec"] = dict(kernelspec)


def kernelspec(name: str = "python3") -> dict[str, str]:
    """The kernelspec metadata JupyterLab stores for kernel ``name`` as installed here."""
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec(name)
    return {"display_name": spec.display_name, "language": spec.language, "name": name}


def refresh(paths: list[Path], timeout: int = 120) -> None:
    """Execute each notebook top to bottom in a fresh kernel started in its folder; save it as JupyterLab would."""
    import nbformat
    from nbclient import NotebookClient

    spec = kernelspec()

    def run_one(path: Path) -> str:
        nb = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
        client = NotebookClient(
            nb,
            timeout=timeout,
            kernel_name=spec["name"],
            record_timing=False,
            resources={"metadata": {"path": str(path.parent)}},
        )
        client.execute()
        as_jupyterlab_saves(nb, spec)
        nbformat.write(nb, path)  # type: ignore[no-untyped-call]
        return str(path.relative_to(LESSONS_DIR.parent) if path.is_relative_to(LESSONS_DIR.parent) else path)

    with ThreadPoolExecutor(max_workers=2) as pool:
        for done in pool.map(run_one, paths):
            print(f"refreshed {done}", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] != "refresh":
        print("usage: python -m labkit.notebooks refresh [NOTEBOOK ...]", file=sys.stderr)
        return 2
    paths = [Path(p).resolve() for p in args[1:]] or [lesson.path for lesson in lessons()]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        print(f"no such notebook: {', '.join(missing)}", file=sys.stderr)
        return 2
    refresh(paths)
    return 0


# The lesson index --------------------------------------------------------------------------

_NUMBER_PREFIX = re.compile(r"^\d\d\s*·\s*")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]|<>])")


def _markdown_text(text: str) -> str:
    """``text`` with Markdown's special characters escaped, so a title shows as it is written."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


@dataclass(frozen=True)
class LessonIndex:
    """The lessons' numbers and titles in one language: a Markdown table in JupyterLab, text elsewhere.

    Each title links to its lesson, a file of the same folder (``notebooks/es`` or ``lab/es``).
    """

    language: str
    entries: tuple[tuple[str, str, str], ...]  # (number, title, file name)

    def header(self) -> tuple[str, str]:
        return ("#", "Lección") if self.language == "es" else ("#", "Lesson")

    def _repr_markdown_(self) -> str:
        number, title = self.header()
        rows = [f"| {number} | {title} |", "|---|---|"]
        rows += [f"| {n} | [{_markdown_text(t)}]({name}) |" for n, t, name in self.entries]
        return "\n".join(rows)

    def __repr__(self) -> str:
        rows = [self.header(), *((n, t) for n, t, _ in self.entries)]
        width = max(len(n) for n, _ in rows)
        return "\n".join(f"{n.ljust(width)}  {t}" for n, t in rows)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


def lesson_index(language: str | None = None, root: Path = LESSONS_DIR) -> LessonIndex:
    """The lessons of ``language`` (the lesson's own by default), by number, titled by their first heading.

    Lesson 00 shows it as the module's map: read from the lessons themselves, a new lesson
    appears in it without anyone typing the list twice.
    """
    from .i18n import language as lesson_language

    chosen = lesson_language() if language is None else language
    if chosen not in LANGUAGES:
        raise ValueError(f"language must be one of {LANGUAGES}, not {language!r}")
    entries = tuple(
        (
            lesson.number,
            _NUMBER_PREFIX.sub("", lesson.title, count=1),
            lesson.path.name,
        )
        for lesson in lessons(chosen, root)
    )
    return LessonIndex(chosen, entries)


if __name__ == "__main__":
    sys.exit(main())
