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
# The longest path echoed back in a 404 message (client input: bounded, printable only).
_ECHO_LIMIT = 120
_PRINTABLE = re.compile(r"[ -~]*")


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


_GET, _POST, _DELETE = frozenset({"GET"}), frozenset({"POST"}), frozenset({"DELETE"})
# OpenAI's cursor pagination: forwarded on list routes only.
PAGING = frozenset({"after", "before", "limit", "order"})

CHAT_COMPLETIONS = Endpoint(
    "chat.completions",
    _POST,
    "/v1/chat/completions",
    "chat",
    streams=True,
    json_body=True,
    takes_model=True,
    creates="chat_completion",
)
RESPONSES = Endpoint(
    "responses", _POST, "/v1/responses", "chat", streams=True, json_body=True, takes_model=True, creates="response"
)
# Counting a Responses request's input tokens, and compacting a conversation: nothing is stored.
RESPONSES_INPUT_TOKENS = Endpoint(
    "responses.input_tokens", _POST, "/v1/responses/input_tokens", "chat", json_body=True, takes_model=True
)
RESPONSES_COMPACT = Endpoint(
    "responses.compact", _POST, "/v1/responses/compact", "chat", json_body=True, takes_model=True
)
COMPLETIONS = Endpoint("completions", _POST, "/v1/completions", "chat", streams=True, json_body=True, takes_model=True)
EMBEDDINGS = Endpoint("embeddings", _POST, "/v1/embeddings", "embeddings", json_body=True, takes_model=True)
MODERATIONS = Endpoint("moderations", _POST, "/v1/moderations", "moderations", json_body=True, takes_model=True)
# Exchanging a member key for a short-lived token: vaultgate's own, answered by the gateway.
TOKENS = Endpoint("vaultgate.tokens", _POST, "/v1/vaultgate/tokens", None, json_body=True, upstream=False)
# OpenAI documents no query parameter for listing or retrieving models: none is forwarded.
MODELS_LIST = Endpoint("models.list", _GET, "/v1/models", "models")
MODELS_RETRIEVE = Endpoint("models.retrieve", _GET, "/v1/models/{model:model_id}", "models")

