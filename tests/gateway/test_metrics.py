"""/metrics after real SDK traffic: counts by endpoint, model and status, tokens, errors; no secret or content."""

from __future__ import annotations

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.conftest import Stack
from tests.support.servers import ThreadedServer

from vaultgate.server import build


def scrape(url: str, **headers: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = httpx.get(url + "/metrics", headers=headers)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def test_metrics_count_sdk_traffic_without_secrets_or_content(stack: Stack) -> None:
    stack.member("alice")
    key = stack.key("alice")
    narrow = stack.key("alice", models=["gpt-4o-mini"])
    client = openai.OpenAI(base_url=stack.base_url, api_key=key, max_retries=0)
    for _ in range(3):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "secret plans"}])
    with pytest.raises(openai.PermissionDeniedError):
        openai.OpenAI(base_url=stack.base_url, api_key=narrow, max_retries=0).chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "x"}]
        )
    stack.usage(4)  # every request has been recorded (metrics count when the record is made)
    samples = scrape(stack.gateway.url)
    ok = (("endpoint", "chat/completions"), ("model", "gpt-4o"), ("provider", "capture"), ("status", "200"))
    assert samples[("vaultgate_requests_total", ok)] == 3
    refused = (("endpoint", "chat/completions"), ("model", "gpt-4o"), ("provider", "none"), ("status", "403"))
    assert samples[("vaultgate_requests_total", refused)] == 1
    assert samples[("vaultgate_errors_total", (("code", "model_not_allowed"),))] == 1
    assert samples[("vaultgate_tokens_total", (("direction", "prompt"), ("model", "gpt-4o")))] == 33
    assert samples[("vaultgate_request_duration_seconds_count", (("endpoint", "chat/completions"),))] == 4
    assert ("vaultgate_snapshot_age_seconds", (("state", "current"),)) in samples
    assert samples[("vaultgate_circuit_breakers", (("state", "open"),))] == 0
    text = httpx.get(stack.gateway.url + "/metrics").text
    for secret in (key, narrow, stack.upstream_key, "secret plans", "alice"):
        assert secret not in text


def test_a_metrics_token_guards_the_endpoint(stack: Stack) -> None:
    gateway = ThreadedServer(build(stack.settings.evolve(metrics_token="m-token-123"))).start()
    try:
        refused = httpx.get(gateway.url + "/metrics")
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_metrics_token"
        assert httpx.get(gateway.url + "/metrics", headers={"authorization": "Bearer wrong"}).status_code == 401
        assert scrape(gateway.url, authorization="Bearer m-token-123")
    finally:
        gateway.stop()
