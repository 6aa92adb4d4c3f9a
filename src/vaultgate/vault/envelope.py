"""Envelope encryption: a fresh AES-256-GCM data key per secret, wrapped by the master key.

A sealed value is text: ``v1.<master key id>.<wrapped data key>.<ciphertext>`` (base64url
parts, each with its 12-byte nonce in front). The record's id is the associated data of
both layers, so a sealed value copied onto another record does not open.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vaultgate.vault.errors import MasterKeyError, SealError
from vaultgate.vault.masterkey import Keyring, MasterKeySource

_VERSION = "v1"
_NONCE = 12
_TAG = 16


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    # The lenient decoder skips stray characters and ignores slack bits; only the exact
    # encoding we wrote may open, so an edited sealed value never does.
    if _b64(data) != text:
        raise ValueError("not canonical base64url")
    return data


def _encrypt(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = secrets.token_bytes(_NONCE)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _decrypt(key: bytes, blob: bytes, aad: bytes) -> bytes:
    return AESGCM(key).decrypt(blob[:_NONCE], blob[_NONCE:], aad)


class Vault:
    """Seals and opens secrets for named records; the only place they are decrypted."""

    def __init__(self, source: MasterKeySource, ring: Keyring | None = None) -> None:
        self._source = source
        self._ring = ring if ring is not None else source.load()

    @property
    def keyring(self) -> Keyring:
        """The keyring in use (primary first)."""
        return self._ring

    @property
    def source(self) -> MasterKeySource:
        """Where the keyring was loaded from."""
        return self._source

    def seal(self, record_id: str, plaintext: bytes) -> str:
        """Encrypt ``plaintext`` for ``record_id`` under a new data key and the primary key."""
        aad = record_id.encode()
        data_key = AESGCM.generate_key(bit_length=256)
        master = self._ring.primary
        wrapped = _encrypt(master.material, data_key, aad + b"|" + master.key_id.encode())
        body = _encrypt(data_key, plaintext, aad)
        return ".".join((_VERSION, master.key_id, _b64(wrapped), _b64(body)))

    def open(self, record_id: str, sealed: str) -> bytes:
        """Decrypt a value sealed for ``record_id``; SealError for anything wrong."""
        key_id, wrapped, body = self._split(sealed)
        data_key = self._unwrap(record_id, key_id, wrapped)
        try:
            return _decrypt(data_key, body, record_id.encode())
        except InvalidTag as exc:
            raise SealError("sealed value does not open") from exc

    def rewrap(self, record_id: str, sealed: str) -> str:
        """The same secret with its data key wrapped by the primary key (body untouched)."""
        key_id, wrapped, body = self._split(sealed)
        master = self._ring.primary
        if key_id == master.key_id:
            return sealed
        data_key = self._unwrap(record_id, key_id, wrapped)
        new_wrapped = _encrypt(master.material, data_key, record_id.encode() + b"|" + master.key_id.encode())
        return ".".join((_VERSION, master.key_id, _b64(new_wrapped), _b64(body)))

    def key_id_of(self, sealed: str) -> str:
        """The id of the master key a sealed value is wrapped with."""
        return self._split(sealed)[0]

    def sealing_keys(self, sealed_values: Iterable[str]) -> dict[str, str]:
        """The master keys that wrapped these sealed values: key id → fingerprint (never the key).

        SealError when a value is malformed or wrapped by a key the ring does not hold.
        """
        found: dict[str, str] = {}
        for sealed in sealed_values:
            key_id = self.key_id_of(sealed)
            if key_id in found:
                continue
            master = self._ring.find(key_id)
            if master is None:
                raise SealError("sealed with an unknown master key")
            found[key_id] = master.fingerprint
        return found

    def reload(self) -> None:
        """Re-read the keyring from its source (after a rotation by another process)."""
        self._ring = self._source.load()

    def _split(self, sealed: str) -> tuple[str, bytes, bytes]:
        parts = sealed.split(".")
        if len(parts) != 4 or parts[0] != _VERSION:
            raise SealError("sealed value is malformed")
        try:
            wrapped, body = _unb64(parts[2]), _unb64(parts[3])
        except (binascii.Error, ValueError) as exc:
            raise SealError("sealed value is malformed") from exc
        # AESGCM raises ValueError, not InvalidTag, on a short nonce: reject short blobs here.
        if len(wrapped) < _NONCE + _TAG or len(body) < _NONCE + _TAG:
            raise SealError("sealed value is malformed")
        return parts[1], wrapped, body

    def _unwrap(self, record_id: str, key_id: str, wrapped: bytes) -> bytes:
        master = self._ring.find(key_id)
        if master is None:
            # Another process may have rotated the master key since we loaded the ring.
            try:
                self.reload()
            except MasterKeyError as exc:
                raise SealError("sealed with an unknown master key") from exc
            master = self._ring.find(key_id)
            if master is None:
                raise SealError("sealed with an unknown master key")
        try:
            return _decrypt(master.material, wrapped, record_id.encode() + b"|" + key_id.encode())
        except InvalidTag as exc:
            raise SealError("sealed value does not open") from exc
