"""labkit.notebooks: refresh stores a lesson exactly as JupyterLab saves it.

That opening a refreshed lesson in JupyterLab and saving it changes no byte is checked in a real
JupyterLab by tests/test_jupyterlab.py; these tests pin down the pieces without a browser.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

import nbformat
import pytest

from labkit.notebooks import as_jupyterlab_saves, kernelspec, main, refresh


def stream(name: str, text: str) -> dict[str, str]:
    return {"output_type": "stream", "name": name, "text": text}


def test_kernelspec_is_what_the_installed_ipykernel_declares() -> None:
    assert kernelspec() == {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def test_as_jupyterlab_saves_gives_ids_sets_the_kernelspec_and_joins_consecutive_streams() -> None:
    nb = nbformat.from_dict(  # type: ignore[no-untyped-call]
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
    nb = nbformat.v4.new_notebook()  # type: ignore[no-untyped-call]
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
        nbformat.v4.new_code_cell("import os\nos.getcwd()"),  # type: ignore[no-untyped-call]
        nbformat.v4.new_code_cell(code),  # type: ignore[no-untyped-call]
    ]
    nbformat.write(nb, path)  # type: ignore[no-untyped-call]

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
