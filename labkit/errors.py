"""The one exception a user mistake raises: a clear sentence, never a traceback to decode."""

from __future__ import annotations

__all__ = ["LabkitError"]


class LabkitError(Exception):
    """A mistake in how labkit was asked to do something (unknown app, port taken, …).

    The command line prints its message on one line and exits with status 2.
    """
