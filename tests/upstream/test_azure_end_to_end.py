"""Azure OpenAI behind vaultgate, driven by the official SDK (``OpenAI`` and ``AzureOpenAI``) through a running
gateway to a loopback server playing Azure and its Entra ID token endpoint (tests/support/azure.py)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.support.azure import ECHO_CREDENTIAL_WORD, FILTERED_WORD, JWT_HEADER, STREAM_FILTERED_WORD, FakeAzure
from tests.support.servers import ThreadedServer
from vaultgate.config import Settings
from vaultgate.server import build
from vaultgate.services import bootstrap, keys, members, providers
from vaultgate.services.context import LOCAL_OPERATOR, ControlPlane

API_VERSION = "2024-10-21"
DEPLOYMENTS = {"gpt-4o": "prod-4o", "text-embedding-3-small": "prod-embed"}
CHAT = [{"role": "user", "content": "hello azure"}]


@dataclass
class AzureStack:
    """vaultgate (SQLite) with one Azure provider as the default, in front of the fake Azure."""

    cp: ControlPlane
    gateway: ThreadedServer
    azure: FakeAzure
    azure_url: str

    @property
    def base_url(self) -> str:
        return self.gateway.url + "/v1"

    def key(self, member: str = "alice", **policy: Any) -> str:
        members.add(self.cp, LOCAL_OPERATOR, member)
        token = keys.create(self.cp, LOCAL_OPERATOR, member, policy=policy).token
        target = self.cp.store.revision()
        while int(httpx.get(self.gateway.url + "/healthz").json()["revision"]) < target:
            time.sleep(0.02)  # polling the gateway's revision (refreshed every 0.2 s)
        return token

    def client(self, key: str) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.base_url, api_key=key, max_retries=0)


@pytest.fixture
def azure_gateway(tmp_path: Path) -> Iterator[Any]:
    """A factory: ``azure_gateway(**provider_add_kwargs)`` starts vaultgate in front of a fresh fake Azure."""
    started: list[tuple[ThreadedServer, ThreadedServer, ControlPlane]] = []

    def start(azure: FakeAzure | None = None, **kwargs: Any) -> AzureStack:
        fake = azure or FakeAzure()
        upstream = ThreadedServer(fake).start()
        settings = Settings(data_dir=tmp_path / "data", usage_flush_interval=0.2, refresh_interval=0.2)
        bootstrap.init(settings)
        cp = bootstrap.open_control_plane(settings)
        options: dict[str, Any] = {"api_version": API_VERSION, "deployments": DEPLOYMENTS, "api_key": fake.api_key}
        options.update(kwargs)
        if options.get("auth") == "entra":
            options.setdefault("tenant_id", fake.tenant_id)
            options.setdefault("client_id", fake.client_id)
            options.setdefault("token_url", upstream.url + fake.token_path())
            options["api_key"] = kwargs.get("api_key", fake.client_secret)
        providers.add(
            cp, LOCAL_OPERATOR, "azure", kind="azure", base_url=upstream.url, allow_insecure_http=True, **options
        )
        gateway = ThreadedServer(build(settings)).start()
        started.append((gateway, upstream, cp))
        return AzureStack(cp, gateway, fake, upstream.url)

    yield start
    for gateway, upstream, cp in started:
        gateway.stop()
        upstream.stop()
        cp.store.dispose()


def azure_client(stack: AzureStack, key: str, **kwargs: Any) -> openai.AzureOpenAI:
    return openai.AzureOpenAI(
        azure_endpoint=stack.gateway.url, api_key=key, api_version="2025-04-01-preview", max_retries=0, **kwargs
    )


# --- both surfaces, api-key ---


def test_deployments_surface_with_api_key(azure_gateway: Any) -> None:
    stack = azure_gateway()
    key = stack.key()
    client = stack.client(key)
    reply = client.chat.completions.create(model="gpt-4o", messages=CHAT)
    assert reply.choices[0].message.content == "azure says: hello azure"
    embedding = client.embeddings.create(model="text-embedding-3-small", input="x")
    assert embedding.data[0].embedding == [0.25, 0.5]

    assert client.responses.create(model="gpt-4o", input="hi").output_text == "azure says: hi"

    chat, embed, resp = stack.azure.api_requests
    assert (chat.path, chat.query.decode()) == (
        "/openai/deployments/prod-4o/chat/completions",
        f"api-version={API_VERSION}",
    )
    assert embed.path == "/openai/deployments/prod-embed/embeddings"
    # The Responses API is resource-wide on Azure: the deployment goes in the body.
    assert (resp.path, resp.json()["model"]) == ("/openai/responses", "prod-4o")
    assert chat.headers["api-key"] == stack.azure.api_key
    assert "authorization" not in chat.headers and key not in chat.everything().decode()


def test_v1_surface_sends_the_deployment_as_model_without_api_version(azure_gateway: Any) -> None:
    stack = azure_gateway(azure_surface="v1", api_version=None)
    client = stack.client(stack.key())
    reply = client.chat.completions.create(model="gpt-4o", messages=CHAT)
    assert reply.choices[0].message.content == "azure says: hello azure"
    response = client.responses.create(model="gpt-4o", input="hi there")
    assert response.output_text == "azure says: hi there"

    chat, resp = stack.azure.api_requests
    assert (chat.path, chat.query) == ("/openai/v1/chat/completions", b"")
    assert chat.json()["model"] == "prod-4o"
    assert (resp.path, resp.query, resp.json()["model"]) == ("/openai/v1/responses", b"", "prod-4o")
    assert chat.headers["api-key"] == stack.azure.api_key


def test_v1_surface_passes_an_operator_api_version(azure_gateway: Any) -> None:
    stack = azure_gateway(azure_surface="v1", api_version="preview")
    stack.client(stack.key()).chat.completions.create(model="gpt-4o", messages=CHAT)
    assert stack.azure.api_requests[0].query == b"api-version=preview"


# --- Entra ID ---


def entra_tokens_used(azure: FakeAzure) -> list[str]:
    return [r.headers["authorization"].removeprefix("Bearer ") for r in azure.api_requests]


def test_entra_token_is_fetched_once_for_many_requests(azure_gateway: Any) -> None:
    stack = azure_gateway(auth="entra")
    client = stack.client(stack.key())
    for _ in range(5):
        client.chat.completions.create(model="gpt-4o", messages=CHAT)
    client.embeddings.create(model="text-embedding-3-small", input="x")

    assert stack.azure.token_calls == 1
    assert entra_tokens_used(stack.azure) == [stack.azure.issued[0]] * 6
    for request in stack.azure.api_requests:
        assert "api-key" not in request.headers
        assert stack.azure.client_secret not in request.everything().decode()


def test_entra_token_is_refreshed_when_near_expiry(azure_gateway: Any) -> None:
    azure = FakeAzure(expires_in=120)  # under the 5-minute refresh margin: used once, then renewed
    stack = azure_gateway(azure, auth="entra")
    client = stack.client(stack.key())
    client.chat.completions.create(model="gpt-4o", messages=CHAT)
    client.chat.completions.create(model="gpt-4o", messages=CHAT)
    azure.expires_in = 3600
    for _ in range(3):
        client.chat.completions.create(model="gpt-4o", messages=CHAT)

    assert azure.token_calls == 3
    first, second, third = azure.issued
    assert entra_tokens_used(azure) == [first, second, third, third, third]


def test_a_refused_client_secret_is_a_clear_502(azure_gateway: Any, caplog: pytest.LogCaptureFixture) -> None:
    wrong = "cs~wrong-" + "x" * 30
    stack = azure_gateway(auth="entra", api_key=wrong)
    client = stack.client(stack.key())
    with caplog.at_level(logging.DEBUG), pytest.raises(openai.InternalServerError) as raised:
        client.chat.completions.create(model="gpt-4o", messages=CHAT)
    error = raised.value.body
    assert raised.value.status_code == 502 and isinstance(error, dict)
    assert error["code"] == "upstream_auth_failed"
    assert "Entra ID refused" in error["message"] and "invalid_client" in error["message"]
    assert wrong not in raised.value.response.text and wrong not in caplog.text
    assert stack.azure.api_requests == []


def test_an_unavailable_token_endpoint_is_a_502(azure_gateway: Any) -> None:
    azure = FakeAzure(token_status=503)
    stack = azure_gateway(azure, auth="entra")
    with pytest.raises(openai.InternalServerError) as raised:
        stack.client(stack.key()).chat.completions.create(model="gpt-4o", messages=CHAT)
    assert raised.value.status_code == 502
    assert isinstance(raised.value.body, dict) and raised.value.body["code"] == "upstream_token_unavailable"
    assert azure.api_requests == []


def test_the_entra_access_token_is_scrubbed_from_answers(azure_gateway: Any) -> None:
    stack = azure_gateway(auth="entra")
    client = stack.client(stack.key())
    about_jwts = f"{ECHO_CREDENTIAL_WORD}; a JWT starts with {JWT_HEADER}"
    reply = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": about_jwts}])
    content = reply.choices[0].message.content or ""
    token = stack.azure.issued[0]
    signature = token.rsplit(".", 1)[1]
    assert content.endswith(".[provider credential removed])")  # header.claims stay, the signature goes
    assert signature[:12] not in content and signature[-12:] not in content
    assert f"a JWT starts with {JWT_HEADER}" in content  # a JWT header alone is not a credential
    stream = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": ECHO_CREDENTIAL_WORD}], stream=True
    )
    streamed = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert signature[:12] not in streamed and "[provider credential removed]" in streamed


# --- content filtering ---


def test_a_filtered_prompt_is_an_openai_shaped_error_with_its_categories(azure_gateway: Any) -> None:
    stack = azure_gateway()
    client = stack.client(stack.key())
    for stream in (False, True):
        with pytest.raises(openai.BadRequestError) as raised:
            client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": f"tell me about {FILTERED_WORD}"}], stream=stream
            )
        error = raised.value.body
        assert isinstance(error, dict)
        assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", "content_filter", "prompt")
        assert raised.value.code == "content_filter"
        assert error["content_filter"]["categories"] == ["hate", "jailbreak"]
        assert error["content_filter"]["results"]["hate"] == {"filtered": True, "severity": "high"}
        assert "hate, jailbreak" in error["message"]
        assert "innererror" not in error


def test_annotation_frames_and_content_filter_finish_pass_with_privacy_on(azure_gateway: Any) -> None:
    """Through an AzureOpenAI client, which expects Azure's frames, with a redacting privacy policy."""
    stack = azure_gateway()
    client = azure_client(stack, stack.key(privacy={"pii": {"email": "redact"}}))
    email = "maria.lopez@contoso-example.com"
    prompt = f"write to {email} about {STREAM_FILTERED_WORD}"
    for include_usage in (False, True):
        options = {"stream_options": {"include_usage": True}} if include_usage else {}
        chunks = list(
            client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": prompt}], stream=True, **options
            )
        )
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == "azure says: " + prompt
        annotations = [c for c in chunks if not c.choices and c.usage is None]
        assert len(annotations) == 1 and annotations[0].model_extra is not None
        assert "prompt_filter_results" in annotations[0].model_extra
        assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == [
            "content_filter"
        ]
        assert (chunks[-1].usage is not None) is include_usage  # the usage chunk only when asked for
    sent = b"".join(r.everything() for r in stack.azure.api_requests).decode()
    assert email not in sent and "[EMAIL_1]" in sent


