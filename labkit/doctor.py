"""``labkit doctor``: the versions that matter and the known problems of notebook servers."""

from __future__ import annotations

__all__ = ["Report", "doctor"]

import importlib.metadata
import importlib.util
import platform
import sys
from dataclasses import dataclass

from .i18n import say

#: (distribution, what it is for, in Spanish and in English)
PACKAGES = (
    ("websockets", "la pila websocket y sus clientes", "the WebSocket stack and clients"),
    ("python-socketio", "la pila socketio y sus clientes", "the Socket.IO stack and clients"),
    ("python-engineio", "la capa de transporte de Socket.IO", "Socket.IO's transport layer"),
    ("aiohttp", "el servidor web de las pilas http y socketio", "the web server of the http and socketio stacks"),
    ("ipykernel", "el kernel de los cuadernos", "the notebook kernel"),
    ("jupyterlab", "la interfaz de los cuadernos", "the notebook interface"),
    (
        "anywidget",
        "el navegador dentro del cuaderno (labkit.run_js)",
        "the browser inside the notebook (labkit.run_js)",
    ),
    ("jupyter-server-proxy", "las páginas de labkit en JupyterHub y Binder", "labkit's pages on JupyterHub and Binder"),
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
        missing = say("no instalado", "not installed")
        lines = [f"{name:<{width}}  {version or missing}" for name, version in self.versions]
        if self.problems:
            lines += ["", say("problemas:", "problems:")] + [f"  - {p}" for p in self.problems]
        else:
            lines += ["", say("ningún problema conocido", "no known problems")]
        return "\n".join(lines)

    def _repr_pretty_(self, printer: object, cycle: bool) -> None:
        printer.text(str(self))  # type: ignore[attr-defined]


def doctor() -> Report:
    """Check this Python for what breaks servers in notebooks."""
    versions: list[tuple[str, str | None]] = [("python", platform.python_version())]
    versions += [(name, _version(name)) for name, _, _ in PACKAGES]
    problems = []
    python = platform.python_version()
    if sys.version_info < (3, 11):  # noqa: UP036 (doctor reports what a wrong install looks like)
        problems.append(
            say(
                f"Python {python} es demasiado antiguo: labkit necesita 3.11 o posterior",
                f"Python {python} is too old: labkit needs 3.11 or newer",
            )
        )
    for name, purpose_es, purpose_en in PACKAGES:
        if _version(name) is None:
            problems.append(
                say(
                    f"{name} no está instalado ({purpose_es}); ejecuta: python3 dev.py setup",
                    f"{name} is not installed ({purpose_en}); run: python3 dev.py setup",
                )
            )
    websockets_version = _version("websockets")
    if websockets_version and _major(websockets_version) < 15:
        legacy_default = _major(websockets_version) < 14
        problems.append(
            say(
                f"websockets {websockets_version} es demasiado antiguo: labkit necesita la 15 o posterior"
                + (" (antes de la 14 sirve con la API antigua por defecto)" if legacy_default else ""),
                f"websockets {websockets_version} is too old: labkit needs 15 or newer"
                + (" (before 14 it serves with the legacy API by default)" if legacy_default else ""),
            )
        )
    ipykernel_version = _version("ipykernel")
    if ipykernel_version and tuple(int(p) for p in ipykernel_version.split(".")[:2] if p.isdigit()) < (7, 4):
        problems.append(
            say(
                f"ipykernel {ipykernel_version} es demasiado antiguo: labkit.run_js necesita la 7.4 o posterior",
                f"ipykernel {ipykernel_version} is too old: labkit.run_js needs 7.4 or newer",
            )
        )
    legacy = sorted(m for m in sys.modules if m.startswith("websockets.legacy"))
    if legacy:
        problems.append(
            say(
                "este proceso usa la API antigua de websockets (websockets.legacy, obsoleta); "
                "usa websockets.asyncio o websockets.sync",
                "the legacy websockets API is in use in this process (websockets.legacy, deprecated); "
                "use websockets.asyncio or websockets.sync instead",
            )
        )
    if importlib.util.find_spec("nest_asyncio") is not None:
        problems.append(
            say(
                "nest_asyncio está instalado: está archivado y modifica asyncio en todo el kernel; "
                "labkit ejecuta cada servidor en su propio bucle y no lo necesita",
                "nest_asyncio is installed: it is archived and patches asyncio for the whole kernel; "
                "labkit runs each server on its own loop and does not need it",
            )
        )
    return Report(tuple(versions), tuple(problems))
