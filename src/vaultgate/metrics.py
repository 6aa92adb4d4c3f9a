"""Prometheus metrics (``GET /metrics``), counted from the usage records the data plane already makes.

The hot path adds one call per request (:meth:`Metrics.observe`): a few dictionary updates of
plain integers, no lock and no prometheus-client object; the exposition is built at scrape
time by a custom collector, through prometheus-client's registry and text format.

Labels are bounded and carry no secret and no content: the endpoint (a template label), the
model (the usage record's label: a model name or ``other``), the status code, the provider's
name, and the refusal code. Codes beyond the first :data:`MAX_CODES` distinct ones are counted
as ``other`` (an upstream could invent codes without end). No member, key or team id is a
label: per-member figures are in the usage reports, where access control applies.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from vaultgate.usage.events import UsageRecord

CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"
# Seconds; from a fast refusal to a long stream.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
MAX_CODES = 100
MAX_LABEL_SETS = 5000


@dataclass
class _Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))
    total: float = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        self.total += seconds


Gauges = Callable[[], dict[str, float]]


class Metrics(Collector):
    """Counts per label set, and gauges read at scrape time from the parts that own them."""

    def __init__(self) -> None:
        self._requests: dict[tuple[str, str, str, str], int] = {}
        self._latency: dict[str, _Histogram] = {}
        self._tokens: dict[tuple[str, str], int] = {}
        self._cost: dict[str, float] = {}
        self._refusals: dict[str, int] = {}
        self._gauges: dict[str, tuple[str, Gauges]] = {}
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    def observe(self, record: UsageRecord) -> None:
        """Count one finished request (called for every usage record)."""
        model = record.model or "none"
        key = (record.endpoint, model, str(record.status), record.provider or "none")
        if key in self._requests or len(self._requests) < MAX_LABEL_SETS:
            self._requests[key] = self._requests.get(key, 0) + 1
        histogram = self._latency.get(record.endpoint)
        if histogram is None:
            histogram = self._latency[record.endpoint] = _Histogram()
        histogram.observe(record.latency_ms / 1000)
        if record.prompt_tokens:
            self._tokens[(model, "prompt")] = self._tokens.get((model, "prompt"), 0) + record.prompt_tokens
        if record.completion_tokens:
            pair = (model, "completion")
            self._tokens[pair] = self._tokens.get(pair, 0) + record.completion_tokens
        if record.cost_usd:
            self._cost[model] = self._cost.get(model, 0.0) + record.cost_usd
        if record.error_code is not None:
            code = (
                record.error_code if record.error_code in self._refusals or len(self._refusals) < MAX_CODES else "other"
            )
            self._refusals[code] = self._refusals.get(code, 0) + 1

    def gauge(self, name: str, documentation: str, read: Gauges) -> None:
        """A gauge family read at scrape time: ``read()`` gives one value per ``state`` label."""
        self._gauges[name] = (documentation, read)

    def exposition(self) -> bytes:
        """The text format for a scrape."""
        return bytes(generate_latest(self.registry))

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily]:
        """The metric families (prometheus-client calls this at scrape time)."""
        requests = CounterMetricFamily(
            "vaultgate_requests",
            "Requests answered, by endpoint, model, status and provider.",
            labels=("endpoint", "model", "status", "provider"),
        )
        for label_set, answered in list(self._requests.items()):
            requests.add_metric(label_set, answered)
        yield requests
        latency = HistogramMetricFamily(
            "vaultgate_request_duration_seconds",
            "Time from the request's arrival to its last byte.",
            labels=("endpoint",),
        )
        for endpoint, histogram in list(self._latency.items()):
            cumulative, running = [], 0
            for bound, count in zip((*map(str, BUCKETS), "+Inf"), histogram.counts, strict=True):
                running += count
                cumulative.append((bound, running))
            latency.add_metric((endpoint,), cumulative, histogram.total)
        yield latency
        tokens = CounterMetricFamily(
            "vaultgate_tokens", "Tokens, by model and direction.", labels=("model", "direction")
        )
        for labels, value in list(self._tokens.items()):
            tokens.add_metric(labels, value)
        yield tokens
        cost = CounterMetricFamily("vaultgate_cost_usd", "List-price cost of the usage, by model.", labels=("model",))
        for model, usd in list(self._cost.items()):
            cost.add_metric((model,), usd)
        yield cost
        refusals = CounterMetricFamily(
            "vaultgate_errors",
            "Requests that ended with an error code (refusals, upstream errors), by code.",
            labels=("code",),
        )
        for code, value in list(self._refusals.items()):
            refusals.add_metric((code,), value)
        yield refusals
        for name, (documentation, read) in self._gauges.items():
            family = GaugeMetricFamily(name, documentation, labels=("state",))
            for state, reading in read().items():
                family.add_metric((state,), reading)
            yield family
