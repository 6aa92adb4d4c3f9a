"""The vaultgate token format: prefix, 32 random base62 characters, 6-digit base62 CRC32.

``vgk_`` member key, ``vga_`` admin token, ``vgt_`` short-lived token, ``vgs_`` SCIM token. The checksum lets
any scanner validate a token offline with no false positives; the secret part is never
stored, only its keyed hash (see :mod:`vaultgate.keys.hashing`).
"""

from __future__ import annotations

import enum
import re
import secrets
import zlib
from dataclasses import dataclass

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
RANDOM_LENGTH = 32
CHECKSUM_LENGTH = 6
TOKEN_LENGTH = 4 + RANDOM_LENGTH + CHECKSUM_LENGTH

_BASE62_INDEX = {c: i for i, c in enumerate(BASE62)}


class TokenKind(enum.Enum):
    """What a token grants; the value is its prefix."""

    MEMBER_KEY = "vgk_"
    ADMIN_TOKEN = "vga_"  # noqa: S105 - a prefix, not a secret
    SHORT_LIVED = "vgt_"
    SCIM_TOKEN = "vgs_"  # noqa: S105 - a prefix, not a secret


# A token anywhere in text: used by the scanner and the prompt secret check.
# Bounded by anything but base62, so ``KEY_vgk_...`` and ``"vgk_..."`` are found alike.
TOKEN_PATTERN = re.compile(r"(?<![0-9A-Za-z])vg[kats]_[0-9A-Za-z]{38}(?![0-9A-Za-z])")


@dataclass(frozen=True, slots=True)
class ParsedToken:
    """A syntactically valid token whose checksum matched."""

    kind: TokenKind
    random: str

    @property
    def display(self) -> str:
        """The form shown in listings: prefix, first 4 and last 4 of the random part."""
        return f"{self.kind.value}{self.random[:4]}…{self.random[-4:]}"


def checksum(random_part: str) -> str:
    """CRC32 of the random part as 6 base62 digits, most significant first."""
    value = zlib.crc32(random_part.encode("ascii"))
    digits = []
    for _ in range(CHECKSUM_LENGTH):
        value, rem = divmod(value, 62)
        digits.append(BASE62[rem])
    return "".join(reversed(digits))


def mint(kind: TokenKind) -> str:
    """A new random token of ``kind`` (the only time its plaintext exists)."""
    random_part = "".join(secrets.choice(BASE62) for _ in range(RANDOM_LENGTH))
    return kind.value + random_part + checksum(random_part)


def parse(token: str) -> ParsedToken | None:
    """The parsed token, or None when it is not a well-formed token with a valid checksum."""
    if len(token) != TOKEN_LENGTH:
        return None
    try:
        kind = TokenKind(token[:4])
    except ValueError:
        return None
    random_part = token[4 : 4 + RANDOM_LENGTH]
    if any(c not in _BASE62_INDEX for c in token[4:]):
        return None
    if not secrets.compare_digest(checksum(random_part), token[4 + RANDOM_LENGTH :]):
        return None
    return ParsedToken(kind=kind, random=random_part)


def display(token: str) -> str:
    """The masked display form of a token (``vgk_AbCd…wxyz``); never the secret."""
    parsed = parse(token)
    if parsed is None:
        return token[:4] + "…"
    return parsed.display
