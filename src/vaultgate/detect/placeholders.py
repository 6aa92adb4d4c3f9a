"""Obviously fake values: documentation examples, filler and test fixtures.

This is a separate, switchable step (``find_secrets(text, allow_placeholders=...)``): the
scanner skips such values to keep noise down, the gateway may still want to mask them.
The checks are tuned so that a real random key is almost never taken for a fake one:
marker words must stand alone (delimited), filler runs must be long.
"""

from __future__ import annotations

import math
import re

from vaultgate.detect.entropy import longest_run, shannon_entropy

# Words that say "this is an example" when they open a value or when two of them stand
# alone in it ("your-api-key-here", "test_token", "fake-secret-for-tests").
_MARKER_WORDS = (
    "your|my|example|sample|placeholder|changeme|change|dummy|fake|test|testing|mock|mocked"
    "|redacted|replace|insert|here|todo|fixme|foo|bar|baz|foobar|secret|token|password|pass"
    "|key|api|apikey|xxx|xxxx|none|null|invalid|bogus|demo|local|dev|string|value|abc|abcd"
)
# An opening word is all-lowercase or all-uppercase and at least three letters long, so a
# random key starts with one by chance about once in a million.
_OPENING_WORDS = "|".join(w for w in _MARKER_WORDS.split("|") if len(w) >= 3)
_OPENING_WORD = re.compile(r"(?:" + _OPENING_WORDS + "|" + _OPENING_WORDS.upper() + r")(?:$|[-_. ])")
_STANDALONE_WORD = re.compile(r"(?:^|[-_. ])(?:" + _MARKER_WORDS + r")(?=$|[-_. ])", re.IGNORECASE)
# Markers that need no delimiting: long or specific enough never to occur in a random key
# by chance (case-sensitive on purpose: random text rarely repeats one case).
_EMBEDDED = re.compile(
    r"[Ee]xample|EXAMPLE|[Pp]laceholder|PLACEHOLDER|[Cc]hangeme|CHANGEME|[Rr]edacted|REDACTED"
    r"|[Dd]ummy|DUMMY|xxxxx|XXXXX|\*\*\*|\.\.\.|…|<[A-Za-z_ -]+>|\{\{|\$\{|%\("
    r"|abcdefgh|ABCDEFGH|12345678|0123456789"
)


def is_placeholder(body: str) -> bool:
    """True when ``body`` (a secret without its fixed prefix) looks like a fake value."""
    if not body:
        return True
    if _EMBEDDED.search(body) or _OPENING_WORD.match(body):
        return True
    if len(_STANDALONE_WORD.findall(body)) >= 2:
        return True
    if longest_run(body) >= 6:
        return True
    length = len(body)
    if length >= 8 and shannon_entropy(body) < min(3.0, 0.5 * math.log2(length)):
        return True
    # Mostly one filler character, such as sk-proj-AAAA...AAAB.
    return length >= 16 and max(body.count(c) for c in set(body)) > length // 2
