"""``labkit doctor``: the versions that matter and the known problems of notebook servers."""

from __future__ import annotations

__all__ = ["Report", "doctor"]

import importlib.metadata
import importlib.util
import platform
import sys
from dataclasses import dataclass

#: (distribution, what it is for)
PACKAGES = (
    ("websockets", "the WebSocket stack and clients"),
    ("python-socketio", "the Socket.IO stack and clients"),
    ("python-engineio", "Socket.IO's transport layer"),
    ("aiohttp", "the web server under Socket.IO"),
    ("ipykernel", "the notebook kernel"),
    ("jupyterlab", "the notebook interface"),
)


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _major(version: str) -> int:
    head = version.split(".")[0]
    return int(head) if head.isdigit() else 0


@dataclass(frozen=True)
class Report:
    versions: tuple[tuple[str, str | None], ...]
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def __str__(self) -> str:
        width = max(len(name) for name, _ in self.versions)
        lines = [f"{name:<{width}}  {version or 'not installed'}" for name, version in self.versions]
        if self.problems:
            lines += ["", "problems:"] + [f"  - {p}" for p in self.problems]
        else:
            lines += ["", "no known problems"]
        return "\n".join(lines)

    def _repr_pretty_(self, printer: object, cycle: bool) -> None:
        printer.text(str(self))  # type: ignore[attr-defined]


def doctor() -> Report:
    """Check this Python for what breaks servers in notebooks."""
    versions: list[tuple[str, str | None]] = [("python", platform.python_version())]
    versions += [(name, _version(name)) for name, _ in PACKAGES]
    problems = []
    if sys.version_info < (3, 11):  # noqa: UP036 (doctor reports what a wrong install looks like)
        problems.append(f"Python {platform.python_version()} is too old: labkit needs 3.11 or newer")
    for name, purpose in PACKAGES:
        if _version(name) is None:
            problems.append(f"{name} is not installed ({purpose}); run: python3 dev.py setup")
    websockets_version = _version("websockets")
    if websockets_version and _major(websockets_version) < 15:
        problems.append(
            f"websockets {websockets_version} is too old: labkit needs 15 or newer"
            + (" (before 14 it serves with the legacy API by default)" if _major(websockets_version) < 14 else "")
        )
    legacy = sorted(m for m in sys.modules if m.startswith("websockets.legacy"))
    if legacy:
        problems.append(
            "the legacy websockets API is in use in this process (websockets.legacy, deprecated); "
            "use websockets.asyncio or websockets.sync instead"
        )
    if importlib.util.find_spec("nest_asyncio") is not None:
        problems.append(
            "nest_asyncio is installed: it is archived and patches asyncio for the whole kernel; "
            "labkit runs each server on its own loop and does not need it"
        )
    return Report(tuple(versions), tuple(problems))