# Stored objects: every parameter typed with an object kind must belong to the caller.
_STORED: tuple[Endpoint, ...] = (
    # Stored chat completions (store=true).
    Endpoint(
        "chat.completions.list",
        _GET,
        "/v1/chat/completions",
        "chat",
        query=PAGING | {"model", "metadata"},
        lists="chat_completion",
    ),
    Endpoint("chat.completions.retrieve", _GET, "/v1/chat/completions/{completion_id:chat_completion}", "chat"),
    Endpoint(
        "chat.completions.update", _POST, "/v1/chat/completions/{completion_id:chat_completion}", "chat", json_body=True
    ),
    Endpoint("chat.completions.delete", _DELETE, "/v1/chat/completions/{completion_id:chat_completion}", "chat"),
    Endpoint(
        "chat.completions.messages",
        _GET,
        "/v1/chat/completions/{completion_id:chat_completion}/messages",
        "chat",
        query=PAGING,
    ),
    # Responses by id.
    Endpoint(
        "responses.retrieve",
        _GET,
        "/v1/responses/{response_id:response}",
        "chat",
        query=frozenset({"include", "include_obfuscation", "stream", "starting_after"}),
    ),
    Endpoint("responses.delete", _DELETE, "/v1/responses/{response_id:response}", "chat"),
    Endpoint("responses.cancel", _POST, "/v1/responses/{response_id:response}/cancel", "chat"),
    Endpoint(
        "responses.input_items",
        _GET,
        "/v1/responses/{response_id:response}/input_items",
        "chat",
        query=PAGING | {"include"},
    ),
    # Conversations.
    Endpoint(
        "conversations.create", _POST, "/v1/conversations", "chat", json_body=True, creates="conversation", stores=True
    ),
    Endpoint("conversations.retrieve", _GET, "/v1/conversations/{conversation_id:conversation}", "chat"),
    Endpoint("conversations.update", _POST, "/v1/conversations/{conversation_id:conversation}", "chat", json_body=True),
    Endpoint("conversations.delete", _DELETE, "/v1/conversations/{conversation_id:conversation}", "chat"),
    Endpoint(
        "conversations.items.list",
        _GET,
        "/v1/conversations/{conversation_id:conversation}/items",
        "chat",
        query=PAGING | {"include"},
    ),
    Endpoint(
        "conversations.items.create",
        _POST,
        "/v1/conversations/{conversation_id:conversation}/items",
        "chat",
        json_body=True,
        stores=True,
    ),
    Endpoint(
        "conversations.items.retrieve",
        _GET,
        "/v1/conversations/{conversation_id:conversation}/items/{item_id:item_id}",
        "chat",
        query=frozenset({"include"}),
    ),
    Endpoint(
        "conversations.items.delete",
        _DELETE,
        "/v1/conversations/{conversation_id:conversation}/items/{item_id:item_id}",
        "chat",
    ),
    # Files.
    Endpoint("files.create", _POST, "/v1/files", "files", multipart=True, creates="file", stores=True),
    Endpoint("files.list", _GET, "/v1/files", "files", query=PAGING | {"purpose"}, lists="file"),
    Endpoint("files.retrieve", _GET, "/v1/files/{file_id:file}", "files"),
    Endpoint("files.delete", _DELETE, "/v1/files/{file_id:file}", "files"),
    Endpoint("files.content", _GET, "/v1/files/{file_id:file}/content", "files", byte_answer=True),
    # Uploads (large files in parts); completing one creates a file.
    Endpoint("uploads.create", _POST, "/v1/uploads", "files", json_body=True, creates="upload", stores=True),
    Endpoint("uploads.parts", _POST, "/v1/uploads/{upload_id:upload}/parts", "files", multipart=True, stores=True),
    Endpoint(
        "uploads.complete", _POST, "/v1/uploads/{upload_id:upload}/complete", "files", json_body=True, stores=True
    ),
    Endpoint("uploads.cancel", _POST, "/v1/uploads/{upload_id:upload}/cancel", "files"),
    # Batches.
    Endpoint("batches.create", _POST, "/v1/batches", "batches", json_body=True, creates="batch", stores=True),
    Endpoint("batches.list", _GET, "/v1/batches", "batches", query=PAGING, lists="batch"),
    Endpoint("batches.retrieve", _GET, "/v1/batches/{batch_id:batch}", "batches"),
    Endpoint("batches.cancel", _POST, "/v1/batches/{batch_id:batch}/cancel", "batches"),
    # Vector stores.
    Endpoint(
        "vector_stores.create",
        _POST,
        "/v1/vector_stores",
        "vector_stores",
        json_body=True,
        creates="vector_store",
        stores=True,
    ),
    Endpoint("vector_stores.list", _GET, "/v1/vector_stores", "vector_stores", query=PAGING, lists="vector_store"),
    Endpoint("vector_stores.retrieve", _GET, "/v1/vector_stores/{vector_store_id:vector_store}", "vector_stores"),
    Endpoint(
        "vector_stores.update",
        _POST,
        "/v1/vector_stores/{vector_store_id:vector_store}",
        "vector_stores",
        json_body=True,
    ),
    Endpoint("vector_stores.delete", _DELETE, "/v1/vector_stores/{vector_store_id:vector_store}", "vector_stores"),
    Endpoint(
        "vector_stores.search",
        _POST,
        "/v1/vector_stores/{vector_store_id:vector_store}/search",
        "vector_stores",
        json_body=True,
    ),
    Endpoint(
        "vector_stores.files.create",
        _POST,
        "/v1/vector_stores/{vector_store_id:vector_store}/files",
        "vector_stores",
        json_body=True,
        stores=True,
    ),
    Endpoint(
        "vector_stores.files.list",
        _GET,
        "/v1/vector_stores/{vector_store_id:vector_store}/files",
        "vector_stores",
        query=PAGING | {"filter"},
    ),
    Endpoint(
        "vector_stores.files.retrieve",
        _GET,
        "/v1/vector_stores/{vector_store_id:vector_store}/files/{file_id:file}",
        "vector_stores",
    ),
    Endpoint(
        "vector_stores.files.update",
        _POST,
        "/v1/vector_stores/{vector_store_id:vector_store}/files/{file_id:file}",
        "vector_stores",
        json_body=True,
    ),
    Endpoint(
        "vector_stores.files.delete",
        _DELETE,
        "/v1/vector_stores/{vector_store_id:vector_store}/files/{file_id:file}",
        "vector_stores",
    ),
    Endpoint(
        "vector_stores.files.content",
        _GET,
        "/v1/vector_stores/{vector_store_id:vector_store}/files/{file_id:file}/content",
        "vector_stores",
    ),
    Endpoint(
        "vector_stores.file_batches.create",
        _POST,
        "/v1/vector_stores/{vector_store_id:vector_store}/file_batches",
        "vector_stores",
        json_body=True,
        creates="vector_store_file_batch",
        stores=True,
    ),
    Endpoint(
        "vector_stores.file_batches.retrieve",
        _GET,
        "/v1/vector_stores/{vector_store_id:vector_store}/file_batches/{batch_id:vector_store_file_batch}",
        "vector_stores",
    ),
    Endpoint(
        "vector_stores.file_batches.cancel",
        _POST,
        "/v1/vector_stores/{vector_store_id:vector_store}/file_batches/{batch_id:vector_store_file_batch}/cancel",
        "vector_stores",
    ),
    Endpoint(
        "vector_stores.file_batches.files",
        _GET,
        "/v1/vector_stores/{vector_store_id:vector_store}/file_batches/{batch_id:vector_store_file_batch}/files",
        "vector_stores",
        query=PAGING | {"filter"},
    ),
    # Fine-tuning.
    Endpoint(
        "fine_tuning.jobs.create",
        _POST,
        "/v1/fine_tuning/jobs",
        "fine_tuning",
        json_body=True,
        takes_model=True,
        creates="fine_tuning_job",
        stores=True,
    ),
    Endpoint(
        "fine_tuning.jobs.list",
        _GET,
        "/v1/fine_tuning/jobs",
        "fine_tuning",
        query=PAGING | {"metadata"},
        lists="fine_tuning_job",
    ),
    Endpoint("fine_tuning.jobs.retrieve", _GET, "/v1/fine_tuning/jobs/{job_id:fine_tuning_job}", "fine_tuning"),
    Endpoint("fine_tuning.jobs.cancel", _POST, "/v1/fine_tuning/jobs/{job_id:fine_tuning_job}/cancel", "fine_tuning"),
    Endpoint("fine_tuning.jobs.pause", _POST, "/v1/fine_tuning/jobs/{job_id:fine_tuning_job}/pause", "fine_tuning"),
    Endpoint("fine_tuning.jobs.resume", _POST, "/v1/fine_tuning/jobs/{job_id:fine_tuning_job}/resume", "fine_tuning"),
    Endpoint(
        "fine_tuning.jobs.events",
        _GET,
        "/v1/fine_tuning/jobs/{job_id:fine_tuning_job}/events",
        "fine_tuning",
        query=PAGING,
    ),
    Endpoint(
        "fine_tuning.jobs.checkpoints",
        _GET,
        "/v1/fine_tuning/jobs/{job_id:fine_tuning_job}/checkpoints",
        "fine_tuning",
        query=PAGING,
    ),
    # Containers (code interpreter).
    Endpoint(
        "containers.create", _POST, "/v1/containers", "containers", json_body=True, creates="container", stores=True
    ),
    Endpoint("containers.list", _GET, "/v1/containers", "containers", query=PAGING | {"name"}, lists="container"),
    Endpoint("containers.retrieve", _GET, "/v1/containers/{container_id:container}", "containers"),
    Endpoint("containers.delete", _DELETE, "/v1/containers/{container_id:container}", "containers"),
    Endpoint(
        "containers.files.create",
        _POST,
        "/v1/containers/{container_id:container}/files",
        "containers",
        multipart=True,
        creates="container_file",
        stores=True,
    ),
    Endpoint(
        "containers.files.list", _GET, "/v1/containers/{container_id:container}/files", "containers", query=PAGING
    ),
    Endpoint(
        "containers.files.retrieve",
        _GET,
        "/v1/containers/{container_id:container}/files/{file_id:container_file}",
        "containers",
    ),
    Endpoint(
        "containers.files.delete",
        _DELETE,
        "/v1/containers/{container_id:container}/files/{file_id:container_file}",
        "containers",
    ),
    Endpoint(
        "containers.files.content",
        _GET,
        "/v1/containers/{container_id:container}/files/{file_id:container_file}/content",
        "containers",
        byte_answer=True,
    ),
)

