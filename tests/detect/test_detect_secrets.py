"""The rules table and the detection engine (pure functions; no files)."""

from __future__ import annotations

import itertools
import random
import re
import string
import zlib

import pytest

from vaultgate.detect.examples import expand
from vaultgate.detect.interface import Candidate, expand_anchor
from vaultgate.detect.placeholders import is_placeholder
from vaultgate.detect.secret_rules import RULES
from vaultgate.detect.secrets import SecretDetector, default_detector, find_secrets
from vaultgate.detect.validators import _WORDS
from vaultgate.keys.tokens import TokenKind, mint

_IDENT = set(string.ascii_letters + string.digits + "_")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

CASES = [(rule.id, example) for rule in RULES for example in rule.examples]


def test_rule_ids_are_unique_and_every_rule_has_examples() -> None:
    ids = [rule.id for rule in RULES]
    assert len(ids) == len(set(ids))
    for rule in RULES:
        assert any(e.matches for e in rule.examples), rule.id
        assert rule.description and rule.anchors


@pytest.mark.parametrize(("rule_id", "example"), CASES, ids=[f"{r}-{i}" for i, (r, _) in enumerate(CASES)])
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


def test_anchor_expansion() -> None:
    assert set(expand_anchor("p(?:assw(?:or)?d|wd|assphrase)")) == {"passwd", "password", "pwd", "passphrase"}
    assert expand_anchor(r"gh[pousr]_|github_pat_|hooks\.slack\.com")[-2:] == ("github_pat_", "hooks.slack.com")
    for rule in RULES:
        for source in rule.anchors:
            assert all(re.fullmatch(source, s) for s in expand_anchor(source)), source
    for unsupported in ("a+", "[a-z]", "a.b", r"\d", "(a)", "a|(?:b"):
        with pytest.raises(ValueError):
            expand_anchor(unsupported)


Found = list[tuple[str, int, int, str, bool]]


def _reference(text: str, allow_placeholders: bool) -> Found:
    """The rules applied the slow, obvious way: every anchor searched, every pattern run over the text."""
    lowered = text.lower() if len(text.lower()) == len(text) else text.translate(_ASCII_LOWER)
    found: Found = []
    taken: list[tuple[int, int]] = []
    for rule in RULES:
        haystack = lowered if rule.lowercase else text
        if rule.anchored:
            patterns = [re.compile(f"(?:{a})(?:{rule.pattern})") for a in rule.anchors]
        elif any(re.search(a, haystack) for a in rule.anchors):
            patterns = [re.compile(rule.pattern)]
        else:
            continue
        for match in (m for p in patterns for m in p.finditer(haystack)):
            if rule.boundary and match.start() > 0 and text[match.start() - 1] in _IDENT:
                continue
            start, end = match.span("secret") if "secret" in match.re.groupindex else match.span()
            body = text[slice(*match.span("body"))] if "body" in match.re.groupindex else text[start:end]
            context = rule.context
            candidate = Candidate(
                secret=text[start:end],
                body=body,
                matched=text[match.start() : match.end()],
                before=text[max(0, match.start() - context) : match.start()],
                after=text[match.end() : match.end() + context],
            )
            if rule.validate is not None and not rule.validate(candidate):
                continue
            placeholder = rule.check_placeholders and is_placeholder(body)
            if (placeholder and allow_placeholders) or any(s < end and start < e for s, e in taken):
                continue
            taken.append((start, end))
            found.append((rule.id, start, end, text[start:end], placeholder))
    return sorted(found, key=lambda f: f[1])


def _fuzz_text(rng: random.Random) -> str:
    """Secret-like assignments, anchors in every case, near misses and noise, glued together."""
    names = ["key", "API_KEY", "apiKey", "AZURE_OPENAI_API_KEY", "api-key", "Secret", "client_secret", "TOKEN"]
    names += ["authToken", "password", "passwd", "pwd", "passphrase", "Authorization", "token_url", "secretsecret"]
    operators = ["=", " = ", ":", ": ", ":=", " => ", "||=", "??=", '": "', '"]=', ") = ", " ", "=="]
    quotes = ["", '"', "'", "`", 'b"', '\\"', "Bearer "]
    anchors = ["sk-", "SK-", "sk-proj-", "vgk_", "VGA_", "AKIA", "ASIA", "asiasia", "AIza", "ghp_", "github_pat_"]
    anchors += ["xoxb-", "XOXOXB-", "hooks.slack.com/services/", "sk_live_", "rk_test_", "vgk_live_", "T3BlbkFJ"]
    pem = "-" * 5 + "{} RSA PRIVATE KEY" + "-" * 5  # assembled, so scanners of this repo stay quiet
    anchors += ["https://x.openai.azure.com/", pem.format("BEGIN"), pem.format("END")]
    separators = ["\n", " ", "\t", ",", ";", ")", "#", "é", "🙂", "\\n", "K", ""]
    templates = [e.template for r in RULES for e in r.examples] + ["{b62:16}", "{b62:40}", "{hex:32}", "{HEX:32}"]
    templates += ["{b64:40}", "{vgk}", "sk-proj-{b64url:74}T3BlbkFJ{b64url:74}", "ASIA{B32:16}", "{pem:RSA}"]
    parts = []
    for _ in range(rng.randint(1, 25)):
        value = expand(rng.choice(templates), rng)
        roll = rng.random()
        if roll < 0.5:
            quote = rng.choice(quotes)
            parts.append(rng.choice(names) + rng.choice(operators) + quote + value + quote)
        elif roll < 0.8:
            parts.append(rng.choice(anchors) + (value if roll < 0.7 else ""))
        else:
            parts.append(value)
        parts.append(rng.choice(separators) * rng.randint(1, 2))
    return "".join(parts)


def test_engine_finds_what_the_obvious_implementation_finds() -> None:
    """The scans that gate the rules lose nothing: same results as running every rule everywhere."""
    rng = random.Random(11)
    detector = default_detector()
    texts = [_fuzz_text(rng) for _ in range(250)] + [
        expand(t, rng) for r in RULES for t in (e.template for e in r.examples)
    ]
    compared = 0
    for text in texts:
        for allow in (True, False):
            expected = _reference(text, allow)
            got = [
                (m.rule_id, m.start, m.end, m.secret, m.placeholder)
                for m in detector.find(text, allow_placeholders=allow)
            ]
            assert got == expected, text
            data = text.encode("utf-8")
            got_bytes = detector.find_bytes(data, allow_placeholders=allow)
            assert [data[m.start : m.end].decode() for m in got_bytes] == [f[3] for f in expected], text
            compared += len(expected)
    assert compared > 1000


def test_word_like_values_are_recognised_without_backtracking() -> None:
    """A long value that almost splits into words used to take the regex engine exponential time."""
    plain = re.compile(r"(?:[A-Z]?[a-z]{2,}[0-9]{0,3}|[A-Z]{2,}[0-9]{0,3})+")
    for length in range(1, 8):
        for chars in itertools.product("ABab1", repeat=length):
            chunk = "".join(chars)
            assert bool(_WORDS.fullmatch(chunk)) == bool(plain.fullmatch(chunk)), chunk
    value = ("abcdefghijklmnopqrstuvwxyz" * 10)[:240] + "ABCD1234"
    assert find_secrets(f'password = "{value}"') == []
