"""gateway/endpoints.py: the templates match only plain requests, and build the upstream path themselves."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.attacks.test_upstream_paths import TEMPLATES
from tests.policy.request_facts import group_of

from vaultgate.gateway import read
from vaultgate.gateway.endpoints import ENDPOINTS, MODELS_RETRIEVE, TOKENS, endpoint_of, match
from vaultgate.gateway.errors import GatewayError
from vaultgate.gateway.exchange import Exchange
from vaultgate.gateway.templates import IDENTIFIER, Endpoint, Parameter, RequestTarget
from vaultgate.policy.scopes import GROUPS


def refusal(method: str, path: str, raw_path: bytes | None = None) -> GatewayError:
    with pytest.raises(GatewayError) as info:
        match(method, path, raw_path)
    return info.value


def test_every_served_path_matches_its_own_template_with_its_parameters() -> None:
    for template in TEMPLATES:
        path = template.path()
        target = match(template.method, path, path.encode())
        assert target.endpoint.pattern == template.pattern and target.path == path
        assert target.upstream_path() == path[len("/v1") :]
        assert list(target.params) == template.parameters
        assert all(template.path(**{name: value}) == path for name, value in target.params.items())


def test_every_group_is_a_policy_group_and_group_of_comes_from_the_templates() -> None:
    for endpoint in ENDPOINTS:
        assert endpoint.group is None or endpoint.group in GROUPS
        path = endpoint.pattern
        sample = next(t.path() for t in TEMPLATES if t.pattern == path)
        assert group_of(sample) == endpoint.group
    assert TOKENS.group is None and not TOKENS.upstream


def test_the_attack_suite_walks_every_template() -> None:
    walked = {(t.method, t.pattern) for t in TEMPLATES}
    assert walked == {(m, e.pattern) for e in ENDPOINTS for m in e.methods}


@pytest.mark.parametrize(
    "model",
    ["gpt-4o", "gpt-4o-mini-2024-07-18", "ft:gpt-4o-mini:org::Ab1.x_y-z", "o3", "text-embedding-3-small", "a" * 128],
)
def test_plain_model_ids_match(model: str) -> None:
    target = match("GET", f"/v1/models/{model}")
    assert target.model == model and target.upstream_path() == f"/models/{model}"


@pytest.mark.parametrize(
    "model",
    [
        "..",
        ".",
        "...",
        "a..b",
        "-x",
        ".hidden",
        "_x",
        "a" * 129,
        "a b",
        "a;b",
        "a\\b",
        "a%2Fb",
        "a%b",
        "a\x00",
        "a\r\nX: y",
        "gpt\u20144o",
        "\uff0e\uff0e",
        "a@b",
        "a?b",
        "a#b",
        "a+b",
        "",
    ],
)
def test_model_ids_that_are_not_plain_identifiers_are_unknown_urls(model: str) -> None:
    error = refusal("GET", f"/v1/models/{model}")
    assert (error.status, error.code) == (404, "unknown_url")


@pytest.mark.parametrize(
    ("path", "raw_path"),
    [
        ("/v1/models/gpt-4o/../../files", b"/v1/models/gpt-4o/../../files"),
        ("/v1/models/gpt-4o/../../files", b"/v1/models/gpt-4o%2F..%2F..%2Ffiles"),
        ("/v1/models/gpt-4o/../../files", b"/v1/models/gpt-4o%2f..%2f..%2ffiles"),
        ("/v1/models/../files", b"/v1/models/%2e%2e%2Ffiles"),
        ("/v1/models/%2F", b"/v1/models/%252F"),
        ("/v1/models/gpt\\4o", b"/v1/models/gpt%5C4o"),
        ("/v1/chat/completions", b"/v1/chat%2Fcompletions"),
        ("/v1/chat/completions", b"/v1//chat/completions"),
        ("/v1/models/x", b"/v1/models/\xe2\x80\xa5"),
        ("/v1/models/x", b"/v1/models/%C0%AE%C0%AE"),
        ("/v1/chat/completions/", b"/v1/chat/completions/"),
        ("/v1/models/", b"/v1/models/"),
    ],
)
def test_the_raw_path_decides_segment_by_segment(path: str, raw_path: bytes) -> None:
    """Split on the raw "/" first, then decode: an encoded separator never makes a segment boundary."""
    error = refusal("GET" if "models" in path else "POST", path, raw_path)
    assert (error.status, error.code) == (404, "unknown_url")


def test_percent_encoded_identifier_characters_still_match_one_segment() -> None:
    target = match("GET", "/v1/models/ft:gpt-4o", b"/v1/models/ft%3Agpt%2D4o")
    assert target.model == "ft:gpt-4o" and target.upstream_path() == "/models/ft:gpt-4o"
    assert match("POST", "/v1/chat/completions", b"/v1/%63hat/completions").endpoint.name == "chat.completions"


def test_without_a_raw_path_the_decoded_path_is_not_decoded_again() -> None:
    assert refusal("GET", "/v1/models/ft%3Agpt").code == "unknown_url"


def test_a_known_path_with_a_wrong_method_is_405() -> None:
    for method, path in [("PUT", "/v1/chat/completions"), ("POST", "/v1/models"), ("DELETE", "/v1/models/gpt-4o")]:
        error = refusal(method, path)
        assert (error.status, error.code) == (405, "method_not_allowed")
    assert "use GET or POST" in refusal("PUT", "/v1/chat/completions").message
    assert "use POST" in refusal("GET", "/v1/embeddings").message


def test_the_404_message_echoes_only_short_printable_paths() -> None:
    assert "/v1/nope" in refusal("GET", "/v1/nope").message
    assert "\x00" not in refusal("GET", "/v1/no\x00pe").message
    assert "x" * 200 not in refusal("GET", "/v1/" + "x" * 200).message


def test_the_upstream_path_encodes_each_parameter_as_one_segment() -> None:
    target = match("GET", "/v1/models/gpt-4o")
    # A redacted value (stage 5) is not an identifier: it is still exactly one segment.
    assert target.with_params({"model": "[PHONE_1]"}).upstream_path() == "/models/%5BPHONE_1%5D"
    assert target.with_params({"model": "../files"}).upstream_path() == "/models/..%2Ffiles"
    with pytest.raises(ValueError, match="keep their names"):
        target.with_params({"other": "x"})


def test_only_list_templates_forward_paging_and_none_forwards_anything_else() -> None:
    for endpoint in ENDPOINTS:
        forwarded = RequestTarget(endpoint).upstream_query(b"after=x&limit=1&api-version=2024&redirect=%2Fv1")
        assert forwarded == (b"after=x&limit=1" if "after" in endpoint.query else b"")
        assert not endpoint.query or "GET" in endpoint.methods


def test_bracketed_query_names_pass_as_their_base_name_only() -> None:
    listing = match("GET", "/v1/fine_tuning/jobs")
    sent = b"metadata%5Bteam%5D=a&metadata=b&metadatax%5B1%5D=c&metadata%5B=d&include%5B%5D=e"
    assert listing.upstream_query(sent) == b"metadata%5Bteam%5D=a&metadata=b"
    items = match("GET", "/v1/responses/resp_1/input_items")
    assert items.upstream_query(b"include%5B%5D=file_search_call.results&x%5B%5D=1") == (
        b"include%5B%5D=file_search_call.results"
    )


def test_a_template_may_allow_named_query_parameters_only() -> None:
    listing = RequestTarget(Endpoint("t", frozenset({"GET"}), "/v1/things", "models", query=frozenset({"a"})))
    assert listing.upstream_query(b"a=1&b=2&a=%2F") == b"a=1&a=%2F"


def test_identifier_definition() -> None:
    assert all(IDENTIFIER.fullmatch(c) is None for c in "/\\%;?#@ \t\x00.")
    assert [s for s in MODELS_RETRIEVE.segments if isinstance(s, Parameter)] == [Parameter("model", "model_id")]


def test_endpoint_of_ignores_the_method() -> None:
    assert endpoint_of("/v1/models/x") is MODELS_RETRIEVE
    assert endpoint_of("/v1/models/x/y") is None
    assert endpoint_of("v1/models") is None


def test_read_check_route_keeps_only_the_template_and_its_parameters() -> None:
    scope = {
        "method": "GET",
        "path": "/v1/models/gpt-4o",
        "raw_path": b"/v1/models/gpt-4o",
        "query_string": b"after=x",
        "headers": [],
    }
    ex: Exchange = read.start(scope)
    read.check_route(ex)
    assert ex.target is not None and ex.target.endpoint is MODELS_RETRIEVE
    assert (ex.model, ex.query, ex.path) == ("gpt-4o", b"", "/v1/models/gpt-4o")


def test_the_exchange_path_is_what_matched_not_what_the_server_decoded() -> None:
    scope = {"method": "POST", "path": "/v1/embeddings", "raw_path": b"/v1/%63hat/completions", "headers": []}
    ex: Exchange = read.start(scope)
    read.check_route(ex)
    assert ex.path == "/v1/chat/completions" and group_of(ex.path) == "chat"


@given(st.text(max_size=40))
def test_whatever_the_segment_a_match_is_one_plain_segment(segment: str) -> None:
    try:
        target = match("GET", "/v1/models/" + segment)
    except GatewayError as error:
        assert error.code in ("unknown_url", "method_not_allowed")
        return
    model = target.model
    assert model is not None and IDENTIFIER.fullmatch(model) and ".." not in model
    assert target.upstream_path() == "/models/" + model