def test_a_json_answer_with_filter_annotations_restores_privacy_placeholders(azure_gateway: Any) -> None:
    stack = azure_gateway(azure_surface="v1", api_version=None)
    client = stack.client(stack.key(privacy={"pii": {"email": "redact"}}))
    email = "maria.lopez@contoso-example.com"
    reply = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": f"to {email}"}])
    assert reply.choices[0].message.content == f"azure says: to {email}"
    assert reply.model_extra is not None and "prompt_filter_results" in reply.model_extra


# --- /v1/models lists the deployments ---


def test_models_lists_the_configured_deployments(azure_gateway: Any) -> None:
    stack = azure_gateway()
    client = stack.client(stack.key())
    assert [m.id for m in client.models.list()] == ["gpt-4o", "text-embedding-3-small"]
    assert client.models.retrieve("gpt-4o").id == "gpt-4o"
    with pytest.raises(openai.NotFoundError) as raised:
        client.models.retrieve("o3")
    assert raised.value.code == "model_not_found"
    narrow = stack.client(stack.key("bob", models=["text-embedding-3-small"]))
    assert [m.id for m in narrow.models.list()] == ["text-embedding-3-small"]
    assert stack.azure.api_requests == [], "Azure's base-model list is never asked for"


# --- Azure-shaped clients against vaultgate ---


