"""The socket.io browser client: from the npm registry at set-up, pinned, integrity checked, never committed."""

from __future__ import annotations

import base64
import hashlib
import io
import subprocess
import tarfile
from pathlib import Path

import pytest

from labkit.assets import PACKAGES, NpmFile, check_integrity, installed, unpack
from labkit.errors import LabkitError
from labkit.pages import ASSETS, labkit_file

ROOT = Path(__file__).resolve().parent.parent


def tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def test_a_package_matching_its_integrity_is_unpacked_and_stamped(tmp_path: Path) -> None:
    data = tarball({"package/dist/client.min.js": b"window.io = 1;"})
    npm_file = NpmFile("demo", "1.0.0", integrity(data), "package/dist/client.min.js", "client.min.js")
    assert not installed(npm_file, tmp_path)
    path = unpack(npm_file, data, tmp_path)
    assert path.read_bytes() == b"window.io = 1;" and installed(npm_file, tmp_path)
    assert not installed(NpmFile("demo", "1.0.1", "", "", "client.min.js"), tmp_path)  # another version: reinstall


def test_a_tampered_package_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    good = tarball({"package/dist/client.min.js": b"window.io = 1;"})
    evil = tarball({"package/dist/client.min.js": b"steal(document.cookie);"})
    npm_file = NpmFile("demo", "1.0.0", integrity(good), "package/dist/client.min.js", "client.min.js")
    with pytest.raises(LabkitError, match="does not match its integrity hash"):
        unpack(npm_file, evil, tmp_path)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(LabkitError):
        check_integrity(good, "sha1-abc")


def test_set_up_installed_the_pinned_socketio_client_and_labkit_serves_it() -> None:
    client = PACKAGES[0]
    assert client.package == "socket.io-client" and client.version.count(".") == 2
    assert installed(client), "run python3 dev.py setup: it installs the socket.io browser client"
    served = labkit_file("socket.io.min.js")
    assert served.status == 200 and served.content_type.startswith(("text/javascript", "application/javascript"))
    assert b"Socket.IO v" + client.version.encode() in served.body


def test_the_installed_client_is_never_committed() -> None:
    tracked = subprocess.run(["git", "ls-files", str(ASSETS)], cwd=ROOT, capture_output=True, text=True, check=True)
    assert tracked.stdout == ""
    ignored = subprocess.run(
        ["git", "check-ignore", str(ASSETS / "socket.io.min.js")], cwd=ROOT, capture_output=True, text=True
    )
    assert ignored.returncode == 0
