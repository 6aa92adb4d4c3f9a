"""The endpoints the data plane serves: the one table of what reaches the upstream, and matching.

:data:`ENDPOINTS` lists every served endpoint (:mod:`vaultgate.gateway.templates` says what an
endpoint template is). :func:`match` turns a request line into a :class:`RequestTarget` (the
endpoint and its validated parameters) or refuses it. The raw path (``scope["raw_path"]``) is
split on ``/`` *before* each segment is percent-decoded once, so an encoded separator (``%2F``,
``%5C``), an encoded dot segment (``%2e%2e``) or a double encoding (``%252F``) decodes to a
segment that is not an identifier and never matches.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from urllib.parse import unquote_to_bytes

from vaultgate.gateway.errors import GatewayError
from vaultgate.gateway.templates import Endpoint, Parameter, Refusal, RequestTarget

# The longest path echoed back in a 404 message (client input: bounded, printable only).
_ECHO_LIMIT = 120
_PRINTABLE = re.compile(r"[ -~]*")

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
# Who the presented credential speaks for (vaultgate login, whoami): vaultgate's own, answered by the gateway.
WHOAMI = Endpoint("vaultgate.whoami", _GET, "/v1/vaultgate/whoami", None, upstream=False)
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
    WHOAMI,
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