# Media: multipart uploads in, binary or JSON out.
_MEDIA: tuple[Endpoint, ...] = (
    Endpoint(
        "audio.transcriptions",
        _POST,
        "/v1/audio/transcriptions",
        "audio",
        streams=True,
        multipart=True,
        takes_model=True,
    ),
    Endpoint("audio.translations", _POST, "/v1/audio/translations", "audio", multipart=True, takes_model=True),
    # Speech has no ``stream`` field: audio (or SSE with stream_format=sse) passes through as bytes.
    Endpoint("audio.speech", _POST, "/v1/audio/speech", "audio", json_body=True, takes_model=True, byte_answer=True),
    Endpoint(
        "images.generations", _POST, "/v1/images/generations", "images", streams=True, json_body=True, takes_model=True
    ),
    Endpoint("images.edits", _POST, "/v1/images/edits", "images", streams=True, multipart=True, takes_model=True),
    Endpoint("images.variations", _POST, "/v1/images/variations", "images", multipart=True, takes_model=True),
)

# A Realtime session over WebSocket (the model in the query); scope ``realtime``, checked at write level.
REALTIME = Endpoint(
    "realtime",
    _GET,
    "/v1/realtime",
    "realtime",
    takes_model=True,
    query=frozenset({"model", "call_id"}),
    websocket=True,
)
# Ephemeral client keys would let a browser talk to OpenAI directly, past every check of the gateway.
_EPHEMERAL = Refusal(
    "ephemeral_keys_refused",
    "vaultgate does not mint ephemeral OpenAI client keys: they would bypass the gateway. "
    "Connect through vaultgate with your vaultgate key instead.",
)
_REFUSED: tuple[Endpoint, ...] = tuple(
    Endpoint(name, _POST, pattern, "realtime", upstream=False, refusal=_EPHEMERAL)
    for name, pattern in (
        ("realtime.client_secrets", "/v1/realtime/client_secrets"),
        ("realtime.sessions", "/v1/realtime/sessions"),
        ("realtime.transcription_sessions", "/v1/realtime/transcription_sessions"),
        ("realtime.translations.client_secrets", "/v1/realtime/translations/client_secrets"),
    )
)

ENDPOINTS: tuple[Endpoint, ...] = (
    CHAT_COMPLETIONS,
    RESPONSES,
    RESPONSES_INPUT_TOKENS,
    RESPONSES_COMPACT,
    COMPLETIONS,
    EMBEDDINGS,
    MODERATIONS,
    TOKENS,
    MODELS_LIST,
    MODELS_RETRIEVE,
    *_STORED,
    *_MEDIA,
    REALTIME,
    *_REFUSED,
)
# Templates without parameters by their path: one dictionary lookup for most requests.
_STATIC: Mapping[tuple[str, str], Endpoint] = MappingProxyType(
    {
        (method, e.pattern): e
        for e in ENDPOINTS
        if not any(isinstance(s, Parameter) for s in e.segments)
        for method in e.methods
    }
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
    static = _STATIC.get((method, path))
    if static is not None and (raw_path is None or raw_path == path.encode()):
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
