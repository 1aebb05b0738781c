"""Options of ``labkit.serve``, checked in one place before any server starts.

Apps and stacks each declare the options they take (:class:`Option`: a check and what it
means); :func:`validate` checks a call's options against both and raises one clear
:class:`~labkit.errors.LabkitError` for the first mistake. Stacks then receive values
they can trust.
"""

from __future__ import annotations

__all__ = [
    "Option",
    "choice",
    "count",
    "hertz",
    "origin",
    "origins",
    "seconds",
    "size",
    "strings",
    "validate",
    "whole_seconds",
]

import math
import re
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from .errors import LabkitError
from .i18n import Text, say


class Option(NamedTuple):
    """One option: ``check(name, value)`` returns the value to use or raises LabkitError."""

    check: Callable[[str, Any], Any]
    meaning: Text


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def seconds(minimum: float = 0.01, none: bool = False) -> Callable[[str, Any], Any]:
    """A duration in seconds, at least ``minimum`` (``None`` allowed when ``none``)."""

    def check(name: str, value: Any) -> Any:
        if value is None and none:
            return None
        if not _number(value) or value < minimum:
            also = say(", o None", ", or None") if none else ""
            raise LabkitError(
                say(
                    f"{name} debe ser un número de segundos de al menos {minimum:g}{also}, no {value!r}",
                    f"{name} must be a number of seconds, at least {minimum:g}{also}, not {value!r}",
                )
            )
        return float(value)

    return check


def whole_seconds(name: str, value: Any) -> int:
    """Whole seconds, 1 or more: python-engineio announces ``int(seconds) * 1000`` ms to clients."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise LabkitError(
            say(
                f"{name} debe ser un número entero de segundos, 1 o más, no {value!r}",
                f"{name} must be a whole number of seconds, 1 or more, not {value!r}",
            )
        )
    return value


def size(none: bool = True) -> Callable[[str, Any], Any]:
    """A size in bytes above 0 (``None``: no limit, when allowed)."""

    def check(name: str, value: Any) -> Any:
        if value is None and none:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            also = say(", o None (sin límite)", ", or None (no limit)") if none else ""
            raise LabkitError(
                say(
                    f"{name} debe ser un número entero de bytes mayor que 0{also}, no {value!r}",
                    f"{name} must be a whole number of bytes above 0{also}, not {value!r}",
                )
            )
        return value

    return check


def count(minimum: int, maximum: int) -> Callable[[str, Any], Any]:
    """A whole number from ``minimum`` to ``maximum``."""

    def check(name: str, value: Any) -> Any:
        if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= maximum:
            raise LabkitError(
                say(
                    f"{name} debe ser un número entero de {minimum} a {maximum}, no {value!r}",
                    f"{name} must be a whole number from {minimum} to {maximum}, not {value!r}",
                )
            )
        return value

    return check


def hertz(minimum: float, maximum: float) -> Callable[[str, Any], Any]:
    """A rate in events per second, from ``minimum`` to ``maximum``."""

    def check(name: str, value: Any) -> Any:
        if not _number(value) or not minimum <= value <= maximum:
            raise LabkitError(
                say(
                    f"{name} debe ser un número de veces por segundo de {minimum:g} a {maximum:g}, no {value!r}",
                    f"{name} must be a number of times per second from {minimum:g} to {maximum:g}, not {value!r}",
                )
            )
        return float(value)

    return check


def choice(*allowed: Any) -> Callable[[str, Any], Any]:
    def check(name: str, value: Any) -> Any:
        if value not in allowed:
            shown = ", ".join(repr(a) for a in allowed)
            raise LabkitError(
                say(f"{name} debe ser uno de {shown}, no {value!r}", f"{name} must be one of {shown}, not {value!r}")
            )
        return value

    return check


def strings(allowed: tuple[str, ...] | None = None) -> Callable[[str, Any], Any]:
    """A non-empty list of strings (each one of ``allowed`` if given)."""

    def check(name: str, value: Any) -> Any:
        items = [value] if isinstance(value, str) else value
        if (
            not isinstance(items, list | tuple)
            or not items
            or not all(isinstance(v, str) and v for v in items)
            or (allowed is not None and not set(items) <= set(allowed))
        ):
            which = say(f" de {', '.join(allowed)}", f" from {', '.join(allowed)}") if allowed else ""
            raise LabkitError(
                say(
                    f"{name} debe ser una lista de textos{which}, no {value!r}",
                    f"{name} must be a list of strings{which}, not {value!r}",
                )
            )
        return list(items)

    return check


def origin(text: str) -> str:
    """A page's origin as browsers send it (RFC 6454 §6.2): ``scheme://host[:port]``, nothing after.

    The scheme and host are lowercased and a default port dropped, as browsers write them:
    ``HTTP://LocalHost:80`` is sent as ``http://localhost``. A path or a trailing slash is a
    mistake, not something to strip: such an entry would never match, and refuse every page.
    """
    found = re.fullmatch(r"([A-Za-z]+)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::([0-9]{1,5}))?", text)
    scheme = found.group(1).lower() if found else ""
    port = int(found.group(3)) if found and found.group(3) else None
    if found is None or scheme not in ("http", "https") or (port is not None and not 1 <= port <= 65535):
        raise LabkitError(
            say(
                f"origen no válido {text!r}: el origen de una página es http:// o https://, un host y quizá "
                "un puerto, sin ruta ni barra detrás (p. ej. http://127.0.0.1:8000)",
                f"invalid origin {text!r}: a page's origin is http:// or https://, a host and maybe a port, "
                "with no path or slash after it (e.g. http://127.0.0.1:8000)",
            )
        )
    host = found.group(2).lower()
    if port is None or port == {"http": 80, "https": 443}[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def origins(name: str, value: Any) -> Any:
    """Origins allowed to open a connection: ``None`` (any), or a list like ``["http://127.0.0.1:8000"]``."""
    if value is None:
        return None
    listed = strings()(name, value)
    try:
        return [origin(each) for each in listed]
    except LabkitError as exc:
        raise LabkitError(f"{name}: {exc}") from None


def validate(given: Mapping[str, Any], *declared: tuple[str, Mapping[str, Option]]) -> dict[str, Any]:
    """Check ``given`` against the options each ``(who, options)`` declares; return the clean values."""
    known: dict[str, Option] = {}
    for _, options in declared:
        known.update(options)
    unknown = sorted(set(given) - set(known))
    if unknown:
        names = ", ".join(unknown)
        takes = "; ".join(f"{who}: {', '.join(sorted(opts)) or '-'}" for who, opts in declared)
        raise LabkitError(
            say(
                f"opción desconocida: {names} (se admiten {takes})",
                f"unknown option(s): {names} (accepted: {takes})",
            )
        )
    return {name: known[name].check(name, value) for name, value in given.items()}
