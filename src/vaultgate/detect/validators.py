"""Structural checks and maskers for the secret rules (pure functions of a candidate).

A validator says whether a regex hit has the shape of the secret (a checksum, a marker,
enough randomness, a secret-like name); whether the value is a documentation example is
the separate, switchable placeholder step (:mod:`vaultgate.detect.placeholders`).
"""

from __future__ import annotations

import re

from vaultgate.detect.entropy import char_classes, shannon_entropy
from vaultgate.detect.interface import Candidate
from vaultgate.keys import tokens

OPENAI_MARKER = "T3BlbkFJ"  # base64 of "OpenAI", in every OpenAI user/project/service key

_SECRET_WORDS = frozenset(
    {
        "key",
        "apikey",
        "secret",
        "secretkey",
        "secrets",
        "token",
        "apitoken",
        "authtoken",
        "accesstoken",
        "password",
        "passwd",
        "pwd",
        "passphrase",
        "credential",
        "credentials",
        "authorization",
        "auth",
        "accesskey",
        "privatekey",
        "clientsecret",
        "signingkey",
    }
)
# Identifier words that make a name about a secret rather than the secret itself.
_NOT_SECRET_WORDS = frozenset(
    [
        "id",
        "ids",
        "name",
        "names",
        "file",
        "filename",
        "path",
        "dir",
        "url",
        "uri",
        "endpoint",
        "env",
        "var",
        "type",
        "types",
        "len",
        "length",
        "size",
        "count",
        "header",
        "field",
        "fields",
        "prefix",
        "suffix",
        "format",
        "pattern",
        "regex",
        "re",
        "hash",
        "hashed",
        "digest",
        "sha",
        "sha1",
        "sha256",
        "sha512",
        "md5",
        "checksum",
        "fingerprint",
        "etag",
        "public",
        "pub",
        "kind",
        "mode",
        "label",
        "policy",
        "version",
        "expiry",
        "expires",
        "expiration",
        "ttl",
        "timeout",
        "index",
        "column",
        "col",
        "attr",
        "arg",
        "param",
        "params",
        "prop",
        "method",
        "class",
        "cls",
        "func",
        "fn",
        "host",
        "port",
        "user",
        "username",
        "email",
        "region",
        "algorithm",
        "alg",
        "usage",
        "scope",
        "scopes",
        "location",
        "store",
        "storage",
        "backend",
        "provider",
        "service",
        "source",
        "template",
        "schema",
        "placeholder",
        "description",
        "desc",
        "help",
        "msg",
        "message",
        "text",
        "title",
        "display",
        "mask",
        "masked",
        "min",
        "max",
        "limit",
        "encoding",
        "cache",
        "map",
        "dict",
        "list",
        "set",
        "keys",
        "values",
        "kind",
        "ref",
        "refs",
        "reference",
        "store",
        "hint",
        "rotation",
        "rotated",
        "last4",
        "hint",
        "id_",
        "manager",
        "getter",
        "setter",
        "policy",
        "policies",
    ]
)
_IDENTIFIER_TAIL = re.compile(r"[A-Za-z0-9_.$-]*$")
_IDENTIFIER_HEAD = re.compile(r"[A-Za-z0-9_.-]*")
_WORD_SPLIT = re.compile(r"[A-Z]?[a-z]+[0-9]*|[A-Z]+[0-9]*(?![a-z])|[0-9]+")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_DOTTED = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*(?:\.[A-Za-z_$][A-Za-z0-9_$]*)+$")
_HEX = re.compile(r"^[0-9a-fA-F]+$")


# Values in a format that a precise rule owns: that rule decides (a vaultgate token with a
# wrong checksum, a publishable Stripe key), not the generic one.
_OWNED_PREFIX = re.compile(r"^(?:vg[kats]_|sk-|gh[pousr]_|github_pat_|xox[a-z]-|[spr]k_(?:live|test)_|AIza|A[KS]IA)")
# SCREAMINGCASE compounds (SIGNINGSECRET, REFRESHTOKEN) end with one of these.
_SECRET_SUFFIXES = (
    "secret",
    "token",
    "password",
    "passwd",
    "apikey",
    "accesskey",
    "secretkey",
    "privatekey",
    "signingkey",
    "authkey",
    "masterkey",
    "encryptionkey",
    "sessionkey",
)


def identifier_words(name: str) -> list[str]:
    """The lowercase words of an identifier (snake_case, kebab-case, camelCase, dotted)."""
    return [w.lower() for w in _WORD_SPLIT.findall(name)]


def secret_name(before: str, matched: str) -> str:
    """The identifier that a generic hit was assigned to (the text around its keyword)."""
    head = _IDENTIFIER_TAIL.search(before)
    tail = _IDENTIFIER_HEAD.match(matched)
    return (head.group(0) if head else "") + (tail.group(0) if tail else "")


def is_secret_name(name: str) -> bool:
    """True when ``name`` names a secret (``OPENAI_API_KEY``) and not its metadata."""
    words = identifier_words(name)
    if not words or not any(w in _SECRET_WORDS or w.endswith(_SECRET_SUFFIXES) for w in words):
        return False
    if any(w in _NOT_SECRET_WORDS for w in words):
        return False
    return not any(w in ("public", "pub", "example", "sample") for w in words)


# Words: ``[A-Z]?[a-z]{2,}`` or ``[A-Z]{2,}``, each with up to 3 digits. Written so that a
# chunk splits into words one way only: the plain ``(?:...|...)+`` form backtracks
# exponentially on a long value that fails at its end (seconds for 40 characters, a hung
# gateway for 256). Checked equal on every string of up to 10 characters over "ABab1".
_WORDS = re.compile(r"(?:(?:[A-Z]*+[a-z]{2,}+|[A-Z]{2,}+)[0-9]{0,3}+)++")
_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]+")


