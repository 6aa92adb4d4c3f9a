"""SIGTERM while requests run: after the drain time, a stream ends with an SSE error event the SDK raises,
a request still waiting for its upstream gets a JSON 503, and both are recorded as cut (not as 200)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from sqlalchemy import select
from tests.support.process import GatewayProcess, initialised
from tests.support.servers import ThreadedServer
from tests.support.upstream import Captured, CaptureUpstream

from vaultgate.config import Settings
from vaultgate.services import keys, members
from vaultgate.services.context import LOCAL_OPERATOR
from vaultgate.store.models import UsageEvent


def endless(release: threading.Event) -> Any:
    """An upstream answer that never ends: a stream of chunks, or a whole answer that never comes."""

    async def respond(request: Captured, send: Any) -> bool:
        if not json.loads(request.body).get("stream"):
            while not release.is_set():
                await asyncio.sleep(0.05)
            return False
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        chunk = {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "gpt-4o",
            "choices": [{"index": 0, "delta": {"content": "tick "}, "finish_reason": None}],
        }
        while not release.is_set():
            await send(
                {
                    "type": "http.response.body",
                    "body": b"data: " + json.dumps(chunk).encode() + b"\n\n",
                    "more_body": True,
                }
            )
            await asyncio.sleep(0.1)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return True

    return respond


def test_sigterm_ends_running_requests_after_the_drain_time(tmp_path: Path) -> None:
    release = threading.Event()
    capture = CaptureUpstream(respond=endless(release))
    upstream = ThreadedServer(capture).start()
    settings = Settings(data_dir=tmp_path / "data")
    cp = initialised(settings, upstream.url)
    members.add(cp, LOCAL_OPERATOR, "alice")
    key = keys.create(cp, LOCAL_OPERATOR, "alice").token
    gateway = GatewayProcess(settings.data_dir, tmp_path / "gateway.log", {"VAULTGATE_DRAIN_TIMEOUT": "1"})
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0, timeout=60)
    outcome: dict[str, Any] = {}
    streaming = threading.Event()

    def stream() -> None:
        chunks = 0
        try:
            for _ in client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "go"}], stream=True
            ):
                chunks += 1
                streaming.set()
        except openai.APIError as err:
            outcome["stream"] = (chunks, err.code if hasattr(err, "code") else None, str(err))

    def waiting() -> None:
        answer = httpx.post(
            gateway.url + "/v1/chat/completions",
            headers={"authorization": f"Bearer {key}"},
            json={"model": "gpt-4o", "messages": [{"role": "user", "content": "wait"}]},
            timeout=60,
        )
        outcome["whole"] = (answer.status_code, answer.headers.get("content-type"), answer.json())

    threads = [threading.Thread(target=stream), threading.Thread(target=waiting)]
    try:
        for thread in threads:
            thread.start()
        assert streaming.wait(30), "the stream did not start"
        eventually(lambda: len(capture.requests) == 2)  # both are in flight at the upstream
        gateway.proc.terminate()  # SIGTERM
        for thread in threads:
            thread.join(60)
        assert gateway.proc.wait(timeout=60) is not None
    finally:
        release.set()
        gateway.stop()
        upstream.stop()
    chunks, code, message = outcome["stream"]
    assert chunks > 0 and code == "server_shutting_down", message
    status, content_type, body = outcome["whole"]
    assert (status, content_type) == (503, "application/json") and body["error"]["code"] == "server_shutting_down"
    with cp.store.session() as session:
        rows = session.scalars(select(UsageEvent)).all()
    assert sorted((r.stream, r.status, r.error_code) for r in rows) == [
        (False, 503, "server_shutting_down"),
        (True, 503, "server_shutting_down"),
    ]


def eventually(check: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail("the condition did not come true in time")
        time.sleep(0.05)
