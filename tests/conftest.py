"""Shared fixtures: every test leaves no labkit server running."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

import labkit


@pytest.fixture(autouse=True)
def no_leftover_servers() -> Iterator[None]:
    yield
    left = labkit.running()
    labkit.stop_all()
    assert not left, f"test left servers running: {left}"


def wait_for(predicate: Callable[[], object], timeout: float = 3.0) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` passes: servers record from their own thread."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return bool(predicate())


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    """Tests read labkit's English; tests of the Spanish wording say ``with using("es")``."""
    from labkit.i18n import using

    with using("en"):
        yield
