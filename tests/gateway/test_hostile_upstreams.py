"""Upstreams that fail or misbehave, driven by the official SDK (its own retries off) through a running gateway.

Each fault gets a precise status and code (docs/ERRORS.md), a POST that may have reached the
upstream is never sent again, what the upstream says was not processed is retried, and the
next request works.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import orjson
import pytest
from sqlalchemy import select
from tests.conftest import make_settings
from tests.support.faults import Fault, FaultUpstream
from tests.support.process import initialised
from tests.support.servers import ThreadedServer
from tests.support.webhook import WebhookSink

from vaultgate.server import build
from vaultgate.services import credentials, keys, members
from vaultgate.services.context import LOCAL_OPERATOR, ControlPlane
from vaultgate.store.models import UsageEvent

CHAT: dict[str, Any] = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
# Fast retries: the tests are about which requests are sent again, not about how long the waits are.
FAST = {"upstream_backoff_base": 0.001, "upstream_backoff_max": 0.05}


@dataclass
class Faulty:
    cp: ControlPlane
    upstream: FaultUpstream
    elsewhere: FaultUpstream
    webhooks: WebhookSink
    url: str
    key: str

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def client(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.base_url, api_key=self.key, max_retries=0, timeout=60)

    def post(self, body: dict[str, Any] = CHAT) -> httpx.Response:
        return httpx.post(
            self.base_url + "/chat/completions", json=body, headers={"authorization": f"Bearer {self.key}"}, timeout=60
        )

    def sync(self) -> None:
        target, deadline = self.cp.store.revision(), time.monotonic() + 10
        while httpx.get(self.url + "/healthz").json()["revision"] < target:
            assert time.monotonic() < deadline, "the gateway did not pick up the change"
            time.sleep(0.02)

    def works(self) -> None:
        self.upstream.default = "ok"
        assert self.client().chat.completions.create(**CHAT).choices[0].message.content == "from faults"


@pytest.fixture
def faulty(tmp_path: Path) -> Iterator[Callable[..., Faulty]]:
    """A factory: a gateway (with these settings) in front of a fault-mode upstream."""
    stops: list[Callable[[], None]] = []

    def make(**settings: Any) -> Faulty:
        upstream = FaultUpstream().start()
        elsewhere = FaultUpstream("elsewhere").start()
        webhooks = WebhookSink()
        stops.extend([upstream.stop, elsewhere.stop, webhooks.close])
        config = make_settings(tmp_path, f"sqlite:///{tmp_path / 'vaultgate.db'}")
        config = config.evolve(webhook_url=webhooks.url, **{**FAST, **settings})
        cp = initialised(config, upstream.url, api_key="sk-upstream-faulty")
        members.add(cp, LOCAL_OPERATOR, "alice")
        key = keys.create(cp, LOCAL_OPERATOR, "alice").token
        gateway = ThreadedServer(build(config)).start()
        stops.extend([gateway.stop, cp.store.dispose])
        return Faulty(cp, upstream, elsewhere, webhooks, gateway.url, key)

    yield make
    for stop in reversed(stops):
        stop()


def error_of(answer: httpx.Response) -> dict[str, Any]:
    assert answer.headers["content-type"] == "application/json", answer.text
    error: dict[str, Any] = answer.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


def test_a_post_whose_connection_breaks_after_sending_is_sent_exactly_once(faulty: Callable[..., Faulty]) -> None:
    gw = faulty()
    for mode in ("close_after_body", "reset_after_body", "reset_before_body"):
        before = gw.upstream.count()
        gw.upstream.script(mode)
        with pytest.raises(openai.InternalServerError) as raised:
            gw.client().chat.completions.create(**CHAT)
        assert raised.value.status_code == 502
        assert raised.value.code == "upstream_unavailable"
        assert gw.upstream.count() == before + 1, f"{mode}: the upstream may have processed it, never send it again"
    gw.works()


def test_the_sdk_does_not_resend_a_post_the_upstream_may_have_processed(faulty: Callable[..., Faulty]) -> None:
    """With the SDK's own retries on (its default), the 502 says x-should-retry: false, so the POST that
    broke after it was sent still reaches the upstream exactly once, end to end."""
    gw = faulty()
    gw.upstream.script("close_after_body")
    sdk = openai.OpenAI(base_url=gw.base_url, api_key=gw.key, max_retries=2, timeout=60)
    with pytest.raises(openai.InternalServerError) as raised:
        sdk.chat.completions.create(**CHAT)
    assert raised.value.response.headers["x-should-retry"] == "false"
    assert gw.upstream.count() == 1
    gw.works()


def test_a_429_with_retry_after_is_retried_and_the_answer_is_the_second_attempts(faulty: Callable[..., Faulty]) -> None:
    gw = faulty()
    gw.upstream.script(Fault("status_429", {"retry_after_ms": 1}), "status_500")
    answer = gw.client().chat.completions.create(**CHAT)
    assert answer.choices[0].message.content == "from faults"
    assert [r.mode for r in gw.upstream.requests] == ["status_429", "status_500", "ok"]
    assert {r.body for r in gw.upstream.requests} == {gw.upstream.requests[0].body}, "the same request each time"


def test_when_every_attempt_fails_the_client_gets_the_last_upstream_answer(faulty: Callable[..., Faulty]) -> None:
    gw = faulty(upstream_max_attempts=2, upstream_breaker_threshold=10)
    gw.upstream.default = Fault("status_429", {"retry_after": 0})
    with pytest.raises(openai.RateLimitError) as raised:
        gw.client().chat.completions.create(**CHAT)
    assert raised.value.code == "rate_limit_exceeded"
    assert raised.value.response.headers["retry-after"] == "0"
    assert gw.upstream.count("status_429") == 2


def test_a_retry_after_longer_than_the_cap_is_not_waited_for(faulty: Callable[..., Faulty]) -> None:
    gw = faulty(upstream_backoff_max=5)
    gw.upstream.script(Fault("status_429", {"retry_after_ms": 1}), Fault("status_429", {"retry_after": 3600}))
    with pytest.raises(openai.RateLimitError) as raised:
        gw.client().chat.completions.create(**CHAT)
    assert raised.value.response.headers["retry-after"] == "3600", "the second answer, not waited for"
    assert gw.upstream.count() == 2
    gw.works()


def test_a_stream_is_retried_before_its_headers_never_after_and_a_broken_one_raises_in_the_sdk(
    faulty: Callable[..., Faulty],
) -> None:
    gw = faulty()
    gw.upstream.script("status_503", "truncated_stream")
    stream = gw.client().chat.completions.create(**CHAT, stream=True)
    pieces: list[str] = []
    with pytest.raises(openai.APIError) as raised:
        for chunk in stream:
            pieces.append(chunk.choices[0].delta.content or "")
    assert "broke off" in raised.value.message
    assert "".join(pieces) == "half a story"
    assert [r.mode for r in gw.upstream.requests] == ["status_503", "truncated_stream"]
    gw.works()


@pytest.mark.parametrize("mode", ["html", "garbage"])
def test_a_success_that_is_not_json_is_a_502(faulty: Callable[..., Faulty], mode: str) -> None:
    gw = faulty()
    gw.upstream.script(mode)
    answer = gw.post()
    assert answer.status_code == 502
    assert error_of(answer)["code"] == "upstream_invalid_response"
    assert gw.upstream.count() == 1
    gw.works()


def test_an_html_error_page_becomes_a_json_error_with_the_upstream_status(faulty: Callable[..., Faulty]) -> None:
    gw = faulty(upstream_max_attempts=1, upstream_breaker_threshold=10)
    gw.upstream.script("html_502")
    with pytest.raises(openai.InternalServerError) as raised:
        gw.client().chat.completions.create(**CHAT)
    assert raised.value.status_code == 502
    assert raised.value.code == "upstream_error"
    assert "<html>" not in raised.value.response.text


def test_a_success_carrying_an_error_object_is_a_502_with_the_upstream_code(faulty: Callable[..., Faulty]) -> None:
    gw = faulty()
    gw.upstream.script("error_200")
    with pytest.raises(openai.InternalServerError) as raised:
        gw.client().chat.completions.create(**CHAT)
    assert raised.value.status_code == 502
    assert raised.value.code == "engine_overloaded"
    gw.works()


def test_an_endless_body_is_cut_at_the_cap(faulty: Callable[..., Faulty]) -> None:
    gw = faulty(max_upstream_response_bytes=1024 * 1024)
    gw.upstream.script("endless")
    answer = gw.post()
    assert answer.status_code == 502
    assert error_of(answer)["code"] == "upstream_response_too_large"
    gw.works()


def test_an_endless_stream_event_is_cut_at_the_cap(faulty: Callable[..., Faulty]) -> None:
    gw = faulty(max_upstream_event_bytes=256 * 1024)
    gw.upstream.script("endless_event")
    stream = gw.client().chat.completions.create(**CHAT, stream=True)
    with pytest.raises(openai.APIError) as raised:
        for _ in stream:
            pass
    assert raised.value.code == "upstream_response_too_large"
    gw.works()


def test_a_redirect_to_another_host_is_never_followed(faulty: Callable[..., Faulty]) -> None:
    gw = faulty()
    gw.upstream.script(Fault("redirect", {"location": gw.elsewhere.url + "/v1/chat/completions"}))
    answer = gw.post()
    assert answer.status_code == 502
    assert error_of(answer)["code"] == "upstream_redirect"
    assert "location" not in answer.headers
    assert answer.headers["x-should-retry"] == "false"
    assert gw.elsewhere.count() == 0, "the credential must never go to the host a redirect names"
    assert gw.upstream.count() == 1
    gw.works()


def test_oversized_response_headers_are_a_502_and_the_post_is_not_sent_again(faulty: Callable[..., Faulty]) -> None:
    gw = faulty()
    gw.upstream.script("oversized_headers")
    answer = gw.post()
    assert answer.status_code == 502
    assert error_of(answer)["code"] == "upstream_invalid_response"
    assert gw.upstream.count() == 1
    gw.works()


def test_a_slow_upstream_is_a_504_for_a_post_and_a_get_is_tried_again(faulty: Callable[..., Faulty]) -> None:
    """A GET changes nothing upstream: after a timeout or a dropped connection it is sent again."""
    gw = faulty(upstream_timeout=0.5)
    gw.upstream.script("slow")
    with pytest.raises(openai.APIStatusError) as raised:
        gw.client().chat.completions.create(**CHAT)
    assert raised.value.status_code == 504
    assert raised.value.code == "upstream_timeout"
    assert gw.upstream.count() == 1
    gw.upstream.script("slow", "reset_after_body")
    assert [m.id for m in gw.client().models.list()] == ["gpt-4o"]
    assert [r.mode for r in gw.upstream.requests] == ["slow", "slow", "reset_after_body", "ok"]


def test_a_refused_credential_alerts_once_and_is_not_tried_again_until_it_changes(
    faulty: Callable[..., Faulty],
) -> None:
    gw = faulty()
    gw.upstream.default = "status_401"
    for _ in range(2):
        with pytest.raises(openai.InternalServerError) as raised:
            gw.client().chat.completions.create(**CHAT)
        assert raised.value.code == "upstream_auth_failed"
    assert gw.upstream.count() == 1, "a refused credential is marked, not retried on every request"
    alert = gw.webhooks.wait_for("provider.credential_refused")
    assert alert["provider"] == "capture"
    assert "sk-upstream-faulty" not in str(gw.webhooks.events)
    assert [e["event"] for e in gw.webhooks.events].count("provider.credential_refused") == 1
    credentials.add(gw.cp, LOCAL_OPERATOR, "capture", "sk-upstream-rotated")  # an admin rotates it
    gw.sync()
    gw.works()  # the new credential gets traffic at once


def test_a_failing_deployment_opens_its_circuit_and_is_skipped(faulty: Callable[..., Faulty]) -> None:
    gw = faulty(upstream_max_attempts=1, upstream_breaker_threshold=2, upstream_breaker_cool_down=3600)
    gw.upstream.default = "status_500"
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            gw.client().chat.completions.create(**CHAT)
    gw.upstream.default = "ok"
    answer = gw.post()
    assert answer.status_code == 503
    assert error_of(answer)["code"] == "upstream_circuit_open"
    assert 3000 < int(answer.headers["retry-after"]) <= 3600
    assert gw.upstream.count() == 2, "an open circuit sends nothing"
    scrape = httpx.get(gw.url + "/metrics").text
    assert 'vaultgate_circuit_breakers{state="open"} 1.0' in scrape


def test_a_kill_switch_ends_a_request_waiting_to_retry(faulty: Callable[..., Faulty]) -> None:
    # The upstream asks for a minute's wait; the member is suspended meanwhile: the answer is the 403 at once.
    gw = faulty(upstream_backoff_max=600, upstream_retry_budget=900)
    gw.upstream.script(Fault("status_429", {"retry_after": 60}))
    result: dict[str, httpx.Response] = {}
    thread = threading.Thread(target=lambda: result.setdefault("answer", gw.post()))
    thread.start()
    while gw.upstream.count() == 0 and thread.is_alive():
        thread.join(timeout=0.02)
    members.suspend(gw.cp, LOCAL_OPERATOR, "alice")
    thread.join(timeout=30)
    assert not thread.is_alive(), "the wait before the retry must end with the kill switch"
    assert result["answer"].status_code == 403
    assert gw.upstream.count() == 1


def test_a_client_hanging_up_ends_a_request_waiting_to_retry_and_frees_its_slot(
    faulty: Callable[..., Faulty],
) -> None:
    gw = faulty(upstream_backoff_max=600, upstream_retry_budget=900)
    key = keys.create(gw.cp, LOCAL_OPERATOR, "alice", limits={"concurrency": 1}).token
    gw.sync()
    gw.upstream.script(Fault("status_429", {"retry_after": 60}))
    body = orjson.dumps(CHAT)
    host, port = gw.url.removeprefix("http://").split(":")
    gw.upstream.arrived.clear()
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {key}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        assert gw.upstream.arrived.wait(10), "the request never reached the upstream"
    # The client left while the gateway waits a minute to retry: the wait ends and the slot is freed.
    deadline = time.monotonic() + 30
    while True:
        with gw.cp.store.session() as session:
            statuses = list(session.scalars(select(UsageEvent.status)).all())
        if statuses or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert statuses == [499]
    answer = httpx.post(gw.base_url + "/chat/completions", json=CHAT, headers={"authorization": f"Bearer {key}"})
    assert answer.status_code == 200, answer.text
    assert gw.upstream.count() == 2
