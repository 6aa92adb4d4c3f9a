"""OpenTelemetry traces of /v1 requests: the official SDK through a real gateway with VAULTGATE_TRACING=true.

Spans are asserted from an in-memory exporter and, once, from a loopback OTLP/HTTP receiver (the
real exporter, configured by the standard variables). No prompt, completion, key, token or header
value may reach a span; the client's traceparent is a link, never the parent.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from tests.conftest import make_settings
from tests.support.process import initialised
from tests.support.servers import ThreadedServer
from tests.support.upstream import CaptureUpstream

from vaultgate import tracing
from vaultgate.config import ConfigError, Settings
from vaultgate.server import Gateway, build
from vaultgate.services import keys, members
from vaultgate.services.context import LOCAL_OPERATOR, ControlPlane

EMAIL = "trace.marker@example.org"
PROMPT = f"tracing-marker-prompt for {EMAIL}"
CLIENT_TRACE = "0af7651916cd43dd8448eb211c80319c"
CLIENT_SPAN = "b7ad6b7169203331"
STAGES = ["authn", "read", "authz", "admit", "protect", "ownership", "upstream", "restore", "account"]


@dataclass
class Traced:
    settings: Settings
    cp: ControlPlane
    upstream: CaptureUpstream
    upstream_key: str
    gateway: ThreadedServer
    app: Gateway

    def client(self, key: str) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.gateway.url + "/v1", api_key=key, max_retries=0)

    def key(self, **policy: Any) -> tuple[str, str]:
        created = keys.create(self.cp, LOCAL_OPERATOR, "alice", policy=policy)
        deadline = time.monotonic() + 10
        while self.app.refresher.current.revision < self.cp.store.revision():
            assert time.monotonic() < deadline, "the gateway did not pick up the key"
            time.sleep(0.02)
        return created.token, created.info.id


def traced_stack(tmp_path: Path, **overrides: Any) -> Traced:
    upstream = CaptureUpstream()
    upstream_server = ThreadedServer(upstream).start()
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'vg.db'}").evolve(tracing=True, **overrides)
    upstream_key = "sk-upstream-" + secrets.token_urlsafe(24)
    cp = initialised(settings, upstream_server.url, upstream_key)
    members.add(cp, LOCAL_OPERATOR, "alice")
    app = build(settings)
    return Traced(settings, cp, upstream, upstream_key, ThreadedServer(app).start(), app)


@pytest.fixture
def in_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Traced, InMemorySpanExporter]]:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")  # spans made, none exported: the test adds its own
    stack = traced_stack(tmp_path, upstream_max_attempts=1)
    exporter = InMemorySpanExporter()
    assert stack.app.tracing is not None
    stack.app.tracing.provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield stack, exporter
    stack.gateway.stop()
    stack.cp.store.dispose()


def eventually(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not come true in time")
        time.sleep(0.05)


def requests_of(exporter: InMemorySpanExporter, count: int) -> list[ReadableSpan]:
    """The request spans once ``count`` are exported (a request's spans are made just after its answer)."""
    eventually(lambda: len([s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]) >= count)
    return [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]


def children_of(exporter: InMemorySpanExporter, span: ReadableSpan) -> list[ReadableSpan]:
    spans = exporter.get_finished_spans()
    return [s for s in spans if s.parent is not None and s.parent.span_id == span.context.span_id]


def stage_names(stages_ms: object) -> list[str]:
    """The stage names of ``vaultgate.stages_ms`` ("authn=0.041 read=0.020 ..."), in order."""
    assert isinstance(stages_ms, str)
    return [part.split("=")[0] for part in stages_ms.split()]


def everything_recorded(spans: list[ReadableSpan]) -> str:
    """Every name, attribute, event, link, status and resource value of ``spans``, as one text."""
    parts: list[str] = []
    for span in spans:
        parts += [span.name, repr(dict(span.attributes or {})), str(span.status.description)]
        parts += [repr((e.name, dict(e.attributes or {}))) for e in span.events]
        parts += [repr(dict(link.attributes or {})) for link in span.links]
        parts.append(repr(dict(span.resource.attributes)))
    return "\n".join(parts)


def test_a_span_per_request_with_its_stages_and_nothing_of_the_content(
    in_memory: tuple[Traced, InMemorySpanExporter],
) -> None:
    stack, exporter = in_memory
    key, key_id = stack.key()
    narrow, _ = stack.key(models=["gpt-4o-mini"])
    traceparent = f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"
    answer = stack.client(key).chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": PROMPT}],
        extra_headers={"traceparent": traceparent, "tracestate": "vendor=marker-state"},
    )
    assert EMAIL in (answer.choices[0].message.content or "")
    with pytest.raises(openai.PermissionDeniedError):
        stack.client(narrow).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": PROMPT}])
    stack.upstream.next_error = (503, b'{"error": {"message": "overloaded", "type": "server_error", "code": null}}')
    with pytest.raises(openai.InternalServerError):
        stack.client(key).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": PROMPT}])

    ok, refused, failed = requests_of(exporter, 3)
    assert ok.name == "POST /v1/chat/completions"
    attributes = dict(ok.attributes or {})
    assert stage_names(attributes.pop("vaultgate.stages_ms")) == STAGES
    assert attributes == {
        "http.request.method": "POST",
        "http.route": "/v1/chat/completions",
        "http.response.status_code": 200,
        "vaultgate.request_id": answer._request_id,
        "vaultgate.endpoint_group": "chat",
        "vaultgate.model": "gpt-4o",
        "vaultgate.provider": "capture",
        "vaultgate.key_id": key_id,
        "vaultgate.stream": False,
        "gen_ai.usage.input_tokens": 11,
        "gen_ai.usage.output_tokens": 7,
        "vaultgate.privacy.redacted.email": 1,
        "vaultgate.privacy.restored.email": 1,
    }
    assert ok.status.status_code is StatusCode.UNSET
    # A new trace of the gateway's own; the client's span is a link.
    assert ok.parent is None and ok.context.trace_id != int(CLIENT_TRACE, 16)
    assert [(link.context.trace_id, link.context.span_id) for link in ok.links] == [
        (int(CLIENT_TRACE, 16), int(CLIENT_SPAN, 16))
    ]
    (upstream,) = children_of(exporter, ok)  # the upstream's part, the one stage that is a span
    assert upstream.name == "upstream" and upstream.kind is SpanKind.CLIENT
    assert upstream.context.trace_id == ok.context.trace_id
    assert dict(upstream.attributes or {}) == {"vaultgate.provider": "capture"}

    assert (refused.attributes or {})["http.response.status_code"] == 403
    assert (refused.attributes or {})["error.type"] == "model_not_allowed"
    assert refused.status.status_code is StatusCode.UNSET  # a refusal is the client's error, not the server's
    assert stage_names((refused.attributes or {})["vaultgate.stages_ms"]) == ["authn", "read", "authz", "account"]
    assert children_of(exporter, refused) == []  # never reached the upstream
    assert (failed.attributes or {})["http.response.status_code"] == 503
    assert failed.status.status_code is StatusCode.ERROR

    recorded = everything_recorded(exporter.get_finished_spans())
    for leaked in (PROMPT, "tracing-marker-prompt", EMAIL, key, narrow, stack.upstream_key, "marker-state", "Bearer"):
        assert leaked not in recorded
    assert "OpenAI/Python" not in recorded  # no header value either (the SDK's user agent)


