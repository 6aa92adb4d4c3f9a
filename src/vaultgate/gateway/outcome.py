"""What metrics and traces learn about a finished ``/v1`` request: names, numbers and codes, never content.

An :class:`Outcome` is built once per request, after stage 8 (account), for every request the
data plane answered, refused ones and unauthenticated ones included. Everything in it is
bounded, so metric labels and span attributes taken from it are too:

- ``endpoint``, ``group`` and ``route`` come from the matched endpoint template (never the
  client's path); a request that matched none is ``unknown`` / ``none``;
- ``model`` is a model of the price table (a name that extends one, ``gpt-4o-2024-08-06``,
  counts as it, as it is priced), a route name of the current snapshot, ``other`` for any
  other name, or ``none`` when the request names no model;
- ``method`` is a standard HTTP method or ``_OTHER``;
- ``detections`` are counts per kind of value and action, never a value.
"""

from __future__ import annotations

import re
import time
from collections.abc import Container
from dataclasses import dataclass

from vaultgate.gateway.exchange import Exchange
from vaultgate.gateway.templates import Endpoint
from vaultgate.usage.events import OTHER_MODEL, UsageRecord
from vaultgate.usage.pricing import PriceTable

NONE = "none"
UNKNOWN = "unknown"
# The stage of a request that ended before any stage was entered (the route check).
FIRST_STAGE = "read"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE", "WEBSOCKET"})
_TYPED = re.compile(r"\{(\w+):\w+\}")
# W3C trace context headers are short; anything longer is not one (and is not kept).
_TRACE_HEADER_MAX = 512

Detection = tuple[str, str, int]  # (kind, action, count): ("email", "redacted", 2)


@dataclass(frozen=True, slots=True)
class Outcome:
    """One finished request as metrics and traces see it (see the module docstring for the bounds)."""

    request_id: str
    method: str
    route: str
    endpoint: str
    group: str
    model: str
    provider: str
    key_id: str | None
    status: int
    error_code: str | None
    stream: bool
    started: float  # time.perf_counter() at arrival
    ended: float
    stages: tuple[tuple[str, float], ...]  # each stage and when it began (perf_counter)
    detections: tuple[Detection, ...]
    prompt_tokens: int | None
    completion_tokens: int | None
    cost_usd: float | None
    # The client's W3C trace context headers, as sent (tracing links to them; nothing else reads them).
    traceparent: str | None
    tracestate: str | None

    @property
    def seconds(self) -> float:
        """From the request's arrival to its end."""
        return self.ended - self.started

    def stage_span(self, name: str) -> tuple[float, float] | None:
        """When stage ``name`` began and ended (when the next began, or the request ended); None if it never began."""
        for index, (stage, began) in enumerate(self.stages):
            if stage == name:
                return began, self.stages[index + 1][1] if index + 1 < len(self.stages) else self.ended
        return None

    def stage_seconds(self, name: str) -> float | None:
        """How long stage ``name`` ran; None if it never began."""
        span = self.stage_span(name)
        return None if span is None else span[1] - span[0]

    def stage_durations(self) -> list[tuple[str, float]]:
        """Each stage that ran and its seconds, in order."""
        ends = [began for _, began in self.stages[1:]] + [self.ended]
        return [(stage, end - began) for (stage, began), end in zip(self.stages, ends, strict=True)]

    @property
    def last_stage(self) -> str:
        """The stage that was running when the request ended before ``account`` (where an error arose)."""
        for stage, _ in reversed(self.stages):
            if stage != "account":
                return stage
        return FIRST_STAGE


def endpoint_label(endpoint: Endpoint) -> str:
    """The endpoint label of usage records, from the template: ``chat/completions``, ``files``, ``models``."""
    parts = endpoint.pattern[4:].split("/")
    return "/".join(parts[:2]) if parts[0] in ("chat", "fine_tuning") else parts[0]


def route_of(endpoint: Endpoint) -> str:
    """The template as a route (``/v1/files/{file_id}``): parameter names, not their types."""
    return _TYPED.sub(r"{\1}", endpoint.pattern)


def model_label(model: str | None, prices: PriceTable | None, routes: Container[str]) -> str:
    """A bounded model label: listed (or priced as listed), a route name, ``other``; ``none`` for no model."""
    if model is None:
        return NONE
    if prices is not None:
        if model in prices.models:
            return model
        best = max((name for name in prices.models if model.startswith(name + "-")), key=len, default=None)
        if best is not None:
            return best
    return model if model in routes else OTHER_MODEL


def _header(ex: Exchange, name: bytes) -> str | None:
    value = ex.headers.get(name)
    if value is None or len(value) > _TRACE_HEADER_MAX:
        return None
    return value.decode("latin-1")


def detections(ex: Exchange) -> tuple[Detection, ...]:
    """What the privacy stage found in the request and restored in its answer, counted by kind."""
    found: list[Detection] = [(kind, "blocked", 1) for kind in ex.blocked]
    rmap = ex.redactions
    if rmap is not None:
        found.extend((tag.lower(), "redacted", count) for tag, count in rmap.issued().items())
        found.extend((tag.lower(), "restored", count) for tag, count in rmap.restored().items())
    return tuple(found)


def outcome_of(ex: Exchange, record: UsageRecord | None, prices: PriceTable | None, routes: Container[str]) -> Outcome:
    """The outcome of ``ex``, which has just been accounted (stage 8) as ``record`` (None: unauthenticated)."""
    target = ex.target
    grant = ex.grant
    endpoint = target.endpoint if target is not None else None
    return Outcome(
        request_id=ex.request_id,
        method=ex.method if ex.method in _METHODS else "_OTHER",
        route=route_of(endpoint) if endpoint is not None else UNKNOWN,
        endpoint=endpoint_label(endpoint) if endpoint is not None else UNKNOWN,
        group=(endpoint.group or NONE) if endpoint is not None else NONE,
        # An unauthenticated request's body is never read: it names no model.
        model=model_label(ex.model if grant is not None else None, prices, routes),
        provider=ex.provider.name if ex.provider is not None else NONE,
        key_id=grant.key_id if grant is not None else None,
        status=ex.status,
        error_code=ex.error_code,
        stream=ex.stream,
        started=ex.started,
        ended=time.perf_counter(),
        stages=tuple(ex.stages),
        detections=detections(ex) if ex.blocked or ex.redactions is not None else (),
        prompt_tokens=ex.prompt_tokens,
        completion_tokens=ex.completion_tokens,
        cost_usd=record.cost_usd if record is not None else None,
        traceparent=_header(ex, b"traceparent"),
        tracestate=_header(ex, b"tracestate"),
    )
