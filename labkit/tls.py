"""TLS for ``wss://`` and ``https://`` on loopback: a certificate authority made for this session.

``labkit.serve(..., tls=True)`` serves over TLS with a certificate for ``127.0.0.1``,
``::1`` and ``localhost`` signed by a throwaway authority that trustme makes in memory (no
real authority, no private key on disk beyond the session's temporary folder). labkit's
own clients trust it (:func:`client_context`); a browser is told to trust that one
certificate by its public key (:data:`LocalAuthority.spki`, for Chromium's
``--ignore-certificate-errors-spki-list``), never by turning certificate checks off.
"""

from __future__ import annotations

__all__ = ["LocalAuthority", "authority", "authority_made", "client_context"]

import base64
import hashlib
import ssl
import tempfile
import threading
from pathlib import Path
from typing import Any

_lock = threading.Lock()
_authority: LocalAuthority | None = None


class LocalAuthority:
    """One trustme authority and one server certificate, shared by every TLS server of the process."""

    HOSTS = ("127.0.0.1", "::1", "localhost")

    def __init__(self) -> None:
        import trustme

        self._ca = trustme.CA(organization_name="labkit (local, for the lessons)")
        self._cert = self._ca.issue_cert(*self.HOSTS)
        self._folder = tempfile.TemporaryDirectory(prefix="labkit-tls-")
        self.ca_file = Path(self._folder.name) / "labkit-ca.pem"
        self._ca.cert_pem.write_to_path(str(self.ca_file))

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._cert.configure_cert(context)
        # No TLS 1.3 session tickets (RFC 8446 §4.6.1): they arrive after the handshake, while
        # websockets' sync client may be writing its request from another thread on the same
        # SSL socket; OpenSSL then sometimes loses the request (the handshake times out). A
        # class server gains nothing from resumed sessions.
        context.num_tickets = 0
        return context

    def client_context(self) -> ssl.SSLContext:
        """The system's authorities, plus this one."""
        context = ssl.create_default_context()
        self._ca.configure_trust(context)
        return context

    @property
    def spki(self) -> str:
        """base64(SHA-256(SubjectPublicKeyInfo)) of the server certificate, as Chromium names a key."""
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        pem = self._cert.cert_chain_pems[0].bytes()
        key = x509.load_pem_x509_certificate(pem).public_key()
        der = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        return base64.b64encode(hashlib.sha256(der).digest()).decode()


def authority() -> LocalAuthority:
    """The process's authority, made on first use (making keys takes a moment)."""
    global _authority
    with _lock:
        if _authority is None:
            _authority = LocalAuthority()
        return _authority


def authority_made() -> bool:
    """Whether a TLS server was started in this process (so its authority exists)."""
    return _authority is not None


def client_context(url: str, options: dict[str, Any]) -> None:
    """For a ``wss://``/``https://`` URL with no ``ssl`` given, trust labkit's authority too."""
    if url.startswith(("wss://", "https://")) and "ssl" not in options and _authority is not None:
        options["ssl"] = _authority.client_context()
