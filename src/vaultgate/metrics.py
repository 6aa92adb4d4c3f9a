"""Prometheus metrics (``GET /metrics``), counted from the outcome of every finished ``/v1`` request.

The hot path adds one call per request (:meth:`Metrics.observe`, an observer of the data
plane): a few dictionary updates of plain numbers, no lock and no prometheus-client object;
the exposition is built at scrape time by a custom collector, through prometheus-client's
registry and text format.

Labels are bounded and carry no secret and no content (:mod:`vaultgate.gateway.outcome` bounds
them): the endpoint and its group from the matched endpoint template, the model (a listed
model, a route name, ``other`` or ``none``), the status code, the provider's name, the error
code and the stage it arose in, the kind of value the privacy stage found and what it did.
Error codes beyond the first :data:`MAX_CODES` distinct ones are counted as ``other`` (an
upstream could invent codes without end), and a request label set beyond
:data:`MAX_LABEL_SETS` (which bounded labels should never reach) is counted under ``other``
labels: a count is never dropped. No member, key or team id is a label: per-member figures
are in the usage reports, where access control applies. Every figure is this process's.

Security events (``vaultgate.hooks``) are counted as audit records, written per kind
(``canary.used``, ``auth.failures``, ``gateway.refusals``) or lost (the audit write failed),
from worker threads, so those two counters take a lock (they are off the hot path).
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from vaultgate.gateway.outcome import Outcome

CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"
# Seconds; from a fast refusal to a long stream.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
MAX_CODES = 100
MAX_CODE_LENGTH = 60
MAX_LABEL_SETS = 5000
_OTHER_REQUESTS = ("other", "other", "other", "other", "other")


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
        self._requests: dict[tuple[str, str, str, str, str], int] = {}
        self._latency: dict[str, _Histogram] = {}
        self._upstream: dict[str, _Histogram] = {}
        self._tokens: dict[tuple[str, str], int] = {}
        self._cost: dict[str, float] = {}
        self._codes: set[str] = set()
        self._errors: dict[tuple[str, str], int] = {}
        self._detections: dict[tuple[str, str], int] = {}
        self._gauges: dict[str, tuple[str, Gauges]] = {}
        self._security_written: dict[str, int] = {}
        self._security_lost = 0
        self._security_lock = threading.Lock()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    def observe(self, outcome: Outcome) -> None:
        """Count one finished request (the data plane calls this for every request it answered)."""
        model = outcome.model
        key = (outcome.endpoint, outcome.group, model, str(outcome.status), outcome.provider)
        if key not in self._requests and len(self._requests) >= MAX_LABEL_SETS:
            key = _OTHER_REQUESTS
        self._requests[key] = self._requests.get(key, 0) + 1
        _histogram(self._latency, outcome.endpoint).observe(outcome.seconds)
        upstream = outcome.stage_seconds("upstream")
        if upstream is not None:  # the upstream's part: the first attempt to the answer's head
            _histogram(self._upstream, outcome.provider).observe(upstream)
        if outcome.prompt_tokens:
            pair = (model, "prompt")
            self._tokens[pair] = self._tokens.get(pair, 0) + outcome.prompt_tokens
        if outcome.completion_tokens:
            pair = (model, "completion")
            self._tokens[pair] = self._tokens.get(pair, 0) + outcome.completion_tokens
        if outcome.cost_usd:
            self._cost[model] = self._cost.get(model, 0.0) + outcome.cost_usd
        if outcome.error_code is not None:
            self._error(outcome.error_code, outcome.last_stage)
        for kind, action, count in outcome.detections:
            self._detections[(kind, action)] = self._detections.get((kind, action), 0) + count

    def _error(self, code: str, stage: str) -> None:
        code = code[:MAX_CODE_LENGTH]
        if code not in self._codes:
            if len(self._codes) >= MAX_CODES:
                code = "other"
            else:
                self._codes.add(code)
        self._errors[(code, stage)] = self._errors.get((code, stage), 0) + 1

    def security_event_written(self, kind: str) -> None:
        """One security audit record of ``kind`` was written (called from worker threads)."""
        with self._security_lock:
            self._security_written[kind] = self._security_written.get(kind, 0) + 1

    def security_events_lost(self, count: int) -> None:
        """``count`` security audit records could not be written (called from worker threads)."""
        with self._security_lock:
            self._security_lost += count

    def gauge(self, name: str, documentation: str, read: Gauges) -> None:
        """A gauge family read at scrape time: ``read()`` gives one value per ``state`` label."""
        self._gauges[name] = (documentation, read)

    def exposition(self) -> bytes:
        """The text format for a scrape."""
        return bytes(generate_latest(self.registry))

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily]:
        """The metric families (prometheus-client calls this at scrape time)."""
        yield _counter(
            "vaultgate_requests",
            "Requests answered, by endpoint, endpoint group, model, status and provider.",
            ("endpoint", "group", "model", "status", "provider"),
            self._requests.items(),
        )
        yield _histogram_family(
            "vaultgate_request_duration_seconds",
            "Time from the request's arrival to its last byte.",
            "endpoint",
            self._latency,
        )
        yield _histogram_family(
            "vaultgate_upstream_duration_seconds",
            "Time from the first upstream attempt to the head of the answer (retries and failover included).",
            "provider",
            self._upstream,
        )
        tokens = self._tokens.items()
        yield _counter("vaultgate_tokens", "Tokens, by model and direction.", ("model", "direction"), tokens)
        yield _counter(
            "vaultgate_cost_usd",
            "List-price cost of the usage, by model.",
            ("model",),
            [((model,), usd) for model, usd in list(self._cost.items())],
        )
        yield _counter(
            "vaultgate_errors",
            "Requests that ended with an error code (refusals, upstream errors), by code and the stage it arose in.",
            ("code", "stage"),
            self._errors.items(),
        )
        yield _counter(
            "vaultgate_privacy_detections",
            "Values the privacy stage found, by kind and action (redacted, restored, blocked): counts only.",
            ("kind", "action"),
            self._detections.items(),
        )
        with self._security_lock:
            written, lost = list(self._security_written.items()), self._security_lost
        yield _counter(
            "vaultgate_security_events",
            "Security audit records written (canary.used, auth.failures, gateway.refusals), by kind.",
            ("kind",),
            [((kind,), count) for kind, count in written],
        )
        yield _counter(
            "vaultgate_security_events_lost",
            "Security audit records that could not be written (the audit write failed; an ERROR was logged).",
            (),
            [((), lost)],
        )
        for name, (documentation, read) in self._gauges.items():
            family = GaugeMetricFamily(name, documentation, labels=("state",))
            for state, reading in read().items():
                family.add_metric((state,), reading)
            yield family


def _histogram(histograms: dict[str, _Histogram], label: str) -> _Histogram:
    histogram = histograms.get(label)
    if histogram is None:
        histogram = histograms[label] = _Histogram()
    return histogram


def _counter(
    name: str, documentation: str, labels: tuple[str, ...], values: Iterable[tuple[tuple[str, ...], float]]
) -> CounterMetricFamily:
    family = CounterMetricFamily(name, documentation, labels=labels)
    for label_set, value in list(values):
        family.add_metric(label_set, value)
    return family


def _histogram_family(
    name: str, documentation: str, label: str, histograms: dict[str, _Histogram]
) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, documentation, labels=(label,))
    for value, histogram in list(histograms.items()):
        cumulative, running = [], 0
        for bound, count in zip((*map(str, BUCKETS), "+Inf"), histogram.counts, strict=True):
            running += count
            cumulative.append((bound, running))
        family.add_metric((value,), cumulative, histogram.total)
    return family
