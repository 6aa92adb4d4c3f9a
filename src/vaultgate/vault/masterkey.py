"""Master key sources: ``VAULTGATE_MASTER_KEY``, ``VAULTGATE_MASTER_KEY_FILE`` or the data dir file.

A source holds a keyring: one or more 256-bit keys, base64url-encoded, one per line (or
comma-separated in the environment variable). The first is the primary, used for new
seals; the others only open values sealed before a rotation.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

from vaultgate.vault.errors import MasterKeyError

KEY_BYTES = 32


@dataclass(frozen=True, slots=True)
class MasterKey:
    """One 256-bit master key and its public id (a hash prefix, safe to store)."""

    material: bytes = field(repr=False)

    @property
    def key_id(self) -> str:
        """A short id naming the key in sealed values; reveals nothing usable."""
        return hashlib.sha256(b"vaultgate-master-key-id" + self.material).hexdigest()[:12]

    @property
    def fingerprint(self) -> str:
        """A keyed derivation that tells this key apart from others (HMAC-SHA256 under the key itself):
        safe to write into a backup manifest, useless for opening anything."""
        return hmac.new(self.material, b"vaultgate-master-key-fingerprint-v1", hashlib.sha256).hexdigest()

    def encoded(self) -> str:
        """The key as written in a key file or environment variable."""
        return base64.urlsafe_b64encode(self.material).decode("ascii")

    @classmethod
    def generate(cls) -> MasterKey:
        """A new random master key."""
        return cls(secrets.token_bytes(KEY_BYTES))

    @classmethod
    def decode(cls, text: str) -> MasterKey:
        """Parse one encoded key; raises MasterKeyError without echoing the input."""
        try:
            raw = text.strip()
            # Accept unpadded keys too (``secrets.token_urlsafe(32)`` prints 43 characters, no '=').
            material = base64.urlsafe_b64decode((raw + "=" * (-len(raw) % 4)).encode("ascii"))
        except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
            raise MasterKeyError("master key is not valid base64url") from exc
        if len(material) != KEY_BYTES:
            raise MasterKeyError(f"master key must be {KEY_BYTES} bytes")
        return cls(material)


@dataclass(frozen=True, slots=True)
class Keyring:
    """The primary master key first, then older keys kept only to open old seals."""

    keys: tuple[MasterKey, ...]

    @property
    def primary(self) -> MasterKey:
        """The key new seals use."""
        return self.keys[0]

    def find(self, key_id: str) -> MasterKey | None:
        """The key with this id, if the ring holds it."""
        for key in self.keys:
            if key.key_id == key_id:
                return key
        return None

    def holds(self, fingerprint: str) -> bool:
        """Whether one of the ring's keys has this fingerprint (compared in constant time)."""
        return any(hmac.compare_digest(key.fingerprint, fingerprint) for key in self.keys)

    def encoded(self) -> str:
        """The ring in key-file form: one key per line, primary first."""
        return "".join(k.encoded() + "\n" for k in self.keys)

    @classmethod
    def parse(cls, text: str) -> Keyring:
        """A ring from key-file or environment text (newlines or commas between keys)."""
        parts = [p for p in text.replace(",", "\n").splitlines() if p.strip()]
        if not parts:
            raise MasterKeyError("master key is empty")
        return cls(tuple(MasterKey.decode(p) for p in parts))


def read_key_file(path: Path) -> Keyring:
    """Read a key file, refusing one that group or others can read."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError as exc:
        raise MasterKeyError(f"master key file {path} does not exist (run 'vaultgate init')") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise MasterKeyError(
            f"master key file {path} is readable by group or others "
            f"(mode {stat.S_IMODE(mode):o}); run: chmod 600 {path}"
        )
    return Keyring.parse(path.read_text())


def write_key_file(path: Path, ring: Keyring) -> None:
    """Write the ring atomically with mode 0600 (never briefly world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, ring.encoded().encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


@dataclass(frozen=True, slots=True)
class MasterKeySource:
    """Where the keyring comes from; the environment wins over the file."""

    env_value: str | None = field(default=None, repr=False)
    file: Path | None = None

    @property
    def writable(self) -> bool:
        """Whether rotation can write the new ring back (only a file source can)."""
        return self.env_value is None and self.file is not None

    def load(self) -> Keyring:
        """The current keyring; raises MasterKeyError when none is usable."""
        if self.env_value:
            return Keyring.parse(self.env_value)
        if self.file is None:
            raise MasterKeyError("no master key configured")
        return read_key_file(self.file)