def _looks_like_words(value: str) -> bool:
    """True for identifiers and prose-like values (``generate_token_v2``, ``SomeClassName``)."""
    for chunk in _NOT_ALNUM.split(value):
        if not chunk or (chunk.isdigit() and len(chunk) <= 4):
            continue
        if not _WORDS.fullmatch(chunk):
            return False
    return True


def random_enough(value: str) -> bool:
    """True when ``value`` has the character mix and entropy of a generated secret."""
    length = len(value)
    if _HEX.match(value):
        return length >= 32 and shannon_entropy(value) >= 3.3
    if char_classes(value) < 2:
        return False
    return shannon_entropy(value) >= min(4.0, 0.3 * length + 0.5, 3.0 + length / 32)


def generic_secret(candidate: Candidate) -> bool:
    """A random-looking value assigned to a secret-like name."""
    value = candidate.secret
    if not 16 <= len(value) <= 256:
        return False
    if _UUID.match(value) or _DOTTED.match(value) or _looks_like_words(value):
        return False
    if value[0] in "/.~-" or "://" in value or _OWNED_PREFIX.match(value):
        return False
    if not random_enough(value):
        return False
    return is_secret_name(secret_name(candidate.before, candidate.matched))


def near_azure_endpoint(candidate: Candidate) -> bool:
    """32 hex within five lines of an ``openai.azure.com`` endpoint (not labelled an id)."""
    label = identifier_words(candidate.before.rsplit("\n", 1)[-1])
    if any(w in _NOT_SECRET_WORDS or w in ("example", "sample") for w in label):
        return False
    before = "\n".join(candidate.before.split("\n")[-6:])
    after = "\n".join(candidate.after.split("\n")[:6])
    return "openai.azure.com" in before or "openai.azure.com" in after


def api_key_name(candidate: Candidate) -> bool:
    """32 hex assigned to a name such as ``api_key``, ``AZURE_OPENAI_KEY``, ``api-key``."""
    name = secret_name(candidate.before, candidate.matched)
    words = identifier_words(name)
    if not any(w.endswith("key") for w in words):
        return False
    if not any(w.startswith(("api", "azure", "openai", "subscription")) for w in words):
        return False
    return not any(w in _NOT_SECRET_WORDS for w in words)


def openai_key(candidate: Candidate) -> bool:
    """The ``T3BlbkFJ`` marker, or a current prefix (``sk-proj-``...) and a long body."""
    if OPENAI_MARKER in candidate.body:
        return True
    prefixed = candidate.secret[3:].split("-", 1)[0] in ("proj", "svcacct", "admin", "None")
    return prefixed and len(candidate.body) >= 40 and char_classes(candidate.body) == 3


def aws_access_key(candidate: Candidate) -> bool:
    """AKIA keys as they are; the ASIA prefix also spells a word, so ask for randomness."""
    if candidate.secret.startswith("AKIA"):
        return True
    return any(c.isdigit() for c in candidate.body) or shannon_entropy(candidate.body) >= 3.5


def has_digit_and_dash(candidate: Candidate) -> bool:
    """Slack tokens carry numeric team/user ids separated by dashes."""
    return "-" in candidate.body and any(c.isdigit() for c in candidate.body)


def vaultgate_token(candidate: Candidate) -> bool:
    """A vaultgate token whose CRC32 checksum matches (zero false positives by design)."""
    return tokens.parse(candidate.secret) is not None


def private_key_block(candidate: Candidate) -> bool:
    """A PEM private-key block with a real-looking base64 body (not ``...`` or filler)."""
    body = re.sub(r"\\[nr]|[\s\"',+]", "", candidate.body)
    body = re.sub(r"^(?:[A-Za-z-]+:[^\n]*)+", "", body)
    if "..." in candidate.body or "xxxx" in body.lower() or len(body) < 64:
        return False
    return shannon_entropy(body) >= 4.5


def random_body(candidate: Candidate) -> bool:
    """The body mixes character classes (rules out words and filler after a prefix)."""
    return char_classes(candidate.body) >= 2


def mask_with_prefix(secret: str, prefix_length: int) -> str:
    """Fixed prefix, then the first and last 4 characters of the body (short: first 2)."""
    prefix, body = secret[:prefix_length], secret[prefix_length:]
    if len(body) >= 24:
        return f"{prefix}{body[:4]}…{body[-4:]}"
    if len(body) >= 12:
        return f"{prefix}{body[:2]}…"
    return f"{prefix}…"


def mask_vaultgate(secret: str) -> str:
    """The console's display form ``vgk_AbCd…wxyz``."""
    return tokens.display(secret)


def mask_openai(secret: str) -> str:
    """``sk-proj-AbCd…wxyz``: the public prefix and 4+4 characters of the body."""
    head = secret.split("-")
    prefix = len(head[0]) + 1
    if len(head) > 2 and head[1] in ("proj", "svcacct", "admin", "None", "ant"):
        prefix += len(head[1]) + 1
    return mask_with_prefix(secret, prefix)


def mask_private_key(secret: str) -> str:
    """Only the kind and size of a private-key block, never any of its body."""
    header = secret.split("\n", 1)[0].split("\\n", 1)[0].strip("- ")
    kind = header.removeprefix("BEGIN").strip()
    return f"[{kind} block, {len(secret)} chars]"


def mask_generic(secret: str) -> str:
    """First and last 2 characters of a value of unknown format (short: first 2)."""
    if len(secret) >= 20:
        return f"{secret[:2]}…{secret[-2:]}"
    return f"{secret[:2]}…"
