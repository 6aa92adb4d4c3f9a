"""A unique marker sent in prompts is nowhere afterwards: not in any table, log line or audit record."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

import httpx
import openai
import pytest
from sqlalchemy import MetaData, select
from tests.conftest import make_settings
from tests.support.process import GatewayProcess, initialised
from tests.support.servers import ThreadedServer
from tests.support.upstream import CaptureUpstream

from vaultgate.services import bootstrap, keys, members
from vaultgate.services.context import LOCAL_OPERATOR


def everything_in_database(cp: bootstrap.ControlPlane) -> str:
    metadata = MetaData()
    metadata.reflect(cp.store.engine)
    parts = []
    with cp.store.engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(select(table)):
                parts.append(repr(tuple(row)))
    return "\n".join(parts)


def test_prompt_marker_is_not_retained(tmp_path: Path, database_url: str) -> None:
    marker = "MARKER" + secrets.token_hex(8)
    upstream = CaptureUpstream()
    upstream_server = ThreadedServer(upstream).start()
    settings = make_settings(tmp_path, database_url)
    cp = initialised(settings, upstream_server.url)
    members.add(cp, LOCAL_OPERATOR, "alice")
    key = keys.create(cp, LOCAL_OPERATOR, "alice").token
    env = {
        "VAULTGATE_DATABASE_URL": database_url,
        "VAULTGATE_LOG_LEVEL": "debug",
        "VAULTGATE_LOG_FORMAT": "json",
        "VAULTGATE_USAGE_FLUSH_INTERVAL": "0.1",
    }
    gateway = GatewayProcess(settings.data_dir, tmp_path / "gateway.log", env)
    log_path = gateway.log
    base = gateway.url
    try:
        c = openai.OpenAI(base_url=base + "/v1", api_key=key, max_retries=0)
        c.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": f"hello {marker}"}], user=marker
        )
        list(c.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": marker}], stream=True))
        c.responses.create(model="gpt-4o", input=marker)
        c.embeddings.create(model="text-embedding-3-small", input=marker)
        c.completions.create(model="gpt-4o", prompt=marker)
        # Refused requests and an upstream error that echoes the prompt back.
        httpx.post(
            base + "/v1/chat/completions",
            content=f'{{"model": "{marker}", "messages": [',
            headers={"authorization": f"Bearer {key}", "content-type": "application/json"},
        )
        httpx.post(
            base + "/v1/chat/completions",
            json={"model": "gpt-4o", "messages": [{"role": "user", "content": marker}]},
            headers={"authorization": f"Bearer vgk_{marker}"},
        )
        upstream.next_error = (
            400,
            f'{{"error": {{"message": "bad prompt: {marker}", "type": "invalid_request_error", "param": null, "code": null}}}}'.encode(),
        )
        with pytest.raises(openai.BadRequestError):
            c.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": marker}])
        assert marker in upstream.requests[0].body.decode(), "the marker must really have gone through"
        time.sleep(0.5)
    finally:
        returncode = gateway.stop()
        upstream_server.stop()
    # uvicorn re-raises SIGTERM after its graceful shutdown completes.
    assert returncode in (0, -15), log_path.read_text()
    assert "Application shutdown complete" in log_path.read_text()

    logs = log_path.read_text()
    assert "vaultgate ready" in logs, "debug logging must actually have been on"
    assert marker not in logs
    assert key not in logs and "sk-upstream-test" not in logs
    # Structured: vaultgate's lines are JSON objects, and the access log has a line per answered request.
    lines = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    assert any(line["logger"] == "vaultgate.gateway.snapshot" or "vaultgate ready" in line["message"] for line in lines)
    access = [line for line in lines if line["logger"] == "vaultgate.access"]
    assert {line["endpoint"] for line in access} >= {"chat/completions", "responses", "embeddings", "completions"}
    assert all(line["request_id"].startswith("req_") and "latency_ms" in line for line in access)

    dump = everything_in_database(cp)
    assert "chat/completions" in dump, "usage rows must have been written"
    assert marker not in dump
    audit_dump = "\n".join(repr(r) for r in bootstrap_audit(cp))
    assert marker not in audit_dump
    if database_url.startswith("sqlite"):
        for path in settings.data_dir.parent.rglob("*.db*"):
            assert marker.encode() not in path.read_bytes(), path
    cp.store.dispose()


def bootstrap_audit(cp: bootstrap.ControlPlane) -> list[object]:
    from vaultgate.services import audit_trail

    return list(audit_trail.export(cp, LOCAL_OPERATOR))
