"""Endpoint templates: what a served endpoint is, and how a request line binds to one.

Each :class:`Endpoint` declares its methods, a path pattern with typed parameters
(``/v1/models/{model:model_id}``), its endpoint group (for scopes), whether it streams, its
body kind and which query parameters may be forwarded. A :class:`RequestTarget` is a matched
endpoint and its validated parameters; :meth:`RequestTarget.upstream_path` builds the upstream
path from the template and the parameters only, each parameter encoded as exactly one segment,
so nothing of the client's raw path ever reaches the upstream. The table of served endpoints
and the matching are in :mod:`vaultgate.gateway.endpoints`.

A parameter is a plain identifier (see :data:`IDENTIFIER`): an ASCII letter or digit, then up
to 127 letters, digits or ``. _ : -``, and never ``..``. That excludes ``/``, ``\\``, ``%``,
``;``, ``?``, ``#``, whitespace, control and non-ASCII characters (so fullwidth or other
look-alike dots and slashes too).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import parse_qsl, quote, urlencode

# A plain identifier: what a path parameter may be (model ids such as ``ft:gpt-4o:org::abc123``).
IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
# Kinds of stored upstream objects a member owns (gateway ownership): a path parameter of one of
# these types names an object that must belong to the caller; ``Endpoint.creates`` names the kind
# whose id an answer carries.
OBJECT_KINDS: frozenset[str] = frozenset(
    {
        "file",
        "upload",
        "batch",
        "response",
        "chat_completion",
        "conversation",
        "vector_store",
        "vector_store_file_batch",
        "fine_tuning_job",
        "container",
        "container_file",
    }
)
# Parameter types a pattern may name; each is a full-match regex over the decoded segment.
# ``model_id`` names a model; ``item_id`` a sub-object reached only through an owned parent.
PARAMETER_TYPES: Mapping[str, re.Pattern[str]] = MappingProxyType(
    {"model_id": IDENTIFIER, "item_id": IDENTIFIER, **{kind: IDENTIFIER for kind in OBJECT_KINDS}}
)
# Left as is in a path segment: ":" is a segment character (RFC 3986 pchar), and model ids use it.
_SEGMENT_SAFE = ":"


@dataclass(frozen=True, slots=True)
class Parameter:
    """A typed path parameter: ``{name:type}`` in a pattern."""

    name: str
    kind: str

    @property
    def owned(self) -> bool:
        """Whether the parameter names a stored object that must belong to the caller."""
        return self.kind in OBJECT_KINDS

    def accepts(self, segment: str) -> bool:
        """Whether the decoded segment is a valid value of this parameter's type."""
        return PARAMETER_TYPES[self.kind].fullmatch(segment) is not None and ".." not in segment


