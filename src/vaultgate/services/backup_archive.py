"""The backup archive: a gzip-compressed tar of ``manifest.json`` and the database.

The database is ``database.sqlite3`` (a SQLite file) or ``database.pgdump`` (``pg_dump
--format=custom``). The manifest says which vaultgate and schema revision made it, when, for
which database kind, and the fingerprints of the master keys that sealed its secrets (keyed
derivations: a master key is never in an archive). ``payload_sha256`` catches a damaged or
truncated database before anything is restored.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tarfile
import zlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import orjson

from vaultgate.services.errors import ArchiveRefused, Conflict

FORMAT = "vaultgate-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
PAYLOADS = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}
ARCHIVE_MODE = 0o600
_MAX_MANIFEST = 64 * 1024
_CHUNK = 1 << 20
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class SealingKey:
    """A master key that sealed secrets in the archive: its public id and its fingerprint."""

    key_id: str
    fingerprint: str


@dataclass(frozen=True, slots=True)
class Manifest:
    """What an archive holds and what restoring it needs."""

    vaultgate_version: str
    schema_revision: str
    database: str
    created_at: datetime
    master_keys: tuple[SealingKey, ...]
    payload_sha256: str
    payload_bytes: int

    @property
    def payload(self) -> str:
        """The tar member holding the database."""
        return PAYLOADS[self.database]

    def to_json(self) -> bytes:
        """The manifest as written into the archive."""
        return orjson.dumps(
            {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "vaultgate_version": self.vaultgate_version,
                "schema_revision": self.schema_revision,
                "database": self.database,
                "created_at": self.created_at.isoformat(),
                "master_keys": [{"key_id": k.key_id, "fingerprint": k.fingerprint} for k in self.master_keys],
                "payload": self.payload,
                "payload_sha256": self.payload_sha256,
                "payload_bytes": self.payload_bytes,
            },
            option=orjson.OPT_INDENT_2,
        )

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        """Parse and check a manifest; ValueError naming what is wrong."""
        doc = orjson.loads(data)
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise ValueError("its manifest is not a vaultgate backup manifest")
        if doc.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"archive format {doc.get('format_version')!r} is not {FORMAT_VERSION}: made by a newer vaultgate?"
            )
        database = _text(doc, "database")
        if database not in PAYLOADS or doc.get("payload") != PAYLOADS[database]:
            raise ValueError("its manifest names no known database kind")
        keys = doc.get("master_keys")
        if not isinstance(keys, list) or not keys:
            raise ValueError("its manifest names no master key")
        digest = _text(doc, "payload_sha256")
        size = doc.get("payload_bytes")
        if not _HEX64.fullmatch(digest) or not isinstance(size, int) or size < 0:
            raise ValueError("its manifest has no valid checksum")
        created = datetime.fromisoformat(_text(doc, "created_at"))
        if created.tzinfo is None:
            raise ValueError("its manifest's created_at has no UTC offset")
        return cls(
            vaultgate_version=_text(doc, "vaultgate_version"),
            schema_revision=_text(doc, "schema_revision"),
            database=database,
            created_at=created,
            master_keys=tuple(SealingKey(_text(k, "key_id"), _text(k, "fingerprint")) for k in keys),
            payload_sha256=digest,
            payload_bytes=size,
        )


def _text(doc: Any, name: str) -> str:
    value = doc.get(name) if isinstance(doc, dict) else None
    if not isinstance(value, str) or not value or len(value) > 200:
        raise ValueError(f"its manifest has no valid {name}")
    return value


def digest_of(path: Path) -> tuple[str, int]:
    """(SHA-256 hex, size in bytes) of a file, read in chunks."""
    sha = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            sha.update(chunk)
            size += len(chunk)
    return sha.hexdigest(), size


def write(destination: Path, manifest: Manifest, payload: Path, work: Path, *, replace: bool) -> None:
    """Write the archive (mode 0600) in ``work`` (a private directory beside ``destination``), then move it
    into place: renamed over an old file only with ``replace``, else linked (which refuses an existing file)."""
    staged = work / "archive.tar.gz"
    fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, ARCHIVE_MODE)
    with os.fdopen(fd, "wb") as raw:
        with tarfile.open(fileobj=raw, mode="w:gz") as tar:
            mtime = manifest.created_at.timestamp()
            body = manifest.to_json()
            tar.addfile(_member(MANIFEST, len(body), mtime), io.BytesIO(body))
            with payload.open("rb") as f:
                tar.addfile(_member(manifest.payload, manifest.payload_bytes, mtime), f)
        raw.flush()
        os.fsync(raw.fileno())
    if replace:
        os.replace(staged, destination)
    else:
        try:
            os.link(staged, destination)
        except FileExistsError:
            raise Conflict(f"{destination} exists: choose another file name, or --force to replace it") from None
        staged.unlink()
    _sync_directory(destination.parent)


def _member(name: str, size: int, mtime: float) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = ARCHIVE_MODE
    info.mtime = int(mtime)
    return info


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read(path: Path, work: Path) -> tuple[Manifest, Path]:
    """The manifest and the database extracted into ``work`` (checked against the manifest's checksum).

    ArchiveRefused, one line, for anything that is not an intact vaultgate archive.
    """
    with path.open("rb") as raw:  # a missing or unreadable file is the operating system's error
        try:
            return _read(raw, work)
        except (tarfile.TarError, EOFError, zlib.error, OSError, ValueError) as exc:
            if isinstance(exc, OSError) and exc.errno is not None:
                raise  # a read error of the disk, not of the archive
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ArchiveRefused(f"{path} is not an intact vaultgate backup: {reason}") from None


def _read(raw: IO[bytes], work: Path) -> tuple[Manifest, Path]:
    with tarfile.open(fileobj=raw, mode="r:gz") as tar:
        first = tar.next()
        if first is None or first.name != MANIFEST or not first.isfile() or first.size > _MAX_MANIFEST:
            raise ValueError(f"it does not start with {MANIFEST}")
        manifest = Manifest.from_json(_content(tar, first).read())
        member = tar.next()
        if member is None or member.name != manifest.payload or not member.isfile():
            raise ValueError(f"it holds no {manifest.payload}")
        target = work / manifest.payload
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, ARCHIVE_MODE)
        sha = hashlib.sha256()
        size = 0
        with os.fdopen(fd, "wb") as out:
            source = _content(tar, member)
            while chunk := source.read(_CHUNK):
                sha.update(chunk)
                size += len(chunk)
                out.write(chunk)
        if size != manifest.payload_bytes or sha.hexdigest() != manifest.payload_sha256:
            raise ValueError(f"its {manifest.payload} does not match the manifest's checksum (damaged or truncated)")
        if tar.next() is not None:
            raise ValueError("it holds more than a manifest and a database")
    return manifest, target


def _content(tar: tarfile.TarFile, member: tarfile.TarInfo) -> IO[bytes]:
    content = tar.extractfile(member)
    if content is None:
        raise ValueError(f"{member.name} is not a file")
    return content
