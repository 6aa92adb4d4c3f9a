"""Optional OpenTelemetry traces of the data plane: one span per ``/v1`` request, one child span per stage.

Off unless ``VAULTGATE_TRACING=true``; then the ``tracing`` extra must be installed
(``pip install 'vaultgate[tracing]'``), or start-up stops with one line saying so. Off, nothing
of OpenTelemetry is imported here and the data plane has no tracing observer.

Spans are made once a request has ended, from its outcome (:mod:`vaultgate.gateway.outcome`):
names, codes, counts and times, never content, so no prompt, completion, token, key or header
value can reach an attribute. The request span (kind SERVER) starts at the request's arrival and
carries every stage's duration in one attribute (``vaultgate.stages_ms``); the upstream's part
(``upstream``: every attempt, to the head of the answer; ``session`` for realtime) is a child
span (kind CLIENT). A span per stage was measured at about twice the data plane's CPU per
request (docs/PERFORMANCE.md), so stages other than the upstream are not spans.

A client does not choose the trace: each request starts a new one, and a valid W3C
``traceparent`` it sent (with its ``tracestate``) becomes a *link* of the request span, so the
client's trace can still be joined, while the trace id and the sampling decision stay the
gateway's (a client cannot force its requests into sampling or into another request's trace).

The tracer provider is vaultgate's own, never the global one: libraries that trace through the
global provider (FastAPI's own telemetry of the admin API) stay silent. Exported with OTLP over
HTTP/protobuf, configured by the standard variables (``OTEL_EXPORTER_OTLP_ENDPOINT``,
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, ``..._HEADERS``, ``..._TIMEOUT``, ``..._COMPRESSION``,
``..._CERTIFICATE``), batched (``OTEL_BSP_*``), sampled (``OTEL_TRACES_SAMPLER``), named
(``OTEL_SERVICE_NAME``, else ``vaultgate``); ``OTEL_TRACES_EXPORTER=none`` makes spans and
exports none; ``OTEL_SDK_DISABLED=true`` makes none.
"""

from __future__ import annotations

import importlib.util
import os
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from vaultgate.config import ConfigError
from vaultgate.gateway.outcome import Outcome

if TYPE_CHECKING:  # the extra is imported only when tracing is on
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Link
    from opentelemetry.util.types import AttributeValue

TRACER_NAME = "vaultgate"
EXTRA = "VAULTGATE_TRACING=true needs the tracing extra: pip install 'vaultgate[tracing]'"
_PROTOCOL = "http/protobuf"
# The stages that are the upstream's time (a realtime session is relayed whole): a child span each.
_UPSTREAM_STAGES = ("upstream", "session")


class Tracing:
    """Turns each finished request's outcome into spans for this process's tracer provider."""

    def __init__(self, provider: TracerProvider) -> None:
        from opentelemetry import trace
        from opentelemetry.context import Context
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self.provider = provider
        self._tracer = provider.get_tracer(TRACER_NAME)
        self._trace = trace
        self._root = Context()  # every request span starts a trace of its own
        self._propagator = TraceContextTextMapPropagator()

    def observe(self, outcome: Outcome) -> None:
        """The spans of one finished request (a data-plane observer)."""
        trace = self._trace
        offset = time.time_ns() - time.perf_counter_ns()
        span = self._tracer.start_span(
            f"{outcome.method} {outcome.route}",
            context=self._root,
            kind=trace.SpanKind.SERVER,
            links=self._client_trace(outcome),
            start_time=int(outcome.started * 1e9) + offset,
        )
        if not span.is_recording():  # not sampled: nothing more to make
            return
        span.set_attributes(attributes(outcome))
        if outcome.status >= 500:
            span.set_status(trace.Status(trace.StatusCode.ERROR, outcome.error_code))
        for stage in _UPSTREAM_STAGES:
            bounds = outcome.stage_span(stage)
            if bounds is not None:
                child = self._tracer.start_span(
                    stage,
                    context=trace.set_span_in_context(span),
                    kind=trace.SpanKind.CLIENT,
                    attributes={"vaultgate.provider": outcome.provider},
                    start_time=int(bounds[0] * 1e9) + offset,
                )
                child.end(end_time=int(bounds[1] * 1e9) + offset)
        span.end(end_time=int(outcome.ended * 1e9) + offset)

    def _client_trace(self, outcome: Outcome) -> list[Link]:
        """A link to the client's span when it sent a valid ``traceparent`` (never its parent)."""
        if outcome.traceparent is None:
            return []
        carrier = {"traceparent": outcome.traceparent}
        if outcome.tracestate is not None:
            carrier["tracestate"] = outcome.tracestate
        context = self._trace.get_current_span(self._propagator.extract(carrier)).get_span_context()
        return [self._trace.Link(context)] if context.is_valid else []

    def shutdown(self) -> None:
        """Export what is still batched and stop (blocking: call it from a thread)."""
        self.provider.shutdown()


