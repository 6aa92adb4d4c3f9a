"""The official openai SDK, sync and async, JSON and streaming, through the gateway to a real upstream."""

from __future__ import annotations

import asyncio

import openai
import pytest
from tests.conftest import Stack


def client(stack: Stack, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=stack.base_url, api_key=key, max_retries=0)


def test_chat_completion_json(stack: Stack) -> None:
    stack.member("alice")
    key = stack.key("alice")
    reply = client(stack, key).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hello world"}], user="alice@example.com"
    )
    assert reply.choices[0].message.content == "upstream says: hello world"
    assert reply.usage is not None and reply.usage.prompt_tokens == 11

    sent = stack.upstream.last
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {stack.upstream_key}"
    assert key not in sent.everything().decode()
    body = sent.json()
    assert "user" not in body
    assert len(body["safety_identifier"]) <= 64 and "alice" not in body["safety_identifier"]

    rows = stack.usage(1)
    assert [(r.endpoint, r.model, r.status, r.prompt_tokens, r.completion_tokens) for r in rows] == [
        ("chat/completions", "gpt-4o-mini", 200, 11, 7)
    ]


def test_safety_identifier_is_stable_per_member_and_differs_between_members(stack: Stack) -> None:
    stack.member("alice")
    stack.member("bob")
    ids = []
    for member in ("alice", "alice", "bob"):
        client(stack, stack.key(member)).chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
        ids.append(stack.upstream.last.json()["safety_identifier"])
    assert ids[0] == ids[1] != ids[2]


def test_client_org_project_and_cookie_headers_are_not_forwarded(stack: Stack) -> None:
    stack.member("alice")
    c = openai.OpenAI(
        base_url=stack.base_url,
        api_key=stack.key("alice"),
        organization="org-client-secret-org",
        project="proj_client_project",
        default_headers={"Cookie": "session=abc", "X-Forwarded-For": "10.1.2.3"},
        max_retries=0,
    )
    c.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    headers = stack.upstream.last.headers
    assert "openai-organization" not in headers
    assert "openai-project" not in headers
    assert "cookie" not in headers
    assert "x-forwarded-for" not in headers


def test_the_upstream_sees_vaultgate_as_the_user_agent_never_the_members_client(stack: Stack) -> None:
    stack.member("alice")
    c = openai.OpenAI(
        base_url=stack.base_url,
        api_key=stack.key("alice"),
        default_headers={"User-Agent": "alice-laptop/7.1 (Linux; build 42)"},
        max_retries=0,
    )
    c.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert stack.upstream.last.headers["user-agent"] == "vaultgate"
    c.embeddings.create(model="text-embedding-3-small", input="x")
    assert stack.upstream.last.headers["user-agent"] == "vaultgate"


def test_store_is_forced_false(stack: Stack) -> None:
    stack.member("alice")
    c = client(stack, stack.key("alice"))
    c.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}], store=True)
    assert stack.upstream.last.json()["store"] is False
    c.responses.create(model="gpt-4o", input="x")
    assert stack.upstream.last.json()["store"] is False


def test_store_allowed_by_policy(stack: Stack) -> None:
    stack.member("alice")
    c = client(stack, stack.key("alice", allow_store=True))
    c.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}], store=True)
    assert stack.upstream.last.json()["store"] is True


def test_streaming_usage_is_recorded_and_extra_chunk_stripped(stack: Stack) -> None:
    stack.member("alice")
    stream = client(stack, stack.key("alice")).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "one two three"}], stream=True
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "upstream says: one two three"
    assert all(c.choices for c in chunks), "the usage-only chunk the client did not ask for must be stripped"
    assert stack.upstream.last.json()["stream_options"] == {"include_usage": True}
    rows = stack.usage(1)
    assert (rows[-1].stream, rows[-1].prompt_tokens, rows[-1].completion_tokens) == (True, 11, 7)


def test_streaming_with_client_requested_usage_keeps_the_chunk(stack: Stack) -> None:
    stack.member("alice")
    stream = client(stack, stack.key("alice")).chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 7


def test_other_endpoints(stack: Stack) -> None:
    stack.member("alice")
    c = client(stack, stack.key("alice"))
    assert c.responses.create(model="gpt-4o", input="hey").output_text == "upstream says: hey"
    assert c.completions.create(model="gpt-4o", prompt="abc").choices[0].text == "upstream says: abc"
    assert c.embeddings.create(model="text-embedding-3-small", input="abc", encoding_format="float").data[
        0
    ].embedding == [0.1, 0.2]
    assert c.moderations.create(input="abc").results[0].flagged is False
    rows = stack.usage(4)
    assert {r.endpoint for r in rows} == {"responses", "completions", "embeddings", "moderations"}


def test_models_are_filtered_to_the_allowlist(stack: Stack) -> None:
    stack.member("alice")
    c = client(stack, stack.key("alice", models=["gpt-4o*"]))
    assert sorted(m.id for m in c.models.list()) == ["gpt-4o", "gpt-4o-mini"]
    with pytest.raises(openai.PermissionDeniedError) as err:
        c.models.retrieve("o3")
    assert err.value.code == "model_not_allowed"


def test_async_client_json_and_stream(stack: Stack) -> None:
    stack.member("alice")
    key = stack.key("alice")

    async def run() -> tuple[str | None, str]:
        async with openai.AsyncOpenAI(base_url=stack.base_url, api_key=key, max_retries=0) as c:
            reply = await c.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "async"}])
            stream = await c.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "async stream"}], stream=True
            )
            text = "".join([ch.choices[0].delta.content or "" async for ch in stream if ch.choices])
            return reply.choices[0].message.content, text

    content, streamed = asyncio.run(run())
    assert content == "upstream says: async"
    assert streamed == "upstream says: async stream"


def test_many_concurrent_async_requests(stack: Stack) -> None:
    stack.member("alice")
    key = stack.key("alice")

    async def run() -> list[str | None]:
        async with openai.AsyncOpenAI(base_url=stack.base_url, api_key=key, max_retries=0) as c:
            replies = await asyncio.gather(
                *[
                    c.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": f"n{i}"}])
                    for i in range(40)
                ]
            )
            return [r.choices[0].message.content for r in replies]

    assert sorted(asyncio.run(run())) == sorted(f"upstream says: n{i}" for i in range(40))
    assert len(stack.usage(40)) == 40
