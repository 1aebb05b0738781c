"""labkit.notebooks: refresh stores a lesson exactly as JupyterLab saves it.

That opening a refreshed lesson in JupyterLab and saving it changes no byte is checked in a real
JupyterLab by tests/test_jupyterlab.py; these tests pin down the pieces without a browser.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

import pytest

from labkit.notebooks import as_jupyterlab_saves, kernelspec, lesson_index, lessons, main, refresh
from tests.third_party import new_code_cell, new_markdown_cell, new_notebook, notebook_from_dict, write_notebook


def stream(name: str, text: str) -> dict[str, str]:
    return {"output_type": "stream", "name": name, "text": text}


def test_kernelspec_is_what_the_installed_ipykernel_declares() -> None:
    assert kernelspec() == {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def test_as_jupyterlab_saves_gives_ids_sets_the_kernelspec_and_joins_consecutive_streams() -> None:
    nb = notebook_from_dict(
        {
            "nbformat": 4,
            "nbformat_minor": 4,
            "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
            "cells": [
                {"cell_type": "markdown", "metadata": {}, "source": "# 00"},
                {
                    "cell_type": "code",
                    "execution_count": 1,
                    "metadata": {},
                    "source": "",
                    "outputs": [
                        stream("stdout", "a\n"),
                        stream("stdout", "b\n"),
                        stream("stderr", "c\n"),
                        {"output_type": "execute_result", "execution_count": 1, "metadata": {}, "data": {}},
                        stream("stdout", "d\n"),
                        stream("stdout", "e\n"),
                    ],
                },
            ],
        }
    )
    spec = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}

    as_jupyterlab_saves(nb, spec)

    assert nb.nbformat_minor == 5
    assert all(len(cell["id"]) == 8 for cell in nb.cells)
    assert nb.metadata["kernelspec"] == spec
    assert [(o["output_type"], o.get("name"), o.get("text")) for o in nb.cells[1].outputs] == [
        ("stream", "stdout", "a\nb\n"),
        ("stream", "stderr", "c\n"),
        ("execute_result", None, None),
        ("stream", "stdout", "d\ne\n"),
    ]


def test_refresh_stores_what_jupyterlab_would_save(tmp_path: Path) -> None:
    path = tmp_path / "es" / "00-prueba.ipynb"
    path.parent.mkdir()
    nb = new_notebook()
    code = "\n".join(
        [
            "import sys",
            'print("a", flush=True)',
            'print("b", file=sys.stderr, flush=True)',
            'print("c", flush=True)',
            'print("d")',
        ]
    )
    nb.cells = [
        new_code_cell("import os\nos.getcwd()"),
        new_code_cell(code),
    ]
    write_notebook(nb, path)

    refresh([path])

    text = path.read_text(encoding="utf-8")
    stored = json.loads(text)
    # nbformat's and the Jupyter server's writer: one-space indent, sorted keys, a final newline.
    assert text == json.dumps(stored, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    assert (stored["nbformat"], stored["nbformat_minor"]) == (4, 5)
    assert stored["metadata"]["kernelspec"] == kernelspec()
    assert stored["metadata"]["language_info"]["version"] == platform.python_version()
    cwd, streams = (cell["outputs"] for cell in stored["cells"])
    assert cwd[0]["data"]["text/plain"] == [repr(str(path.parent))]  # the kernel ran in the notebook's folder
    assert [(o["name"], o["text"]) for o in streams] == [
        ("stdout", ["a\n"]),
        ("stderr", ["b\n"]),
        ("stdout", ["c\n", "d\n"]),
    ]
    assert all("execution" not in cell["metadata"] for cell in stored["cells"])  # no timings: JupyterLab records none


def test_refresh_of_a_missing_notebook_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["refresh", str(tmp_path / "nope.ipynb")]) == 2
    assert capsys.readouterr().err == f"no such notebook: {tmp_path / 'nope.ipynb'}\n"


# lesson_index: the module's map in lesson 00, read from the lessons themselves ------------------


def lesson_file(folder: Path, name: str, heading: str) -> Path:
    """A lesson whose first Markdown heading is ``heading``, as JupyterLab would save it."""
    folder.mkdir(parents=True, exist_ok=True)
    nb = new_notebook()
    nb.cells = [
        new_code_cell("import labkit"),
        new_markdown_cell(f"{heading}\n\nIntro.\n\n## 1. A section"),
    ]
    path = folder / name
    write_notebook(nb, path)
    return path


def test_lesson_index_lists_the_stored_lessons_by_number_with_their_own_titles() -> None:
    for language in ("es", "en"):
        index = lesson_index(language)
        stored = lessons(language)
        assert [number for number, _, _ in index.entries] == [lesson.number for lesson in stored]
        assert [name for _, _, name in index.entries] == [lesson.path.name for lesson in stored]
        assert [f"{number} · {title}" for number, title, _ in index.entries] == [lesson.title for lesson in stored]
    assert lesson_index("es").entries[0][1:] == ("Bienvenida", "00-bienvenida.ipynb")
    assert lesson_index("en").entries[0][1:] == ("Welcome", "00-bienvenida.ipynb")


def test_lesson_index_shows_a_markdown_table_with_links_and_aligned_text(tmp_path: Path) -> None:
    lesson_file(tmp_path / "es", "00-bienvenida.ipynb", "# 00 · Bienvenida")
    lesson_file(tmp_path / "es", "01-http.ipynb", "# 01 · HTTP: petición *y* respuesta | a mano")

    index = lesson_index("es", root=tmp_path)

    assert index._repr_markdown_() == (
        "| # | Lección |\n"
        "|---|---|\n"
        "| 00 | [Bienvenida](00-bienvenida.ipynb) |\n"
        "| 01 | [HTTP: petición \\*y\\* respuesta \\| a mano](01-http.ipynb) |"
    )
    assert repr(index) == "#   Lección\n00  Bienvenida\n01  HTTP: petición *y* respuesta | a mano"


def test_lesson_index_speaks_the_lesson_language_when_none_is_given(tmp_path: Path) -> None:
    from labkit.i18n import using

    lesson_file(tmp_path / "es", "00-bienvenida.ipynb", "# 00 · Bienvenida")
    lesson_file(tmp_path / "en", "00-bienvenida.ipynb", "# 00 · Welcome")
    with using("en"):
        assert repr(lesson_index(root=tmp_path)) == "#   Lesson\n00  Welcome"
    with using("es"):
        assert repr(lesson_index(root=tmp_path)) == "#   Lección\n00  Bienvenida"


def test_lesson_index_grows_by_itself_when_a_lesson_arrives(tmp_path: Path) -> None:
    lesson_file(tmp_path / "en", "00-bienvenida.ipynb", "# 00 · Welcome")
    assert [number for number, _, _ in lesson_index("en", root=tmp_path).entries] == ["00"]

    lesson_file(tmp_path / "en", "07-la-interfaz-del-navegador.ipynb", "# 07 · The browser's interface")

    assert lesson_index("en", root=tmp_path).entries[-1] == (
        "07",
        "The browser's interface",
        "07-la-interfaz-del-navegador.ipynb",
    )


def test_lesson_index_refuses_an_unknown_language_in_one_clear_error() -> None:
    with pytest.raises(ValueError, match=r"language must be one of \('es', 'en'\), not 'fr'"):
        lesson_index("fr")