Segment = str | Parameter


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a known OpenAI endpoint is deliberately not served: answered 403 with this code and message."""

    code: str
    message: str


def _segments(pattern: str) -> tuple[Segment, ...]:
    out: list[Segment] = []
    for part in pattern.split("/")[1:]:
        if part.startswith("{"):
            name, _, kind = part[1:-1].partition(":")
            if kind not in PARAMETER_TYPES:
                raise ValueError(f"unknown parameter type {kind!r} in {pattern}")
            out.append(Parameter(name, kind))
        else:
            out.append(part)
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One served endpoint. ``name`` labels it for adapters; ``group`` is its scope (None: no scope)."""

    name: str
    methods: frozenset[str]
    pattern: str
    group: str | None
    streams: bool = False
    json_body: bool = False
    # A multipart/form-data body (file uploads, audio, image edits).
    multipart: bool = False
    # Whether the request names a model (in its body or form): model policy applies to it.
    takes_model: bool = False
    # Query parameters forwarded upstream; every other one is dropped.
    query: frozenset[str] = frozenset()
    # Whether the request goes upstream at all (vaultgate's own endpoints do not).
    upstream: bool = True
    # The object kind whose ``id`` a successful answer carries (the caller then owns it).
    creates: str | None = None
    # The object kind a list answer holds in ``data`` (filtered to what the caller owns).
    lists: str | None = None
    # The request asks the provider to keep new content (a file, a batch, a conversation...): refused
    # for zero-retention teams. Stored chat completions and responses are not here: ``store`` is forced off.
    stores: bool = False
    # A successful answer is bytes to pass through as they come (audio, file content), never read whole.
    byte_answer: bool = False
    # Served over WebSocket only (``/v1/realtime``): a plain HTTP request to it is refused.
    websocket: bool = False
    # Set for an endpoint vaultgate knows and refuses on purpose (never forwarded).
    refusal: Refusal | None = None
    segments: tuple[Segment, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "segments", _segments(self.pattern))
        if self.creates is not None and self.creates not in OBJECT_KINDS:
            raise ValueError(f"unknown object kind {self.creates!r} in {self.name}")
        if self.lists is not None and self.lists not in OBJECT_KINDS:
            raise ValueError(f"unknown object kind {self.lists!r} in {self.name}")
        if self.json_body and self.multipart:
            raise ValueError(f"{self.name} cannot take both a JSON and a multipart body")

    @property
    def body(self) -> str:
        """What the request carries: ``json``, ``multipart`` or ``none`` (GET, DELETE, bodiless POSTs)."""
        return "json" if self.json_body else "multipart" if self.multipart else "none"

    @property
    def owned_parameters(self) -> tuple[Parameter, ...]:
        """The path parameters naming stored objects the caller must own."""
        return tuple(s for s in self.segments if isinstance(s, Parameter) and s.owned)

    def bind(self, segments: list[str]) -> dict[str, str] | None:
        """The parameters when the decoded segments fit this pattern, else None."""
        if len(segments) != len(self.segments):
            return None
        params: dict[str, str] = {}
        for want, got in zip(self.segments, segments, strict=True):
            if isinstance(want, Parameter):
                if not want.accepts(got):
                    return None
                params[want.name] = got
            elif want != got:
                return None
        return params


@dataclass(frozen=True, slots=True)
class RequestTarget:
    """A matched request: the endpoint and its validated parameters."""

    endpoint: Endpoint
    params: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def model(self) -> str | None:
        """The model a path names (``GET /v1/models/{model}``), for policy; None otherwise."""
        return self.params.get("model")

    @property
    def path(self) -> str:
        """The matched path in canonical form (``/v1/...``, parameters as validated, not encoded)."""
        if not self.params:
            return self.endpoint.pattern
        return "/" + "/".join(self.params[s.name] if isinstance(s, Parameter) else s for s in self.endpoint.segments)

    def with_params(self, params: Mapping[str, str]) -> RequestTarget:
        """The same endpoint with other values (e.g. redacted) for the same parameters."""
        if set(params) != set(self.params):
            raise ValueError("parameters must keep their names")
        return RequestTarget(self.endpoint, MappingProxyType(dict(params)))

    def upstream_path(self) -> str:
        """The path under ``/v1`` for the upstream: the template with each parameter as one encoded segment."""
        parts = [
            quote(self.params[s.name], safe=_SEGMENT_SAFE) if isinstance(s, Parameter) else s
            for s in self.endpoint.segments[1:]
        ]
        return "/" + "/".join(parts)

    def upstream_query(self, query: bytes) -> bytes:
        """Only the query parameters the template allows, re-encoded (b"" when none may pass).

        A name passes when it, or its part before ``[``, is allowed: the SDK sends lists as
        ``include[]=a`` and mappings as ``metadata[key]=value``.
        """
        if not self.endpoint.query or not query:
            return b""
        pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
        allowed = [(k, v) for k, v in pairs if _query_name(k) in self.endpoint.query]
        return urlencode(allowed).encode("ascii")


def _query_name(key: str) -> str:
    """``include[]`` → ``include``, ``metadata[team]`` → ``metadata``; a plain name stays as it is."""
    base, bracket, rest = key.partition("[")
    return base if bracket and rest.endswith("]") else key
