"""notebooks/sanitize.cfg: every mask hides something that cannot be stable, and only that.

nbval masks stored and fresh outputs alike before comparing them, so a mask that matches
nothing in the stored outputs is dead (a fresh output it would change could not match
anyway), and a mask over a stable value stops nbval from checking that value.
"""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import pytest
from nbval.plugin import find_comment_markers, find_metadata_tags, get_sanitize_patterns

from tests.third_party import read_notebook

ROOT = Path(__file__).resolve().parent.parent
SANITIZE = ROOT / "notebooks" / "sanitize.cfg"
LESSONS = sorted((ROOT / "notebooks").glob("*/[0-9][0-9]-*.ipynb"))

#: Output fields and MIME types nbval leaves out of the comparison (IPyNbFile.skip_compare).
NOT_COMPARED = {
    "metadata",
    "traceback",
    "prompt_number",
    "output_type",
    "name",
    "execution_count",
    "application/vnd.jupyter.widget-view+json",
    "image/png",
    "image/jpeg",
}

#: Stable values the lessons show on purpose: RFC 6455 §1.3's key and its accept value,
#: and the key lesson 02 sends to be refused (base64 of 5 bytes, not 16).
STABLE = ("dGhlIHNhbXBsZSBub25jZQ==", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "aGVsbG8=")


def masks() -> list[tuple[str, str, str]]:
    """(section, regex, replacement) in file order, as configparser reads the file."""
    config = configparser.ConfigParser(interpolation=None)
    config.read(SANITIZE, encoding="utf-8")
    return [(name, config[name]["regex"], config[name]["replace"]) for name in config.sections()]


def checked_outputs() -> list[tuple[str, str]]:
    """(where, text) for every output string nbval compares in the lessons."""
    found = []
    for lesson in LESSONS:
        notebook = read_notebook(lesson, as_version=4)
        for number, cell in enumerate(notebook.cells):
            if cell.cell_type != "code":
                continue
            markers = dict(find_comment_markers(cell.source)) | dict(find_metadata_tags(cell.metadata))
            if markers.get("skip") or not markers.get("check", True):
                continue
            where = f"{lesson.parent.name}/{lesson.name} cell {number}"
            for output in cell.get("outputs", []):
                for key, value in output.items():
                    if key == "data":
                        found += [
                            (where, text)
                            for mime, text in value.items()
                            if mime not in NOT_COMPARED and isinstance(text, str)
                        ]
                    elif key not in NOT_COMPARED and isinstance(value, str):
                        found.append((where, value))
    return found


def sanitize(text: str) -> str:
    for regex, replace in get_sanitize_patterns(SANITIZE.read_text(encoding="utf-8")):
        text = re.sub(regex, replace, text)
    return text


def test_nbval_reads_every_section_and_nothing_else() -> None:
    # nbval ignores sections: it pairs each "regex:" line with a "replace:" line right under
    # it, so a comment between the two would drop the mask without a word.
    assert get_sanitize_patterns(SANITIZE.read_text(encoding="utf-8")) == [(r, p) for _, r, p in masks()]
    assert len(masks()) >= 1


@pytest.mark.parametrize(("section", "regex", "replace"), masks(), ids=[name for name, _, _ in masks()])
def test_every_mask_matches_something_in_the_checked_outputs(section: str, regex: str, replace: str) -> None:
    earlier = []
    for name, other, replacement in masks():
        if name == section:
            break
        earlier.append((other, replacement))
    hits = 0
    for _, text in checked_outputs():
        for other, replacement in earlier:  # nbval applies the masks in file order
            text = re.sub(other, replacement, text)
        hits += len(re.findall(regex, text))
    assert hits > 0, f"[{section}] matches nothing nbval compares in the lessons: remove it"


@pytest.mark.parametrize("value", STABLE)
def test_stable_values_are_shown_and_not_masked(value: str) -> None:
    shown = [(where, text) for where, text in checked_outputs() if value in text]
    assert shown, f"{value} no longer appears in any checked output: update STABLE"
    for where, text in shown:
        assert sanitize(text).count(value) == text.count(value), f"a mask hides {value} in {where}"


def test_masks_hide_what_changes_from_run_to_run() -> None:
    shown = sanitize(
        "ws://127.0.0.1:41234 | Date: Wed, 25 Nov 2026 18:45:33 GMT | 2026-11-25T18:45:33.953+00:00 | "
        '0{"sid":"NAxEjRHYgALt0dQIAAAA"} | GET /socket.io/?transport=polling&EIO=4&t=1795632341.052515 | '
        "Error handling request from 127.0.0.1: ValueError"
    )
    assert shown.split(" | ") == [
        "ws://127.0.0.1:PORT",
        "Date: HTTP-DATE",
        "ISO-TIME",
        '0{"sid":"SID"}',
        "GET /socket.io/?transport=polling&EIO=4&t=T",
        "Error handling request: ValueError",
    ]
