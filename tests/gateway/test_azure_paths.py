"""Azure-shaped paths onto the /v1 templates (gateway/azure_paths.py), with and without a raw path."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from vaultgate.gateway import read
from vaultgate.gateway.errors import GatewayError
from vaultgate.gateway.exchange import Exchange


def routed(method: str, path: str, raw: bytes | None) -> Exchange:
    ex = Exchange(method, path, b"api-version=2024-10-21", {}, None, raw_path=raw)
    read.check_route(ex)
    return ex


@pytest.mark.parametrize("with_raw", [True, False])
@pytest.mark.parametrize(
    ("path", "expected", "deployment"),
    [
        ("/openai/deployments/gpt-4o/chat/completions", "/v1/chat/completions", "gpt-4o"),
        ("/openai/deployments/ft:gpt-4o:org::x1/embeddings", "/v1/embeddings", "ft:gpt-4o:org::x1"),
        ("/openai/v1/chat/completions", "/v1/chat/completions", None),
        ("/openai/v1/models/gpt-4o", "/v1/models/gpt-4o", None),
        ("/openai/models", "/v1/models", None),
        ("/openai/responses", "/v1/responses", None),
    ],
)
def test_azure_paths_become_v1_templates(path: str, expected: str, deployment: str | None, with_raw: bool) -> None:
    ex = routed("GET" if "models" in path else "POST", path, path.encode() if with_raw else None)
    assert (ex.path, ex.azure_deployment, ex.query) == (expected, deployment, b"")


UNMAPPED = [
    b"/openai/deployments/gpt-4o/files",
    b"/openai/deployments/gpt-4o/chat/completions/x",
    b"/openai/deployments/gpt-4o%2Fchat/completions",
    b"/openai/deployments/..%2F..%2Fv1/chat/completions",
    b"/openai/deployments/%2e%2e/chat/completions",
    b"/openai%2Fv1/chat/completions",
    b"/openai//v1/chat/completions",
    b"/openai/v1/chat/completions/..%2Ffiles",
    b"/openai/",
]


def test_paths_that_do_not_map_are_unknown_next_to_one_that_does() -> None:
    assert routed("POST", "/openai/deployments/gpt-4o/chat/completions", None).path == "/v1/chat/completions"
    for raw in UNMAPPED:
        with pytest.raises(GatewayError) as raised:
            routed("POST", unquote(raw.decode()), raw)
        assert (raised.value.status, raised.value.code) == (404, "unknown_url"), raw


def test_the_deployment_is_the_model_and_a_disagreeing_body_is_refused() -> None:
    ex = routed("POST", "/openai/deployments/gpt-4o/chat/completions", None)
    ex.payload = {"messages": []}
    read.model_of_path(ex)
    assert (ex.model, ex.payload["model"], ex.body_changed) == ("gpt-4o", "gpt-4o", True)
    ex.payload, ex.body_changed = {"model": "o3", "messages": []}, False
    with pytest.raises(GatewayError) as raised:
        read.model_of_path(ex)
    assert (raised.value.status, raised.value.code, raised.value.param) == (400, "invalid_request", "model")
    assert "o3" not in raised.value.message
