"""Issue 9, class 10: simple disguises must not get a secret or an address past detection.

Each disguise goes through a real ``vaultgate serve`` with the default policy (secrets
blocked, personal data redacted); the recording upstream must never see the value, neither
as written nor in its plain form.
"""

from __future__ import annotations

import base64
import random
from typing import Any

import openai
import pytest

from tests.attacks.conftest import RecordingUpstream, Served
from vaultgate.detect.examples import expand

RNG = random.Random(910)
KEY = expand("sk-proj-{b64url:74}T3BlbkFJ{b64url:74}", RNG)
AWS = expand("AKIA{B32:16}", RNG)
EMAIL = "jane.doe@example.com"
CARD = "4111 1111 1111 1111"
FULLWIDTH = {chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)}


def _fullwidth(text: str) -> str:
    return "".join(FULLWIDTH.get(c, c) for c in text)


def _client(served: Served) -> openai.OpenAI:
    return openai.OpenAI(base_url=served.base_url, api_key=served.key(served.member()), max_retries=0)


def _chat(served: Served, messages: list[dict[str, Any]]) -> Any:
    return _client(served).chat.completions.create(model="gpt-4o", messages=messages)  # type: ignore[arg-type]


def _nothing_raw(upstream: RecordingUpstream, *values: str) -> None:
    seen = upstream.everything().decode("utf-8", "replace")
    for value in values:
        assert value not in seen, "a disguised value reached the upstream"


SECRET_DISGUISES = {
    "zero-width space inside the key": KEY[:20] + "\u200b" + KEY[20:],
    "word joiner and soft hyphen inside the key": KEY[:12] + "\u2060" + KEY[12:40] + "\u00ad" + KEY[40:],
    "zero-width space written as an HTML entity": KEY[:20] + "&#8203;" + KEY[20:],
    "zero-width joiner written as a JSON-style escape": KEY[:30] + "\\u200d" + KEY[30:],
    "zero-width space percent-encoded": KEY[:25] + "%E2%80%8B" + KEY[25:],
    "fullwidth letters": _fullwidth(KEY[:16]) + KEY[16:],
    "cyrillic look-alikes in the prefix": "ѕk-рrој-" + KEY[8:],
    "zero-width inside an AWS key id": AWS[:4] + "\u200d" + AWS[4:],
    "base64 in a data URI": "data:text/plain;base64," + base64.b64encode(KEY.encode()).decode(),
    "plain base64": base64.b64encode(f"my key is {AWS}".encode()).decode(),
}


@pytest.mark.parametrize("written", list(SECRET_DISGUISES.values()), ids=list(SECRET_DISGUISES))
def test_a_disguised_secret_is_refused_and_never_forwarded(
    served: Served, upstream: RecordingUpstream, written: str
) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        _chat(served, [{"role": "user", "content": f"why does this fail: {written}"}])
    assert refused.value.code == "secret_detected"
    assert not upstream.requests
    assert written not in str(refused.value) and KEY[10:30] not in str(refused.value)


@pytest.mark.parametrize(
    "messages",
    [
        # Split early, so neither piece alone looks like a key.
        [{"role": "user", "content": "this one: " + KEY[:12]}, {"role": "user", "content": KEY[12:] + " thanks"}],
        [
            {
                "role": "user",
                "content": [{"type": "text", "text": "see " + KEY[:10]}, {"type": "text", "text": KEY[10:]}],
            }
        ],
        [{"role": "system", "content": "use " + AWS[:10]}, {"role": "user", "content": AWS[10:]}],
    ],
    ids=["two messages", "two content parts", "aws key id over two messages"],
)
def test_a_key_split_across_two_messages_or_parts_is_refused(
    served: Served, upstream: RecordingUpstream, messages: list[dict[str, Any]]
) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        _chat(served, messages)
    assert refused.value.code == "secret_detected"
    assert not upstream.requests


PII_DISGUISES = {
    "fullwidth at-sign": EMAIL.replace("@", "\uff20"),
    "fullwidth address": _fullwidth(EMAIL),
    "cyrillic letter in the domain": EMAIL.replace("example", "exаmple"),
    "zero-width space before the at-sign": EMAIL.replace("@", "\u200b@"),
    "fullwidth escape": EMAIL.replace("@", "\uff05\uff14\uff10"),
    "fullwidth card digits": _fullwidth(CARD),
    "arabic-indic card digits": CARD.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")),
    "email in a data URI": "data:text/plain;base64," + base64.b64encode(f"mail {EMAIL}".encode()).decode(),
}


@pytest.mark.parametrize("written", list(PII_DISGUISES.values()), ids=list(PII_DISGUISES))
def test_disguised_personal_data_is_redacted_before_it_leaves(
    served: Served, upstream: RecordingUpstream, written: str
) -> None:
    answer = _chat(served, [{"role": "user", "content": f"please contact {written} today"}])
    assert upstream.requests, "the request was forwarded (redacted)"
    _nothing_raw(upstream, written, EMAIL, CARD, CARD.replace(" ", ""), "jane.doe", "1111 1111 1111")
    sent = upstream.last.json()["messages"][0]["content"]
    assert "[EMAIL_1]" in sent or "[CARD_1]" in sent
    # The client gets its own text back, as it wrote it or as the detectors read it.
    assert "[EMAIL_1]" not in (answer.choices[0].message.content or "")
