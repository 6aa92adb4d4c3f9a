"""CPU per request of each observability part on its own: outcome, metrics, access log, tracing.

The whole data plane (``bench/gateway_micro.py``) moves by more than these parts cost on a
shared machine; timed alone, in a loop, best of ``--rounds``, they do not. Each part is fed what
one ~600-byte chat completion gives it (a usage record, an outcome with its nine stages).

    taskset -c 1 .venv/bin/python bench/observability_micro.py [--calls 20000] [--rounds 5]

Tracing is timed with its batch processor and an exporter that encodes every span to OTLP
protobuf as the real one does, without sending it (the CPU counted includes the processor's
thread: ``time.process_time``); with ``--sampled 0.1`` one request in ten is recorded.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from vaultgate.gateway.exchange import Exchange
from vaultgate.gateway.outcome import Outcome, outcome_of
from vaultgate.logs import AccessLog, configure_logging
from vaultgate.metrics import Metrics
from vaultgate.usage.events import UsageRecord
from vaultgate.usage.pricing import load as load_prices

STAGES = ("authn", "read", "authz", "admit", "protect", "ownership", "upstream", "restore", "account")


def record() -> UsageRecord:
    return UsageRecord(
        at=datetime.now(UTC),
        request_id="req_0123456789abcdef01234567",
        member_id="mem_01",
        key_id="key_01",
        provider="stub",
        endpoint="chat/completions",
        model="gpt-4o-mini",
        status=200,
        error_code=None,
        stream=False,
        prompt_tokens=62,
        completion_tokens=120,
        latency_ms=0.9,
        cost_usd=0.0000813,
    )


def exchange() -> Exchange:
    from vaultgate.gateway.endpoints import match

    ex = Exchange(method="POST", path="/v1/chat/completions", query=b"", headers={}, client_ip=None)
    ex.target = match("POST", "/v1/chat/completions", None)
    ex.model, ex.status, ex.prompt_tokens, ex.completion_tokens = "gpt-4o-mini", 200, 62, 120
    for stage in STAGES:
        ex.enter(stage)
    return ex


def outcome() -> Outcome:
    now = time.perf_counter()
    return Outcome(
        request_id="req_0123456789abcdef01234567",
        method="POST",
        route="/v1/chat/completions",
        endpoint="chat/completions",
        group="chat",
        model="gpt-4o-mini",
        provider="stub",
        key_id="key_01",
        status=200,
        error_code=None,
        stream=False,
        started=now,
        ended=now + 0.0009,
        stages=tuple((stage, now + i * 0.0001) for i, stage in enumerate(STAGES)),
        detections=(),
        prompt_tokens=62,
        completion_tokens=120,
        cost_usd=0.0000813,
        traceparent=None,
        tracestate=None,
    )


def best(call: Callable[[], None], calls: int, rounds: int, after: Callable[[], None] = lambda: None) -> float:
    """The fewest CPU microseconds per call over ``rounds`` rounds of ``calls`` calls."""
    results = []
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(calls):
            call()
        after()
        results.append((time.process_time() - start) / calls * 1e6)
    return min(results)


def tracing_part(sampled: float | None) -> tuple[Callable[[], None], Callable[[], None]]:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    from vaultgate.tracing import Tracing

    class Encoding(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            encode_spans(spans).SerializePartialToString()
            return SpanExportResult.SUCCESS

    sampler = ParentBased(TraceIdRatioBased(sampled)) if sampled is not None else None
    provider = TracerProvider(sampler=sampler, shutdown_on_exit=False)
    provider.add_span_processor(BatchSpanProcessor(Encoding(), max_queue_size=1_000_000))
    traced, done = Tracing(provider), outcome()
    return (lambda: traced.observe(done)), (lambda: provider.force_flush())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    n, r = args.calls, args.rounds
    results: dict[str, float] = {}
    prices = load_prices(None)
    routes: dict[str, object] = {}
    ex, usage, done = exchange(), record(), outcome()
    results["outcome_of"] = best(lambda: outcome_of(ex, usage, prices, routes) and None, n, r)
    metrics = Metrics()
    results["metrics.observe"] = best(partial(metrics.observe, done), n, r)
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in ("text", "json"):
            configure_logging("info", fmt)
            root = logging.getLogger("vaultgate")
            stream = (Path(tmp) / f"{fmt}.log").open("w")
            root.handlers[0].setStream(stream)  # type: ignore[attr-defined]
            results[f"access_log_{fmt}"] = best(partial(AccessLog(enabled=True).observe, usage), n, r)
            stream.close()
        results["access_log_off"] = best(partial(AccessLog(enabled=False).observe, usage), n, r)
    for label, sampled in (("tracing_all", None), ("tracing_10pct", 0.1)):
        call, flush = tracing_part(sampled)
        results[label] = best(call, n, r, after=flush)
    print(json.dumps({"calls": n, "rounds": r, "cpu_us_per_call_best": {k: round(v, 2) for k, v in results.items()}}))


if __name__ == "__main__":
    main()