def test_azure_openai_client_chat_stream_and_embeddings(azure_gateway: Any) -> None:
    stack = azure_gateway()
    key = stack.key()
    client = azure_client(stack, key)
    reply = client.chat.completions.create(model="gpt-4o", messages=CHAT)
    assert reply.choices[0].message.content == "azure says: hello azure"
    stream = client.chat.completions.create(model="gpt-4o", messages=CHAT, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "azure says: hello azure"
    assert client.embeddings.create(model="text-embedding-3-small", input="x").data[0].embedding == [0.25, 0.5]
    assert [m.id for m in client.models.list()] == ["gpt-4o", "text-embedding-3-small"]

    paths = [(r.path, r.query.decode()) for r in stack.azure.api_requests]
    assert paths == [
        ("/openai/deployments/prod-4o/chat/completions", f"api-version={API_VERSION}"),
        ("/openai/deployments/prod-4o/chat/completions", f"api-version={API_VERSION}"),
        ("/openai/deployments/prod-embed/embeddings", f"api-version={API_VERSION}"),
    ]
    for request in stack.azure.api_requests:
        assert key not in request.everything().decode()


def test_azure_openai_client_with_a_fixed_deployment_and_a_disagreeing_model(azure_gateway: Any) -> None:
    stack = azure_gateway()
    client = azure_client(stack, stack.key(), azure_deployment="gpt-4o")
    assert client.chat.completions.create(model="gpt-4o", messages=CHAT).choices[0].message.content
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model="text-embedding-3-small", messages=CHAT)
    assert raised.value.code == "invalid_request" and "deployment 'gpt-4o'" in raised.value.message
    assert len(stack.azure.api_requests) == 1


