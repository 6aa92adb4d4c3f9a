"""/metrics after real SDK traffic: every family moves by what the traffic did; labels bounded; no secret or content."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import httpx
import openai
import pytest
from sqlalchemy import text
from tests.conftest import Stack
from tests.support.servers import ThreadedServer

from vaultgate.detect.examples import expand
from vaultgate.server import build
from vaultgate.services import keys
from vaultgate.services.context import LOCAL_OPERATOR

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
EMAIL = "jane.marker@example.org"
PROMPT = f"secret plans: write to {EMAIL}"
UNLISTED_MODEL = "teammodel-marker"


def scrape(url: str, **headers: str) -> Samples:
    from prometheus_client.parser import text_string_to_metric_families

    answer = httpx.get(url + "/metrics", headers=headers)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def requests(
    endpoint: str, group: str, model: str, status: int, provider: str
) -> tuple[str, tuple[tuple[str, str], ...]]:
    labels = {"endpoint": endpoint, "group": group, "model": model, "status": str(status), "provider": provider}
    return ("vaultgate_requests_total", tuple(sorted(labels.items())))


def one(name: str, **labels: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return (name, tuple(sorted(labels.items())))


def eventually(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not come true in time")
        time.sleep(0.05)


def counted(url: str, answered: int) -> Samples:
    """The samples once ``answered`` requests are counted (a request is counted just after its answer)."""
    found: list[Samples] = []

    def done() -> bool:
        found[:] = [scrape(url)]
        return sum(v for (name, _), v in found[0].items() if name == "vaultgate_requests_total") >= answered

    eventually(done)
    return found[0]


def test_metrics_count_sdk_traffic_without_secrets_or_content(stack: Stack) -> None:
    stack.member("alice")
    key = stack.key("alice")
    narrow = stack.key("alice", models=["gpt-4o-mini"])
    no_phones = stack.key("alice", privacy={"pii": {"phone": "block"}})
    secret = expand("ghp_{b62:36}", random.Random(11))
    client = openai.OpenAI(base_url=stack.base_url, api_key=key, max_retries=0)
    for _ in range(3):  # the address is redacted on the way up and restored in the echoed answer
        answer = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": PROMPT}])
        assert EMAIL in (answer.choices[0].message.content or "")
    client.chat.completions.create(model=UNLISTED_MODEL, messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": f"token {secret}"}])
    with pytest.raises(openai.BadRequestError):
        openai.OpenAI(base_url=stack.base_url, api_key=no_phones, max_retries=0).chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "call +44 20 7946 0958"}]
        )
    with pytest.raises(openai.PermissionDeniedError):
        openai.OpenAI(base_url=stack.base_url, api_key=narrow, max_retries=0).chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "x"}]
        )
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=stack.base_url, api_key=key[:-2] + "xx", max_retries=0).chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "x"}]
        )
    assert httpx.post(stack.base_url + "/unknown-path-marker", json={}).status_code == 404
    samples = counted(stack.gateway.url, 9)
    assert samples[requests("chat/completions", "chat", "gpt-4o", 200, "capture")] == 3
    assert samples[requests("chat/completions", "chat", "other", 200, "capture")] == 1  # an unlisted name: other
    assert samples[requests("chat/completions", "chat", "gpt-4o", 400, "none")] == 2
    assert samples[requests("chat/completions", "chat", "gpt-4o", 403, "none")] == 1
    assert samples[requests("chat/completions", "chat", "none", 401, "none")] == 1  # unauthenticated: counted too
    assert samples[requests("unknown", "none", "none", 404, "none")] == 1  # never the client's path
    assert samples[one("vaultgate_errors_total", code="model_not_allowed", stage="authz")] == 1
    assert samples[one("vaultgate_errors_total", code="invalid_api_key", stage="authn")] == 1
    assert samples[one("vaultgate_errors_total", code="secret_detected", stage="protect")] == 1
    assert samples[one("vaultgate_errors_total", code="pii_blocked", stage="protect")] == 1
    assert samples[one("vaultgate_errors_total", code="unknown_url", stage="read")] == 1
    detections = "vaultgate_privacy_detections_total"
    assert samples[one(detections, kind="email", action="redacted")] == 3
    assert samples[one(detections, kind="email", action="restored")] == 3
    assert samples[one(detections, kind="secret", action="blocked")] == 1
    assert samples[one(detections, kind="phone", action="blocked")] == 1
    assert samples[one("vaultgate_tokens_total", direction="prompt", model="gpt-4o")] == 33
    assert samples[one("vaultgate_tokens_total", direction="completion", model="gpt-4o")] == 21
    assert samples[one("vaultgate_tokens_total", direction="prompt", model="other")] == 11
    # gpt-4o: $2.50 in, $10 out per 1M tokens; 11 + 7 tokens a request.
    assert samples[one("vaultgate_cost_usd_total", model="gpt-4o")] == pytest.approx(3 * 0.0000975)
    assert samples[one("vaultgate_request_duration_seconds_count", endpoint="chat/completions")] == 8
    assert samples[one("vaultgate_request_duration_seconds_count", endpoint="unknown")] == 1
    # Only the four requests that went upstream have an upstream part.
    assert samples[one("vaultgate_upstream_duration_seconds_count", provider="capture")] == 4
    assert one("vaultgate_upstream_duration_seconds_count", provider="none") not in samples
    assert samples[one("vaultgate_circuit_breakers", state="open")] == 0
    text_ = httpx.get(stack.gateway.url + "/metrics").text
    for leaked in (key, narrow, no_phones, stack.upstream_key, secret, EMAIL, "secret plans", "7946", "alice"):
        assert leaked not in text_
    assert UNLISTED_MODEL not in text_ and "unknown-path-marker" not in text_


def test_limit_and_budget_refusals_are_counted_at_admission(stack: Stack) -> None:
    stack.member("alice")
    one_a_minute = keys.create(stack.cp, LOCAL_OPERATOR, "alice", limits={"rpm": 1}).token
    tiny_budget = keys.create(stack.cp, LOCAL_OPERATOR, "alice", limits={"budget_usd": 0.001}).token
    stack.sync()
    chat = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    limited = openai.OpenAI(base_url=stack.base_url, api_key=one_a_minute, max_retries=0)
    limited.chat.completions.create(**chat)
    with pytest.raises(openai.RateLimitError) as rate:
        limited.chat.completions.create(**chat)
    assert rate.value.code == "rate_limit_exceeded"
    with pytest.raises(openai.RateLimitError) as quota:  # 16,384 output tokens reserved: ~$0.16
        openai.OpenAI(base_url=stack.base_url, api_key=tiny_budget, max_retries=0).chat.completions.create(**chat)
    assert quota.value.code == "insufficient_quota"
    samples = counted(stack.gateway.url, 3)
    assert samples[one("vaultgate_errors_total", code="rate_limit_exceeded", stage="admit")] == 1
    assert samples[one("vaultgate_errors_total", code="insufficient_quota", stage="admit")] == 1
    assert samples[requests("chat/completions", "chat", "gpt-4o", 429, "none")] == 2
    assert samples[requests("chat/completions", "chat", "gpt-4o", 200, "capture")] == 1


def test_usage_events_spooled_during_a_store_outage_then_replayed(stack: Stack) -> None:
    stack.member("alice")
    client = openai.OpenAI(base_url=stack.base_url, api_key=stack.key("alice"), max_retries=0)
    chat = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    client.chat.completions.create(**chat)
    assert len(stack.usage(1)) == 1

    def usage_state(state: str) -> float:
        return scrape(stack.gateway.url)[one("vaultgate_usage_events", state=state)]

    assert usage_state("spooled") == 0 and usage_state("replayed") == 0
    with stack.cp.store.engine.begin() as conn:  # the usage table goes away: writes fail as in an outage
        conn.execute(text("ALTER TABLE usage_events RENAME TO usage_events_away"))
    for _ in range(2):
        client.chat.completions.create(**chat)
    eventually(lambda: usage_state("spooled") == 2)
    with stack.cp.store.engine.begin() as conn:
        conn.execute(text("ALTER TABLE usage_events_away RENAME TO usage_events"))
    eventually(lambda: usage_state("replayed") == 2)
    assert len(stack.usage(3)) == 3 and usage_state("dropped") == 0


def test_snapshot_age_grows_past_the_maximum_and_stale_refusals_are_counted(stack: Stack) -> None:
    stack.member("alice")
    key = stack.key("alice")
    # Polled once an hour, the snapshot is confirmed only at start: it goes stale after half a second.
    # The settings model refuses a staleness bound under the poll interval (the gateway would flap), so
    # this deliberately frozen snapshot is built without that check (model_copy does not validate).
    settings = stack.settings.model_copy(update={"refresh_interval": 3600.0, "max_staleness": 0.5})
    gateway = ThreadedServer(build(settings)).start()
    try:
        client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)

        calls: list[int] = []

        def refused() -> bool:
            calls.append(1)
            try:
                client.models.list()
            except openai.InternalServerError as err:
                assert err.status_code == 503 and err.code == "snapshot_stale"
                return True
            return False

        eventually(refused)
        samples = counted(gateway.url, len(calls))
        assert samples[one("vaultgate_snapshot_age_seconds", state="current")] > settings.max_staleness
        # No timing margin: on a loaded machine the first request may already come after 0.5 s.
        assert samples[one("vaultgate_errors_total", code="snapshot_stale", stage="authn")] == 1
        assert samples[requests("models", "models", "none", 503, "none")] == 1
    finally:
        gateway.stop()


def test_a_metrics_token_guards_the_endpoint(stack: Stack) -> None:
    gateway = ThreadedServer(build(stack.settings.evolve(metrics_token="m-token-123"))).start()
    try:
        refused = httpx.get(gateway.url + "/metrics")
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_metrics_token"
        assert httpx.get(gateway.url + "/metrics", headers={"authorization": "Bearer wrong"}).status_code == 401
        assert scrape(gateway.url, authorization="Bearer m-token-123")
    finally:
        gateway.stop()
