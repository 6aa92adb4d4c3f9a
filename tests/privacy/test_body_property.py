"""Property: for any JSON body, the protect stage either refuses it or leaves nothing the detectors find.

Bodies are any nesting of objects, lists, strings and integers (hypothesis), with secrets and
personal data from the corpora injected anywhere (values, object keys, numbers), disguised
with the tricks of issue 9 (zero-width characters, fullwidth forms, look-alike letters,
escapes, base64, data URIs). After protect, every string of what would be sent is read the
way the gateway reads it, by the same detectors: nothing the policy does not allow is left.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.privacy import pii_corpus as corpus

from vaultgate.detect.examples import expand
from vaultgate.detect.pii import PiiDetector
from vaultgate.detect.pii_rules import Entity
from vaultgate.detect.secrets import default_detector
from vaultgate.privacy.encoded import blobs
from vaultgate.privacy.errors import PrivacyRefusal
from vaultgate.privacy.guard import PrivacyGuard
from vaultgate.privacy.modes import PrivacyPolicy
from vaultgate.privacy.textview import find_pii, view

RNG = random.Random(9)
GUARD = PrivacyGuard()
VALUES = [
    *(corpus.email(RNG) for _ in range(3)),
    *(corpus.card(RNG) for _ in range(3)),
    *(corpus.ssn(RNG) for _ in range(2)),
    corpus.ssn(RNG, area=0),
    corpus.iban(RNG),
    corpus.phone(RNG),
    "203.0.113.9",
    expand("sk-proj-{b64url:74}T3BlbkFJ{b64url:74}", RNG),
    expand("AKIA{B32:16}", RNG),
    expand("ghp_{b62:36}", RNG),
]
FULLWIDTH = {chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)}
DISGUISES: list[Callable[[str], str]] = [
    lambda v: v,
    lambda v: v[:3] + "\u200b" + v[3:],
    lambda v: "".join(FULLWIDTH.get(c, c) for c in v),
    lambda v: v.replace("a", "а").replace("e", "е").replace("o", "о"),  # Cyrillic look-alikes
    lambda v: v.replace("@", "%40").replace(".", "&#46;"),
    lambda v: base64.b64encode(f"see {v}".encode()).decode(),
    lambda v: "data:text/plain;base64," + base64.b64encode(v.encode()).decode(),
]
POLICIES = [
    PrivacyPolicy(),  # secrets block, every entity redacted
    PrivacyPolicy.from_json({"secrets": "redact", "pii": {"email": "mask", "card": "mask"}}),
]
FILLER = st.text(alphabet=st.sampled_from("abc xyz 019:-.@/+=\u200b\uff10"), max_size=12)


@st.composite
def sensitive(draw: st.DrawFn) -> str:
    value = draw(st.sampled_from(VALUES))
    disguise = draw(st.sampled_from(DISGUISES))
    return draw(FILLER) + disguise(value) + draw(FILLER)


STRINGS = st.one_of(FILLER, sensitive())
SCALARS = st.one_of(
    STRINGS,
    st.integers(),
    st.sampled_from([int(corpus.card(RNG).replace(" ", "").replace("-", "")) for _ in range(2)]).map(
        lambda n: -n if n % 2 else n
    ),
    st.none(),
    st.booleans(),
)
BODIES = st.dictionaries(
    st.one_of(st.sampled_from(["model", "input", "messages", "content", "metadata"]), STRINGS),
    st.recursive(
        SCALARS,
        lambda children: st.one_of(
            st.lists(children, max_size=4), st.dictionaries(st.one_of(FILLER, sensitive()), children, max_size=4)
        ),
        max_leaves=12,
    ),
    max_size=5,
)


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, bool) or node is None:
        return
    elif isinstance(node, int | float):
        yield str(abs(int(node))) if abs(node) >= 10**8 else ""
    elif isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def _left_over(text: str, policy: PrivacyPolicy, detector: PiiDetector) -> list[str]:
    seen = view(text)
    readable = seen.text if seen is not None else text
    found = [s.rule_id for s in default_detector().find(readable, allow_placeholders=False)]
    for blob in blobs(readable):
        found += [s.rule_id for s in default_detector().find(blob.decoded, allow_placeholders=False)]
    found += [m.entity.value for m in find_pii(detector, text) if policy.mode(m.entity).value != "allow"]
    return found


@pytest.mark.parametrize("policy", POLICIES, ids=["defaults", "redact-secrets-mask-some"])
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(body=BODIES)
def test_any_body_is_refused_or_leaves_nothing_the_detectors_find(policy: PrivacyPolicy, body: dict[str, Any]) -> None:
    try:
        GUARD.protect(body, {}, b"", policy)
    except PrivacyRefusal:
        return
    detector = GUARD.redactor.detector(frozenset(e for e in Entity if e is not Entity.PERSON))
    for text in _strings(body):
        if text:
            assert _left_over(text, policy, detector) == [], text