def test_spans_reach_an_otlp_receiver_configured_by_the_standard_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    received: list[bytes] = []

    async def receiver(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if scope["path"] == "/v1/traces":
            received.append(body)
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/x-protobuf")]}
        )
        await send({"type": "http.response.body", "body": b""})

    collector = ThreadedServer(receiver).start()
    for variable in ("OTEL_TRACES_EXPORTER", "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_SDK_DISABLED"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url)
    stack = traced_stack(tmp_path)
    try:
        key, _ = stack.key()
        stack.client(key).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": PROMPT}])
        stack.gateway.stop()  # a graceful stop exports what is still batched
    finally:
        stack.cp.store.dispose()
        collector.stop()
    spans = []
    for body in received:
        export = ExportTraceServiceRequest.FromString(body)
        for resource_spans in export.resource_spans:
            service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}["service.name"]
            spans += [(service, span.name) for scope in resource_spans.scope_spans for span in scope.spans]
    assert ("vaultgate", "POST /v1/chat/completions") in spans
    assert ("vaultgate", "upstream") in spans
    assert not any(marker in body for body in received for marker in (b"tracing-marker", EMAIL.encode(), key.encode()))


def test_tracing_on_needs_the_extra_and_a_usable_exporter(monkeypatch: pytest.MonkeyPatch) -> None:
    assert tracing.check(False) == frozenset() and tracing.tracing_from(False) is None
    assert tracing.check(True, {}) == {"otlp"}
    assert tracing.check(True, {"OTEL_TRACES_EXPORTER": "none"}) == {"none"}
    for environ, variable in (
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER"),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "OTEL_EXPORTER_OTLP_PROTOCOL"),
        ({"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"}, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"),
    ):
        with pytest.raises(ConfigError) as refused:
            tracing.check(True, environ)
        assert str(refused.value).startswith(variable + ":") and "\n" not in str(refused.value)
    for name in [m for m in sys.modules if m.startswith("opentelemetry.exporter")] + ["opentelemetry.exporter"]:
        monkeypatch.setitem(sys.modules, name, None)  # as if the extra were not installed
    with pytest.raises(ConfigError) as missing:
        tracing.check(True, {})
    assert str(missing.value) == "VAULTGATE_TRACING=true needs the tracing extra: pip install 'vaultgate[tracing]'"


def test_tracing_off_imports_nothing_of_the_tracing_sdk(tmp_path: Path) -> None:
    # A fresh interpreter: the gateway built and a request answered with tracing off. (The OpenTelemetry
    # API is imported by FastAPI, and redis imports the metrics SDK when it is installed: neither traces.)
    script = f"""
import asyncio, sys
from pathlib import Path
from vaultgate.config import Settings
from vaultgate.services import bootstrap
from vaultgate.server import build
settings = Settings(data_dir=Path({str(tmp_path / "data")!r}))
bootstrap.init(settings)
gateway = build(settings)
assert gateway.tracing is None
async def main():
    await gateway.start()
    sent = []
    async def receive():
        return {{"type": "http.request", "body": b"", "more_body": False}}
    async def send(message):
        sent.append(message)
    await gateway({{"type": "http", "method": "GET", "path": "/v1/models", "raw_path": b"/v1/models",
                    "query_string": b"", "headers": [], "client": ("127.0.0.1", 1)}}, receive, send)
    await gateway.stop()
    assert sent[0]["status"] == 401, sent[0]
asyncio.run(main())
loaded = sorted(m for m in sys.modules if m.startswith(("opentelemetry.sdk.trace", "opentelemetry.exporter")))
assert not loaded, loaded
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