def attributes(outcome: Outcome) -> dict[str, AttributeValue]:
    """The request span's attributes: bounded names, codes and counts (gateway/outcome.py)."""
    found: dict[str, AttributeValue] = {
        "http.request.method": outcome.method,
        "http.route": outcome.route,
        "vaultgate.request_id": outcome.request_id,
        "vaultgate.endpoint_group": outcome.group,
        "vaultgate.model": outcome.model,
        "vaultgate.provider": outcome.provider,
        "vaultgate.stream": outcome.stream,
    }
    if outcome.status:
        found["http.response.status_code"] = outcome.status
    if outcome.key_id is not None:
        found["vaultgate.key_id"] = outcome.key_id
    if outcome.error_code is not None:
        found["error.type"] = outcome.error_code
    if outcome.prompt_tokens is not None:
        found["gen_ai.usage.input_tokens"] = outcome.prompt_tokens
    if outcome.completion_tokens is not None:
        found["gen_ai.usage.output_tokens"] = outcome.completion_tokens
    # One attribute for every stage (a span each would double the data plane's CPU per request).
    stages = outcome.stage_durations()
    found["vaultgate.stages_ms"] = " ".join(f"{stage}={seconds * 1000:.3f}" for stage, seconds in stages)
    for kind, action, count in outcome.detections:
        found[f"vaultgate.privacy.{action}.{kind}"] = count
    return found


def _installed() -> bool:
    """Whether the ``tracing`` extra is there (its exporter needs the SDK and the API)."""
    try:
        return importlib.util.find_spec("opentelemetry.exporter.otlp.proto.http.trace_exporter") is not None
    except ModuleNotFoundError:
        return False


def check(enabled: bool, environ: Mapping[str, str] | None = None) -> frozenset[str]:
    """The exporters tracing will use (none when off); ConfigError, naming the setting, when it cannot run."""
    if not enabled:
        return frozenset()
    env = os.environ if environ is None else environ
    if not _installed():
        raise ConfigError(EXTRA)
    exporters = frozenset(
        part.strip().lower() for part in env.get("OTEL_TRACES_EXPORTER", "otlp").split(",") if part.strip()
    )
    if not exporters <= {"otlp", "none"}:
        unknown = ", ".join(sorted(exporters - {"otlp", "none"}))
        raise ConfigError(f"OTEL_TRACES_EXPORTER: vaultgate exports traces with otlp (or none), not {unknown}")
    for variable in ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        protocol = env.get(variable, "").strip()
        if protocol and protocol != _PROTOCOL:
            raise ConfigError(f"{variable}: vaultgate exports traces with {_PROTOCOL}, not {protocol!r}")
    return exporters


def tracing_from(enabled: bool) -> Tracing | None:
    """The tracing observer when ``enabled`` (``VAULTGATE_TRACING``), else None; ConfigError when unusable."""
    exporters = check(enabled)
    if not enabled:
        return None
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: "vaultgate"}))
    provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    if "otlp" in exporters:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return Tracing(provider)
