"""Request-side privacy: every upstream string scanned, typed stable placeholders, modes, secrets, escapes."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest
from tests.privacy import pii_corpus as corpus

from vaultgate.detect.examples import expand
from vaultgate.gateway.endpoints import match
from vaultgate.privacy.errors import PrivacyRefusal
from vaultgate.privacy.guard import PrivacyGuard
from vaultgate.privacy.modes import DEFAULT_POLICY, PrivacyPolicy, PrivacyPolicyError
from vaultgate.privacy.placeholders import RedactionMap

GUARD = PrivacyGuard()
RNG = random.Random(55)
EMAIL = corpus.email(RNG)
CARD = corpus.card(RNG)
IBAN = corpus.iban(RNG)


def _protect(payload: dict[str, Any], policy: PrivacyPolicy = DEFAULT_POLICY) -> RedactionMap:
    rmap, _, _, _ = GUARD.protect(payload, {}, b"", policy)
    return rmap


def test_every_string_in_the_body_is_redacted_and_placeholders_are_stable() -> None:
    payload: dict[str, Any] = {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": f"Customer: {EMAIL}"},
            {"role": "user", "content": [{"type": "text", "text": f"pay with {CARD}, mail {EMAIL}"}]},
            {"role": "assistant", "tool_calls": [{"function": {"arguments": orjson.dumps({"iban": IBAN}).decode()}}]},
        ],
        "tools": [{"type": "function", "function": {"description": f"default account {IBAN}"}}],
        "some_future_field": {"deep": [[f"x {EMAIL} y"]]},
        "metadata": {"n": int(CARD.replace(" ", "").replace("-", ""))},
    }
    rmap = _protect(payload)
    dumped = orjson.dumps(payload).decode()
    for raw in (EMAIL, CARD, IBAN, CARD.replace(" ", "").replace("-", "")):
        assert raw not in dumped
    assert dumped.count("[EMAIL_1]") == 3 and "[EMAIL_2]" not in dumped
    assert "[IBAN_1]" in payload["messages"][2]["tool_calls"][0]["function"]["arguments"]
    assert rmap.restore_text("[EMAIL_1] / [IBAN_1]") == f"{EMAIL} / {IBAN}"


@pytest.mark.parametrize(
    "encode",
    [
        lambda s: s.replace("@", "%40"),
        lambda s: s.replace("@", "&#64;"),
        lambda s: s.replace("@", "&commat;"),
        lambda s: s.replace("@", "\\u0040"),
        lambda s: s.replace("@", "\\x40").replace(".", "%2E"),
    ],
)
def test_escaped_values_are_found_and_replaced_in_their_written_form(encode: Any) -> None:
    written = encode(EMAIL)
    payload = {"input": f"see https://example.org/u?e={written}&x=1"}
    rmap = _protect(payload)
    assert payload["input"] == "see https://example.org/u?e=[EMAIL_1]&x=1"
    assert rmap.value_of("[EMAIL_1]") == EMAIL


def test_placeholder_shaped_text_the_client_wrote_is_never_reused() -> None:
    payload = {"input": f"template uses [EMAIL_1] literally; real one {EMAIL}"}
    rmap = _protect(payload)
    assert payload["input"] == "template uses [EMAIL_1] literally; real one [EMAIL_2]"
    assert rmap.value_of("[EMAIL_1]") is None


def test_modes_mask_block_allow() -> None:
    policy = PrivacyPolicy.from_json({"pii": {"email": "mask", "card": "allow", "iban": "block"}})
    payload = {"input": f"{EMAIL} {CARD}"}
    rmap = _protect(payload, policy)
    assert not rmap
    assert payload["input"].endswith(CARD) and EMAIL not in payload["input"] and "***@***." in payload["input"]
    with pytest.raises(PrivacyRefusal) as refused:
        _protect({"input": f"iban {IBAN}"}, policy)
    assert refused.value.code == "pii_blocked" and "'iban'" in refused.value.message
    assert IBAN not in refused.value.message


def test_secret_blocks_by_default_naming_the_kind_never_the_value() -> None:
    key = expand("sk-proj-{b64url:74}T3BlbkFJ{b64url:74}", random.Random(1))
    with pytest.raises(PrivacyRefusal) as refused:
        _protect({"messages": [{"role": "user", "content": f"why does {key} fail?"}]})
    assert refused.value.code == "secret_detected" and "openai-api-key" in refused.value.message
    assert key not in refused.value.message and key[:12] not in refused.value.message


def test_secret_redact_mode_replaces_every_secret_shaped_value_including_examples() -> None:
    rng = random.Random(2)
    real = expand("ghp_{b62:36}", rng)
    aws_example = "AKIA" + "IOSFODNN7" + "EXAMPLE"
    payload = {"input": f"token {real} and the docs key {aws_example}"}
    rmap = _protect(payload, PrivacyPolicy.from_json({"secrets": "redact"}))
    assert real not in payload["input"] and aws_example not in payload["input"]
    assert payload["input"] == "token [SECRET_1] and the docs key [SECRET_2]"
    assert rmap.restore_text(payload["input"]) == f"token {real} and the docs key {aws_example}"


def test_example_secrets_are_masked_even_in_block_mode() -> None:
    aws_example = "AKIA" + "IOSFODNN7" + "EXAMPLE"
    payload = {"input": f"what is {aws_example}?"}
    _protect(payload)
    assert payload["input"] == "what is [SECRET_1]?"


def test_query_and_path_parameters_are_redacted() -> None:
    _, _, params, query = GUARD.protect(
        None, {"model": EMAIL}, b"after=" + EMAIL.replace("@", "%40").encode(), DEFAULT_POLICY
    )
    assert EMAIL not in query.decode() and EMAIL.replace("@", "%40") not in query.decode()
    assert params == {"model": "[EMAIL_1]"} and query == b"after=%5BEMAIL_1%5D"


def test_a_card_number_as_model_id_passes_the_template_but_not_the_redaction() -> None:
    target = match("GET", f"/v1/models/{CARD}")
    _, _, params, _ = GUARD.protect(None, target.params, b"", DEFAULT_POLICY)
    assert params == {"model": "[CARD_1]"}
    assert target.with_params(params).upstream_path() == "/models/%5BCARD_1%5D"


def test_bad_input_deep_nesting_huge_arrays_and_non_strings() -> None:
    deep: Any = f"x {EMAIL}"
    for _ in range(5000):
        deep = [deep]
    payload: dict[str, Any] = {"input": deep, "n": [None, True, 1.5, 12, {"k": []}], "big": ["plain"] * 100_000}
    _protect(payload)
    node = payload["input"]
    while isinstance(node, list):
        node = node[0]
    assert node == "x [EMAIL_1]"


def test_object_keys_with_personal_data_are_renamed() -> None:
    payload = {"metadata": {EMAIL: "vip"}}
    _protect(payload)
    assert payload["metadata"] == {"[EMAIL_1]": "vip"}


def test_policy_json_round_trip_and_errors() -> None:
    policy = PrivacyPolicy.from_json({"pii": {"phone": "mask"}, "secrets": "redact", "response_pii": "mask"})
    assert PrivacyPolicy.from_json(policy.to_json()) == policy
    for bad in ({"pii": {"email": "shred"}}, {"pii": {"dna": "mask"}}, {"secrets": "allow"}, {"x": 1}, "redact"):
        with pytest.raises(PrivacyPolicyError):
            PrivacyPolicy.from_json(bad)
