"""One request's state as it moves through the stages. Lives only in memory, per request."""

from __future__ import annotations

import ipaddress
import itertools
import os
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from vaultgate.gateway.form import Form
from vaultgate.gateway.templates import RequestTarget
from vaultgate.limits.admission import Ticket
from vaultgate.policy.grants import KeyGrant
from vaultgate.policy.ownership import ObjectOwner
from vaultgate.privacy.placeholders import RedactionMap
from vaultgate.privacy.restore import ResponseRestorer
from vaultgate.upstream.config import ProviderConfig

Headers = list[tuple[bytes, bytes]]


def new_request_id() -> str:
    """A request id for ``x-request-id`` (random, no meaning)."""
    return "req_" + os.urandom(12).hex()


class RequestIds:
    """Request ids in the shape of :func:`new_request_id` without a system call per request.

    A random 48-bit prefix per instance (one per data plane, so per worker process) and a
    48-bit counter: unique within a process, not guessable across processes. A correlation
    id, not a secret.
    """

    __slots__ = ("_counter", "_prefix")

    def __init__(self) -> None:
        self._prefix = "req_" + os.urandom(6).hex()
        self._counter = itertools.count(int.from_bytes(os.urandom(4)))

    def __call__(self) -> str:
        """The next id (``req_`` and 24 hex digits)."""
        return f"{self._prefix}{next(self._counter) & 0xFFFFFFFFFFFF:012x}"


@dataclass(slots=True)
class Exchange:
    """What the stages know about one request; never persisted (it holds content)."""

    method: str
    path: str
    query: bytes
    headers: dict[bytes, bytes]
    client_ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None
    request_id: str = field(default_factory=new_request_id)
    started: float = field(default_factory=time.perf_counter)
    # The path as the client sent it (ASGI ``raw_path``), only to match templates; never forwarded.
    raw_path: bytes | None = None
    # The endpoint template and validated parameters (stage 1): the only source of the upstream URL.
    target: RequestTarget | None = None
    # The deployment named by an Azure-shaped path (``/openai/deployments/{deployment}/...``): the model.
    azure_deployment: str | None = None
    body: bytes = b""
    payload: dict[str, Any] | None = None
    # A multipart body's text fields (stage 1); the body itself is forwarded as sent.
    form: Form | None = field(default=None, repr=False)
    body_changed: bool = False
    model: str | None = None
    stream: bool = False
    grant: KeyGrant | None = None
    # The keyed hash of the presented credential (never the credential): which secret or token this is.
    credential_hash: str = field(default="", repr=False)
    provider: ProviderConfig | None = None
    # Stage 5b (ownership): the provider holding the objects the request names; routing keeps to it.
    pinned_provider: str | None = None
    # The owner of the object the path names (what an answer creates under it is theirs too).
    object_owner: ObjectOwner | None = None
    strip_usage_chunk: bool = False
    # Stage 5's placeholder map, used by stage 7 to restore the answer (memory only, never logged).
    restorer: ResponseRestorer | None = field(default=None, repr=False)
    status: int = 0
    error_code: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    # What stage 4 charged to the limiter, settled in stage 8 (None: the key has no limits).
    limit_ticket: Ticket | None = None
    # Each stage as it began, (name, time.perf_counter()): metrics and traces read them (names and times only).
    stages: list[tuple[str, float]] = field(default_factory=list, repr=False)
    # Stage 5's placeholders, counted by kind for metrics once the answer is restored (memory only, never logged).
    redactions: RedactionMap | None = field(default=None, repr=False)
    # The kinds of value (``email``, ``secret``...) for which the privacy stage refused the request.
    blocked: tuple[str, ...] = ()

    def enter(self, stage: str) -> None:
        """Note that ``stage`` begins now (it ends when the next one begins, or with the request)."""
        self.stages.append((stage, time.perf_counter()))

    @property
    def endpoint(self) -> str:
        """The path without ``/v1`` and ids beyond the second segment (a usage label)."""
        parts = self.path[4:].split("/")
        return "/".join(parts[:2]) if parts and parts[0] in ("chat", "fine_tuning") else parts[0]

    def forward_body(self, model: str | None = None) -> bytes:
        """The body to send upstream: the client's bytes unless a stage changed the payload, or the
        deployment is asked for another model name than the client's (an alias, an Azure deployment)."""
        if self.payload is not None and model is not None and self.payload.get("model", model) != model:
            return orjson.dumps({**self.payload, "model": model})
        if self.body_changed and self.payload is not None:
            return orjson.dumps(self.payload)
        return self.body
