"""Third-party files pages need, installed at set-up from the npm registry, never committed.

The official socket.io browser client comes from its npm package, at a pinned version whose
integrity hash (the registry's ``dist.integrity``, SHA-512) is checked before anything is
unpacked: no Node is needed, nothing is taken from a CDN at run time, and a tampered or
different file is refused. labkit's servers then serve it at ``/labkit/socket.io.min.js``.

    python -m labkit.assets            # what python3 dev.py setup runs
"""

from __future__ import annotations

__all__ = ["PACKAGES", "NpmFile", "install", "main"]

import base64
import hashlib
import io
import sys
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .errors import LabkitError
from .i18n import say
from .pages import ASSETS

REGISTRY = "https://registry.npmjs.org"


@dataclass(frozen=True)
class NpmFile:
    """One file of one npm package version, and the integrity of that version's tarball."""

    package: str
    version: str
    integrity: str  # "sha512-<base64>", as the registry publishes it
    member: str  # path inside the tarball
    target: str  # file name under labkit/static/vendor/

    @property
    def tarball(self) -> str:
        name = self.package.rsplit("/", 1)[-1]
        return f"{REGISTRY}/{self.package}/-/{name}-{self.version}.tgz"


#: What pages load from labkit: pinned, with the registry's integrity hash.
PACKAGES = (
    NpmFile(
        "socket.io-client",
        "4.8.4",
        "sha512-7wjKAvVXYOJsbmUgkWbnhPD4bFpkqrUR0++XOjpGFmqDqsqV1CI93VTraeExLxpjxEqrWgFoSRZu1ihjLWfkAA==",
        "package/dist/socket.io.min.js",
        "socket.io.min.js",
    ),
)


def check_integrity(data: bytes, integrity: str) -> None:
    """Raise unless ``data`` hashes to ``integrity`` (Subresource Integrity form, SHA-512)."""
    algorithm, _, expected = integrity.partition("-")
    if algorithm != "sha512":
        raise LabkitError(f"unsupported integrity algorithm {algorithm!r}")
    actual = base64.b64encode(hashlib.sha512(data).digest()).decode()
    if actual != expected:
        raise LabkitError(
            say(
                f"el paquete descargado no coincide con su hash de integridad ({integrity[:20]}…): no se instala",
                f"the downloaded package does not match its integrity hash ({integrity[:20]}…): not installed",
            )
        )


def unpack(npm_file: NpmFile, tarball: bytes, into: Path) -> Path:
    """Check the tarball, then write the one file wanted; return its path."""
    check_integrity(tarball, npm_file.integrity)
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        member = archive.extractfile(npm_file.member)
        if member is None:
            raise LabkitError(f"{npm_file.member} is not in {npm_file.package} {npm_file.version}")
        content = member.read()
    into.mkdir(parents=True, exist_ok=True)
    target = into / npm_file.target
    target.write_bytes(content)
    (into / f"{npm_file.target}.version").write_text(f"{npm_file.package} {npm_file.version}\n")
    return target


def installed(npm_file: NpmFile, into: Path = ASSETS) -> bool:
    stamp = into / f"{npm_file.target}.version"
    return (
        (into / npm_file.target).is_file()
        and stamp.is_file()
        and stamp.read_text().split()
        == [
            npm_file.package,
            npm_file.version,
        ]
    )


def install(into: Path = ASSETS, timeout: float = 60) -> list[Path]:
    """Download, check and unpack every file in :data:`PACKAGES` not installed yet."""
    done = []
    for npm_file in PACKAGES:
        if installed(npm_file, into):
            continue
        try:
            with urllib.request.urlopen(npm_file.tarball, timeout=timeout) as response:
                tarball = response.read()
        except OSError as exc:
            raise LabkitError(
                say(
                    f"no se pudo descargar {npm_file.package} {npm_file.version} del registro de npm: {exc}",
                    f"could not download {npm_file.package} {npm_file.version} from the npm registry: {exc}",
                )
            ) from None
        done.append(unpack(npm_file, tarball, into))
    return done


def main() -> int:
    try:
        for path in install():
            print(f"installed {path.name}", flush=True)
    except LabkitError as exc:
        print(f"labkit: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
