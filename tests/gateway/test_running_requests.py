"""The registry of requests in flight: what a kill switch does to a request at each point of its life."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from vaultgate.gateway.asgi import Message
from vaultgate.gateway.errors import GatewayError
from vaultgate.gateway.exchange import Exchange
from vaultgate.gateway.snapshot import Snapshot
from vaultgate.gateway.streams import RunningRequests
from vaultgate.policy.decide import LOCKDOWN, Denial


def _exchange(stream: bool) -> Exchange:
    return Exchange("POST", "/v1/chat/completions", b"", {}, None, stream=stream)


def _registry() -> RunningRequests:
    def allowed(ex: Exchange, snapshot: Snapshot) -> Denial | None:
        return LOCKDOWN if snapshot.lockdown else None

    return RunningRequests(allowed, Snapshot, interval=3600)


async def _serve(
    registry: RunningRequests, ex: Exchange, sent: list[Message], start: bool, upstream: asyncio.Event
) -> None:
    """A request that sends the start of its answer (or not), then waits for an upstream that never comes."""

    async def send(message: Message) -> None:
        sent.append(message)

    async with registry.watch(ex, send) as running:
        if start:
            await running.send({"type": "http.response.start", "status": 200, "headers": []})
            await running.send({"type": "http.response.body", "body": b"data: {}\n\n", "more_body": True})
        await upstream.wait()
        await running.send({"type": "http.response.body", "body": b"", "more_body": False})


async def _run(stream: bool, start: bool, switch: bool) -> tuple[asyncio.Task[Any], list[Message], RunningRequests]:
    registry, sent, upstream = _registry(), [], asyncio.Event()
    task = asyncio.create_task(_serve(registry, _exchange(stream), sent, start, upstream))
    await asyncio.sleep(0)  # it registers and waits
    assert len(registry) == 1
    registry.recheck(Snapshot(lockdown=switch))
    upstream.set()  # too late for a request the switch cancelled: its wait is cancelled already
    await asyncio.wait([task])
    return task, sent, registry


def test_a_running_stream_ends_with_an_error_event_and_returns_normally() -> None:
    task, sent, registry = asyncio.run(_run(stream=True, start=True, switch=True))
    assert task.exception() is None and len(registry) == 0
    last = sent[-1]
    assert last["more_body"] is False
    error = orjson.loads(last["body"].removeprefix(b"data: "))["error"]
    assert error["code"] == "stream_revoked" and "lockdown" in error["message"]


def test_a_request_still_waiting_for_the_upstream_gets_the_refusal_a_new_request_would_get() -> None:
    task, sent, _ = asyncio.run(_run(stream=True, start=False, switch=True))
    error = task.exception()
    assert isinstance(error, GatewayError) and (error.status, error.code) == (403, "permission_denied")
    assert sent == []


def test_a_whole_answer_already_on_its_way_is_left_to_finish() -> None:
    task, sent, _ = asyncio.run(_run(stream=False, start=True, switch=True))
    assert task.exception() is None and sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
    assert all(b"stream_revoked" not in m.get("body", b"") for m in sent)


def test_an_allowed_request_runs_to_its_end() -> None:
    task, sent, registry = asyncio.run(_run(stream=True, start=True, switch=False))
    assert task.exception() is None and sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
    assert len(registry) == 0


def test_a_cancellation_from_elsewhere_still_wins() -> None:
    async def scenario() -> asyncio.Task[None]:
        registry, upstream = _registry(), asyncio.Event()
        task = asyncio.create_task(_serve(registry, _exchange(True), [], True, upstream))
        await asyncio.sleep(0)
        task.cancel()  # server shutdown
        registry.recheck(Snapshot(lockdown=True))
        await asyncio.wait([task])
        return task

    assert asyncio.run(scenario()).cancelled()
