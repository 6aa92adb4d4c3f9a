"""The rules table and the detection engine (pure functions; no files)."""

from __future__ import annotations

import random
import zlib

import pytest

from vaultgate.detect.examples import expand
from vaultgate.detect.placeholders import is_placeholder
from vaultgate.detect.secret_rules import RULES
from vaultgate.detect.secrets import SecretDetector, default_detector, find_secrets
from vaultgate.keys.tokens import TokenKind, mint

CASES = [(rule.id, example) for rule in RULES for example in rule.examples]


def test_rule_ids_are_unique_and_every_rule_has_examples() -> None:
    ids = [rule.id for rule in RULES]
    assert len(ids) == len(set(ids))
    for rule in RULES:
        assert any(e.matches for e in rule.examples), rule.id
        assert rule.description and rule.anchors


@pytest.mark.parametrize(
    ("rule_id", "example"), CASES, ids=[f"{r}-{i}" for i, (r, _) in enumerate(CASES)]
)
def test_rule_examples(rule_id: str, example: object) -> None:
    from vaultgate.detect.interface import Example

    assert isinstance(example, Example)
    text = expand(example.template, random.Random(zlib.crc32(example.template.encode())))
    reported = {m.rule_id for m in find_secrets(text)}
    with_fakes = {m.rule_id for m in find_secrets(text, allow_placeholders=False)}
    assert (rule_id in reported) == example.matches, text
    assert (rule_id in with_fakes) == (example.matches or example.placeholder), text


def test_minted_tokens_are_always_found_and_masked_like_the_console() -> None:
    for kind in TokenKind:
        for _ in range(50):
            token = mint(kind)
            [match] = find_secrets(f"key={token}\n")
            assert match.rule_id == "vaultgate-token"
            assert match.secret == token
            assert match.masked == f"{token[:8]}…{token[32:36]}"


def test_offsets_point_at_the_secret_in_str_and_bytes() -> None:
    key = expand("sk-proj-{b64url:74}T3BlbkFJ{b64url:74}", random.Random(1))
    text = f"héllo wörld 🙂\nOPENAI_API_KEY={key}\n"
    [match] = find_secrets(text)
    assert text[match.start : match.end] == key
    data = text.encode()
    [raw] = default_detector().find_bytes(data)
    assert data[raw.start : raw.end] == key.encode()
    assert raw.sha256 == match.sha256


def test_placeholder_step_is_switchable() -> None:
    text = "OPENAI_API_KEY=sk-proj-xxxxxxxxxxxxxxxxxxxxT3BlbkFJxxxxxxxxxxxxxxxxxxxx"
    assert find_secrets(text) == []
    [match] = find_secrets(text, allow_placeholders=False)
    assert match.placeholder and match.rule_id == "openai-api-key"


@pytest.mark.parametrize(
    "value",
    [
        "your-api-key-here",
        "YOUR_API_KEY",
        "x" * 40,
        "A" * 30 + "B",
        "changeme-please-123",
        "abcdefghijklmnop",
        "<insert key>",
        "test_token_1234",
    ],
)
def test_obvious_fakes(value: str) -> None:
    assert is_placeholder(value)


def test_random_keys_are_not_taken_for_fakes() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        body = expand("{b64url:74}T3BlbkFJ{b64url:74}", rng)
        assert not is_placeholder(body), body


def test_masks_never_contain_the_secret() -> None:
    rng = random.Random(3)
    for rule in RULES:
        for example in rule.examples:
            text = expand(example.template, rng)
            for match in find_secrets(text, allow_placeholders=False):
                assert match.secret not in match.masked
                assert len(match.masked) < len(match.secret)


def test_overlapping_rules_report_once() -> None:
    key = expand("sk-proj-{b64url:74}T3BlbkFJ{b64url:74}", random.Random(2))
    matches = find_secrets(f'OPENAI_SECRET_API_KEY = "{key}"')
    assert [m.rule_id for m in matches] == ["openai-api-key"]


def test_custom_rule_table() -> None:
    only_tokens = SecretDetector([r for r in RULES if r.id == "vaultgate-token"])
    key = expand("AKIA{B32:16}", random.Random(4))
    assert only_tokens.find(f"{key} {mint(TokenKind.MEMBER_KEY)}")[0].rule_id == "vaultgate-token"
    assert len(only_tokens.find(key)) == 0
