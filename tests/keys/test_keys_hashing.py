"""Keyed hashing: stored lookup hashes and pseudonyms depend on the key and never contain the token."""

from __future__ import annotations

import hashlib
import re

from vaultgate.keys import tokens
from vaultgate.keys.hashing import TokenHasher, fingerprint, same_secret

KEY_A = b"a" * 32
KEY_B = b"b" * 32


def test_token_hash_is_stable_hex_and_keyed() -> None:
    token = tokens.mint(tokens.TokenKind.MEMBER_KEY)
    digest = TokenHasher(KEY_A).token_hash(token)
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert TokenHasher(KEY_A).token_hash(token) == digest
    assert TokenHasher(KEY_B).token_hash(token) != digest
    # Without the key, the stored hash is not the plain SHA-256 a leaked database could be matched against.
    assert digest != hashlib.sha256(token.encode()).hexdigest()
    assert token not in digest and token[4:] not in digest


def test_token_hash_distinguishes_tokens() -> None:
    hasher = TokenHasher(KEY_A)
    minted = [tokens.mint(tokens.TokenKind.MEMBER_KEY) for _ in range(100)]
    assert len({hasher.token_hash(t) for t in minted}) == 100


def test_hasher_repr_does_not_leak_key() -> None:
    assert "aaaa" not in repr(TokenHasher(KEY_A))


def test_pseudonym_is_stable_keyed_and_separated_by_purpose() -> None:
    a = TokenHasher(KEY_A)
    assert a.pseudonym("member", "m-1") == a.pseudonym("member", "m-1")
    assert a.pseudonym("member", "m-1") != a.pseudonym("member", "m-2")
    assert a.pseudonym("member", "m-1") != a.pseudonym("ip", "m-1")
    assert a.pseudonym("member", "m-1") != TokenHasher(KEY_B).pseudonym("member", "m-1")
    assert len(a.pseudonym("member", "m-1")) == 64
    short = a.pseudonym("member", "m-1", length=16)
    assert len(short) == 16
    assert a.pseudonym("member", "m-1").startswith(short)
    assert "m-1" not in a.pseudonym("member", "m-1")


def test_fingerprint_is_unkeyed_sha256() -> None:
    token = tokens.mint(tokens.TokenKind.MEMBER_KEY)
    assert fingerprint(token) == hashlib.sha256(token.encode("ascii")).hexdigest()


def test_same_secret() -> None:
    assert same_secret("abc", "abc")
    assert not same_secret("abc", "abd")
    assert not same_secret("abc", "abcd")
    assert not same_secret("", "a")
