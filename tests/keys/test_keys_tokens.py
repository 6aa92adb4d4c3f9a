"""The token format of DESIGN.md "External contract", checked against an independent implementation."""

from __future__ import annotations

import string
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vaultgate.keys import tokens
from vaultgate.keys.tokens import TOKEN_PATTERN, TokenKind

ALPHABET = string.digits + string.ascii_uppercase + string.ascii_lowercase
PREFIXES = {
    "vgk_": TokenKind.MEMBER_KEY,
    "vga_": TokenKind.ADMIN_TOKEN,
    "vgt_": TokenKind.SHORT_LIVED,
    "vgs_": TokenKind.SCIM_TOKEN,
}

random_parts = st.text(alphabet=ALPHABET, min_size=32, max_size=32)


def reference_checksum(random_part: str) -> str:
    """CRC32 (zlib) of the 32 ASCII chars, 6 base62 digits, most significant first, zero-padded."""
    value = zlib.crc32(random_part.encode("ascii"))
    return "".join(ALPHABET[(value // 62**power) % 62] for power in range(5, -1, -1))


def reference_token(prefix: str, random_part: str) -> str:
    return prefix + random_part + reference_checksum(random_part)


def test_alphabet_is_digits_upper_lower() -> None:
    assert tokens.BASE62 == ALPHABET


@given(random_part=random_parts)
@settings(max_examples=200)
def test_checksum_matches_independent_computation(random_part: str) -> None:
    assert tokens.checksum(random_part) == reference_checksum(random_part)


def test_checksum_known_values_are_zero_padded_msb_first() -> None:
    # The six digits read back (most significant first) to the CRC itself.
    part = "0" * 32
    crc = zlib.crc32(part.encode())
    digits = reference_checksum(part)
    assert len(digits) == 6
    assert sum(ALPHABET.index(d) * 62 ** (5 - i) for i, d in enumerate(digits)) == crc
    assert tokens.checksum(part) == digits
    # A small CRC is written with leading zeros: find one among cheap candidates.
    small = next(p for p in (f"{n:032d}" for n in range(200_000)) if zlib.crc32(p.encode()) < 62**5)
    assert tokens.checksum(small).startswith("0")
    assert tokens.checksum(small) == reference_checksum(small)


@pytest.mark.parametrize("kind", list(TokenKind))
def test_mint_produces_valid_token_of_each_kind(kind: TokenKind) -> None:
    token = tokens.mint(kind)
    assert len(token) == 4 + 32 + 6
    assert token.startswith(kind.value)
    random_part = token[4:36]
    assert all(c in ALPHABET for c in random_part)
    assert token[36:] == reference_checksum(random_part)
    parsed = tokens.parse(token)
    assert parsed is not None
    assert parsed.kind is kind
    assert parsed.random == random_part


def test_mint_is_random() -> None:
    minted = {tokens.mint(TokenKind.MEMBER_KEY) for _ in range(50)}
    assert len(minted) == 50


@pytest.mark.parametrize(("prefix", "kind"), list(PREFIXES.items()))
@given(random_part=random_parts)
@settings(max_examples=50)
def test_parse_accepts_independently_built_tokens(prefix: str, kind: TokenKind, random_part: str) -> None:
    parsed = tokens.parse(reference_token(prefix, random_part))
    assert parsed is not None
    assert parsed.kind is kind
    assert parsed.random == random_part


@pytest.mark.parametrize("prefix", list(PREFIXES))
def test_display_shows_prefix_first_four_and_last_four(prefix: str) -> None:
    random_part = "AbCd" + "M" * 24 + "wxyz"
    token = reference_token(prefix, random_part)
    assert tokens.display(token) == f"{prefix}AbCd…wxyz"
    parsed = tokens.parse(token)
    assert parsed is not None
    assert parsed.display == f"{prefix}AbCd…wxyz"


def test_display_of_invalid_token_never_shows_the_secret() -> None:
    token = tokens.mint(TokenKind.MEMBER_KEY)
    broken = token[:-1] + ("0" if token[-1] != "0" else "1")
    shown = tokens.display(broken)
    assert shown == "vgk_…"
    assert token[4:8] not in shown


@pytest.mark.parametrize("length", [0, 4, 37, 41, 43, 60])
def test_parse_rejects_wrong_length(length: int) -> None:
    token = tokens.mint(TokenKind.MEMBER_KEY)
    candidate = (token * 2)[:length]
    assert tokens.parse(candidate) is None


def test_parse_rejects_extra_or_missing_character_even_with_valid_prefix() -> None:
    token = tokens.mint(TokenKind.MEMBER_KEY)
    assert tokens.parse(token + "a") is None
    assert tokens.parse(token[:-1]) is None
    assert tokens.parse(" " + token) is None


@pytest.mark.parametrize("prefix", ["vgx_", "VGK_", "vgk-", "sk-_", "vg_k"])
def test_parse_rejects_unknown_prefix(prefix: str) -> None:
    random_part = "a" * 32
    assert tokens.parse(reference_token(prefix, random_part)) is None


@pytest.mark.parametrize("bad", ["-", "_", "+", "/", "=", " ", "é", "٣", "\x00", "Ａ"])
def test_parse_rejects_non_base62_characters_anywhere_after_prefix(bad: str) -> None:
    token = tokens.mint(TokenKind.MEMBER_KEY)
    for i in range(4, len(token)):
        candidate = token[:i] + bad + token[i + 1 :]
        assert tokens.parse(candidate) is None, (i, bad)


def _assert_substitution_rejected(token: str, position: int, replacement: str) -> None:
    candidate = token[:position] + replacement + token[position + 1 :]
    parsed = tokens.parse(candidate)
    if position >= 4:
        assert parsed is None, (position, replacement)
    else:
        # The checksum covers the random part only (external contract); a prefix typo
        # can only ever land on another kind, never on the original credential.
        original = tokens.parse(token)
        assert original is not None
        assert parsed is None or parsed.kind is not original.kind


def test_every_single_character_substitution_is_rejected_exhaustively() -> None:
    token = tokens.mint(TokenKind.MEMBER_KEY)
    for position in range(len(token)):
        for replacement in ALPHABET + "_-":
            if replacement != token[position]:
                _assert_substitution_rejected(token, position, replacement)


@given(
    prefix=st.sampled_from(list(PREFIXES)),
    random_part=random_parts,
    position=st.integers(min_value=0, max_value=41),
    replacement=st.characters(codec="utf-8"),
)
@settings(max_examples=300)
def test_single_character_substitution_is_rejected(
    prefix: str, random_part: str, position: int, replacement: str
) -> None:
    token = reference_token(prefix, random_part)
    if token[position] == replacement:
        return
    _assert_substitution_rejected(token, position, replacement)


def test_member_key_prefix_substitution_never_yields_member_key() -> None:
    token = tokens.mint(TokenKind.ADMIN_TOKEN)
    for replacement in ALPHABET:
        candidate = token[:2] + replacement + token[3:]
        parsed = tokens.parse(candidate)
        if parsed is not None:
            assert candidate[:4] in PREFIXES


def test_token_pattern_finds_tokens_in_text() -> None:
    k = tokens.mint(TokenKind.MEMBER_KEY)
    a = tokens.mint(TokenKind.ADMIN_TOKEN)
    t = tokens.mint(TokenKind.SHORT_LIVED)
    s = tokens.mint(TokenKind.SCIM_TOKEN)
    text = f'export OPENAI_API_KEY={k}\n{{"token": "{a}"}} and a url https://x/?key={t}&y=1\nAuthorization: Bearer {k}.'
    text += f"\nSCIM_TOKEN={s}"
    assert [m.group(0) for m in TOKEN_PATTERN.finditer(text)] == [k, a, t, k, s]


def test_token_pattern_ignores_lookalikes() -> None:
    k = tokens.mint(TokenKind.MEMBER_KEY)
    assert TOKEN_PATTERN.search(k[:-1]) is None  # too short
    assert TOKEN_PATTERN.search(k + "Z") is None  # part of a longer run
    assert TOKEN_PATTERN.search("X" + k) is None  # part of a longer run
    assert TOKEN_PATTERN.search("vgx_" + k[4:]) is None  # unknown prefix
    assert TOKEN_PATTERN.search("sk-proj-" + "a" * 40) is None


@given(random_part=random_parts, prefix=st.sampled_from(list(PREFIXES)))
@settings(max_examples=100)
def test_token_pattern_matches_every_valid_token(random_part: str, prefix: str) -> None:
    token = reference_token(prefix, random_part)
    match = TOKEN_PATTERN.search(f"key: {token}\n")
    assert match is not None
    assert match.group(0) == token
