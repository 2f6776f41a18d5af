"""sha256 checks of bundle files, and the in-memory bundle archive the Redis cache carries."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

from hitpred.errors import IntegrityError

__all__ = [
    "MANIFEST",
    "file_sha256",
    "pack_bundle",
    "sha256_bytes",
    "unpack_bundle",
    "verify_folder",
]

MANIFEST = "manifest.json"
_CHUNK = 1 << 20


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify_folder(directory: Path, manifest: dict[str, Any]) -> None:
    """Raise :class:`IntegrityError` unless every file listed in the manifest matches its sha256
    and no unlisted file sits next to them."""
    files: dict[str, str] = manifest.get("files") or {}
    if not files:
        raise IntegrityError(f"{directory}: the manifest lists no files")
    present = {p.name for p in directory.iterdir() if p.is_file()} - {MANIFEST}
    unlisted = present - set(files)
    if unlisted:
        raise IntegrityError(f"{directory}: files not in the manifest: {sorted(unlisted)}")
    for name, expected in files.items():
        path = directory / name
        if not path.is_file():
            raise IntegrityError(f"{directory}: {name} is missing")
        actual = file_sha256(path)
        if actual != expected:
            raise IntegrityError(
                f"{path}: sha256 {actual} does not match the manifest's {expected}"
            )


def pack_bundle(directory: Path) -> bytes:
    """The bundle folder as one deterministic zip archive (names sorted, fixed timestamps)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for path in sorted(p for p in directory.iterdir() if p.is_file()):
            info = zipfile.ZipInfo(path.name, date_time=(1980, 1, 1, 0, 0, 0))
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def unpack_bundle(data: bytes, target: Path) -> dict[str, Any]:
    """Write an archive from :func:`pack_bundle` into ``target``, verify it, return its manifest.

    Member names must be plain file names (no folders, no ``..``), so an archive cannot write
    outside ``target``.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise IntegrityError(f"not a bundle archive: {exc}") from exc
    with archive:
        for name in archive.namelist():
            if Path(name).name != name or name in ("", ".", ".."):
                raise IntegrityError(f"bundle archive member {name!r} is not a plain file name")
            (target / name).write_bytes(archive.read(name))
    manifest_path = target / MANIFEST
    if not manifest_path.is_file():
        raise IntegrityError("bundle archive without a manifest.json")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    verify_folder(target, manifest)
    return manifest
