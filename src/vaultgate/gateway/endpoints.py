"""The endpoints the data plane serves, as templates: the one table of what reaches the upstream.

Each :class:`Endpoint` declares its methods, a path pattern with typed parameters
(``/v1/models/{model:model_id}``), its endpoint group (for scopes), whether it streams,
whether it carries a JSON body and which query parameters may be forwarded. :func:`match`
turns a request line into a :class:`RequestTarget` (the endpoint and its validated
parameters) or refuses it; :meth:`RequestTarget.upstream_path` builds the upstream path from
the template and the parameters only, each parameter encoded as exactly one segment, so
nothing of the client's raw path ever reaches the upstream.

A parameter is a plain identifier (see :data:`IDENTIFIER`): an ASCII letter or digit, then up
to 127 letters, digits or ``. _ : -``, and never ``..``. That excludes ``/``, ``\\``, ``%``,
``;``, ``?``, ``#``, whitespace, control and non-ASCII characters (so fullwidth or other
look-alike dots and slashes too). The raw path (``scope["raw_path"]``) is split on ``/``
*before* each segment is percent-decoded once, so an encoded separator (``%2F``, ``%5C``),
an encoded dot segment (``%2e%2e``) or a double encoding (``%252F``) decodes to a segment
that is not an identifier and never matches.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import parse_qsl, quote, unquote_to_bytes, urlencode

from vaultgate.gateway.errors import GatewayError

# A plain identifier: what a path parameter may be (model ids such as ``ft:gpt-4o:org::abc123``).
IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
# Parameter types a pattern may name; each is a full-match regex over the decoded segment.
PARAMETER_TYPES: Mapping[str, re.Pattern[str]] = MappingProxyType({"model_id": IDENTIFIER})
# Left as is in a path segment: ":" is a segment character (RFC 3986 pchar), and model ids use it.
_SEGMENT_SAFE = ":"
# The longest path echoed back in a 404 message (client input: bounded, printable only).
_ECHO_LIMIT = 120
_PRINTABLE = re.compile(r"[ -~]*")


@dataclass(frozen=True, slots=True)
class Parameter:
    """A typed path parameter: ``{name:type}`` in a pattern."""

    name: str
    kind: str

    def accepts(self, segment: str) -> bool:
        """Whether the decoded segment is a valid value of this parameter's type."""
        return PARAMETER_TYPES[self.kind].fullmatch(segment) is not None and ".." not in segment


Segment = str | Parameter


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
    # Query parameters forwarded upstream; every other one is dropped (today: none anywhere).
    query: frozenset[str] = frozenset()
    # Whether the request goes upstream at all (vaultgate's own endpoints do not).
    upstream: bool = True
    segments: tuple[Segment, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "segments", _segments(self.pattern))

    @property
    def takes_model(self) -> bool:
        """Whether the request body names the model (every JSON endpoint that goes upstream)."""
        return self.json_body and self.upstream

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
        """Only the query parameters the template allows, re-encoded (b"" when none may pass)."""
        if not self.endpoint.query or not query:
            return b""
        pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
        allowed = [(k, v) for k, v in pairs if k in self.endpoint.query]
        return urlencode(allowed).encode("ascii")


CHAT_COMPLETIONS = Endpoint(
    "chat.completions", frozenset({"POST"}), "/v1/chat/completions", "chat", streams=True, json_body=True
)
RESPONSES = Endpoint("responses", frozenset({"POST"}), "/v1/responses", "chat", streams=True, json_body=True)
COMPLETIONS = Endpoint("completions", frozenset({"POST"}), "/v1/completions", "chat", streams=True, json_body=True)
EMBEDDINGS = Endpoint("embeddings", frozenset({"POST"}), "/v1/embeddings", "embeddings", json_body=True)
MODERATIONS = Endpoint("moderations", frozenset({"POST"}), "/v1/moderations", "moderations", json_body=True)
# Exchanging a member key for a short-lived token: vaultgate's own, answered by the gateway.
TOKENS = Endpoint("vaultgate.tokens", frozenset({"POST"}), "/v1/vaultgate/tokens", None, json_body=True, upstream=False)
# OpenAI documents no query parameter for listing or retrieving models: none is forwarded.
MODELS_LIST = Endpoint("models.list", frozenset({"GET"}), "/v1/models", "models")
MODELS_RETRIEVE = Endpoint("models.retrieve", frozenset({"GET"}), "/v1/models/{model:model_id}", "models")

ENDPOINTS: tuple[Endpoint, ...] = (
    CHAT_COMPLETIONS,
    RESPONSES,
    COMPLETIONS,
    EMBEDDINGS,
    MODERATIONS,
    TOKENS,
    MODELS_LIST,
    MODELS_RETRIEVE,
)
# Templates without parameters by their path: one dictionary lookup for most requests.
_STATIC: Mapping[str, Endpoint] = MappingProxyType(
    {e.pattern: e for e in ENDPOINTS if not any(isinstance(s, Parameter) for s in e.segments)}
)


def _decoded_segments(path: str, raw_path: bytes | None) -> list[str] | None:
    """The path's segments, each percent-decoded once *after* splitting; None when one is not ASCII."""
    if raw_path is None:
        # No raw path (some servers, in-process tests): the decoded path is all there is, and
        # decoding it again would be a second decoding.
        return path.split("/")[1:] if path.startswith("/") else None
    try:
        raw = raw_path.decode("ascii")
    except UnicodeDecodeError:
        return None
    if not raw.startswith("/"):
        return None
    segments = []
    for part in raw.split("/")[1:]:
        try:
            segments.append(unquote_to_bytes(part).decode("ascii") if "%" in part else part)
        except UnicodeDecodeError:
            return None
    return segments


def endpoint_of(path: str) -> Endpoint | None:
    """The endpoint whose pattern a decoded ``/v1/...`` path fits, whatever the method; None if none."""
    segments = _decoded_segments(path, None)
    if segments is None:
        return None
    return next((e for e in ENDPOINTS if e.bind(segments) is not None), None)


def match(method: str, path: str, raw_path: bytes | None = None) -> RequestTarget:
    """The endpoint and validated parameters of a request; 404 ``unknown_url`` or 405 ``method_not_allowed``."""
    static = _STATIC.get(path)
    if static is not None and method in static.methods and (raw_path is None or raw_path == path.encode()):
        return RequestTarget(static)  # the hot path: a fixed path sent as is
    segments = _decoded_segments(path, raw_path)
    allowed: set[str] = set()
    pattern = path
    if segments is not None:
        for endpoint in ENDPOINTS:
            params = endpoint.bind(segments)
            if params is None:
                continue
            if method in endpoint.methods:
                return RequestTarget(endpoint, MappingProxyType(params))
            allowed |= endpoint.methods
            pattern = endpoint.pattern
    if allowed:
        methods = " or ".join(sorted(allowed))
        raise GatewayError(
            405, "method_not_allowed", f"{_shown_method(method)} is not allowed on {pattern}; use {methods}."
        )
    raise unknown_url(method, path)


def _shown_method(method: str) -> str:
    return method if method.isalpha() and len(method) <= 16 else "this method"


def unknown_url(method: str, path: str) -> GatewayError:
    """The 404 for a path no template matches; the path is echoed only when short and printable."""
    shown = path if len(path) <= _ECHO_LIMIT and _PRINTABLE.fullmatch(path) else "(this URL)"
    return GatewayError(
        404, "unknown_url", f"Unknown request URL: {_shown_method(method)} {shown}. vaultgate does not serve it."
    )