def test_a_deployment_path_without_a_body_model_uses_the_deployment(azure_gateway: Any) -> None:
    stack = azure_gateway()
    key = stack.key()
    response = httpx.post(
        stack.gateway.url + "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21",
        headers={"api-key": key},
        json={"messages": CHAT},
    )
    assert response.status_code == 200, response.text
    assert stack.azure.api_requests[0].json()["model"] == "prod-4o"
    for path in ("/openai/deployments/gpt-4o/files", "/openai/deployments/gpt-4o", "/openai/"):
        response = httpx.get(stack.gateway.url + path, headers={"api-key": key})
        assert response.status_code == 404, path
        assert json.loads(response.text)["error"]["code"] == "unknown_url"
    assert len(stack.azure.api_requests) == 1


def test_the_model_policy_applies_to_the_deployment_in_the_path(azure_gateway: Any) -> None:
    stack = azure_gateway()
    client = azure_client(stack, stack.key(models=["text-embedding-3-small"]))
    with pytest.raises(openai.PermissionDeniedError) as raised:
        client.chat.completions.create(model="gpt-4o", messages=CHAT)
    assert raised.value.code == "model_not_allowed"
    assert stack.azure.api_requests == []


def test_openai_client_on_the_v1_surface_of_vaultgate(azure_gateway: Any) -> None:
    stack = azure_gateway()
    client = openai.OpenAI(base_url=stack.gateway.url + "/openai/v1", api_key=stack.key(), max_retries=0)
    assert client.chat.completions.create(model="gpt-4o", messages=CHAT).choices[0].message.content
    assert client.embeddings.create(model="text-embedding-3-small", input="x").data
    assert [r.path for r in stack.azure.api_requests] == [
        "/openai/deployments/prod-4o/chat/completions",
        "/openai/deployments/prod-embed/embeddings",
    ]
