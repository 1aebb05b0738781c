"""Words more than one view shows, in both languages: close codes and counted nouns.

The record (what a server saw) and the tap (what went over the wire) both name close
codes; they name them the same way, from this table, in the lesson's language.
"""

from __future__ import annotations

__all__ = ["close_meaning", "counted", "show_close"]

from .i18n import say

#: RFC 6455 §7.4.1 and the IANA registry (§11.7): what each close code means.
_CLOSE_MEANINGS: dict[int, tuple[str, str]] = {
    1000: ("cierre normal", "normal closure"),
    1001: ("se va", "going away"),
    1002: ("error de protocolo", "protocol error"),
    1003: ("datos no admitidos", "unsupported data"),
    1004: ("reservado", "reserved"),
    1005: ("sin código", "no status received"),
    1006: ("cierre anormal", "abnormal closure"),
    1007: ("datos no válidos", "invalid payload data"),
    1008: ("infringe la política", "policy violation"),
    1009: ("mensaje demasiado grande", "message too big"),
    1010: ("falta una extensión", "mandatory extension"),
    1011: ("error interno", "internal error"),
    1012: ("reinicio del servicio", "service restart"),
    1013: ("vuelve a intentarlo más tarde", "try again later"),
    1014: ("pasarela incorrecta", "bad gateway"),
    1015: ("fallo del handshake TLS", "TLS handshake failure"),
}


def close_meaning(code: int) -> str:
    """What a close code means; 3000-3999 are registered for libraries, 4000-4999 private (§7.4.2)."""
    if code in _CLOSE_MEANINGS:
        return say(*_CLOSE_MEANINGS[code])
    if 3000 <= code <= 3999:
        return say("registrado", "registered")
    if 4000 <= code <= 4999:
        return say("uso privado", "private use")
    return say("desconocido", "unknown")


def show_close(code: int | None, reason: str = "") -> str:
    """``1000 (normal closure) 'bye'``; ``None`` is a close frame without a code."""
    if code is None:
        return say("sin código", "no status code")
    return f"{code} ({close_meaning(code)})" + (f" {reason!r}" if reason else "")


def counted(n: int, es: tuple[str, str], en: tuple[str, str]) -> str:
    """``1 conexión`` / ``2 conexiones``: the number and the noun in the lesson's language."""
    one, many = es if say("es", "en") == "es" else en
    return f"{n} {one if n == 1 else many}"
