"""Attack class 1 (and the body part of 6 and 8): the upstream request follows the templates, not the client.

A member sends raw request targets (no client-side normalisation: a socket writes the bytes
as given) with traversal, encoding and separator tricks on every endpoint template, and
bodies with repeated keys, deep nesting and huge integers. Nothing may reach the upstream
but the one templated path, and every refusal is a JSON error.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from typing import Any

import openai
import pytest

from tests.attacks.conftest import RawResponse, RecordingUpstream, Served
from vaultgate.gateway.endpoints import ENDPOINTS
from vaultgate.gateway.templates import OBJECT_KINDS, Endpoint
from vaultgate.services import objects
from vaultgate.services.context import LOCAL_OPERATOR


@dataclass(frozen=True)
class Template:
    """A served endpoint as a client sees it: its catalogue pattern, filled with plain sample ids."""

    method: str
    pattern: str
    body: dict[str, Any] | None
    upstream: bool = True
    multipart: bool = False
    # Query parameters the template forwards (the control request sends ``after=…``).
    query: frozenset[str] = frozenset()
    # The object kind a list answer holds (its ``after`` cursor is an id of that kind).
    lists: str | None = None

    def path(self, **values: str) -> str:
        """The path with each parameter set to ``values[name]`` or its sample id."""
        parts = []
        for part in self.pattern.split("/"):
            if part.startswith("{"):
                name, _, kind = part[1:-1].partition(":")
                part = values.get(name, SAMPLE_IDS[kind])
            parts.append(part)
        return "/".join(parts)

    @property
    def parameters(self) -> list[str]:
        return [part[1:-1].partition(":")[0] for part in self.pattern.split("/") if part.startswith("{")]


# A plain id of each parameter type, shaped like OpenAI's.
SAMPLE_IDS = {
    "model_id": "gpt-4o",
    "item_id": "msg_abc123",
    "file": "file-abc123",
    "upload": "upload_abc123",
    "batch": "batch_abc123",
    "response": "resp_abc123",
    "chat_completion": "chatcmpl-abc123",
    "conversation": "conv_abc123",
    "vector_store": "vs_abc123",
    "vector_store_file_batch": "vsfb_abc123",
    "fine_tuning_job": "ftjob-abc123",
    "container": "cntr_abc123",
    "container_file": "cfile_abc123",
}
# Bodies for the first endpoints; every other JSON endpoint gets a small body of its kind.
_BODIES: dict[str, dict[str, Any]] = {
    "chat.completions": {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
    "responses": {"model": "gpt-4o", "input": "hi"},
    "completions": {"model": "gpt-4o", "prompt": "hi"},
    "embeddings": {"model": "text-embedding-3-small", "input": "hi"},
    "moderations": {"model": "omni-moderation-latest", "input": "hi"},
    "vaultgate.tokens": {"expires_in": 60},
}
FORM_BOUNDARY = "vaultgate-test-boundary"
FORM = (
    f'--{FORM_BOUNDARY}\r\nContent-Disposition: form-data; name="model"\r\n\r\ngpt-4o\r\n'
    f'--{FORM_BOUNDARY}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
    f'--{FORM_BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\n'
    f"Content-Type: application/octet-stream\r\n\r\n\x00\x01data\r\n--{FORM_BOUNDARY}--\r\n"
).encode("latin-1")


def _template(endpoint: Endpoint, method: str) -> Template:
    body: dict[str, Any] | None = None
    if endpoint.json_body:
        body = _BODIES.get(endpoint.name, {"model": "gpt-4o"} if endpoint.takes_model else {"metadata": {"k": "v"}})
    reaches = endpoint.upstream and endpoint.refusal is None and not endpoint.websocket
    return Template(method, endpoint.pattern, body, reaches, endpoint.multipart, endpoint.query, endpoint.lists)


# Every endpoint template of gateway/endpoints.py, each method (tests/gateway/test_endpoints.py checks it).
TEMPLATES = tuple(_template(e, m) for e in ENDPOINTS for m in sorted(e.methods))
# A secret the privacy policy blocks by default (a provider-shaped key, built so no scanner flags this file).
SECRET = "sk-proj-" + "Zq8RkV3mW1xT6nB9" * 3


def send_raw(
    served: Served,
    method: str,
    target: bytes,
    token: str,
    body: bytes | None = None,
    content_type: bytes = b"application/json",
) -> RawResponse:
    """One HTTP/1.1 request with the target exactly as given (httpx and the SDK would normalise it)."""
    host, port = served.url.removeprefix("http://").split(":")
    head = [method.encode() + b" " + target + b" HTTP/1.1", b"Host: " + host.encode(), b"Connection: close"]
    head.append(b"Authorization: Bearer " + token.encode())
    if body is not None:
        head += [b"Content-Type: " + content_type, b"Content-Length: " + str(len(body)).encode()]
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(b"\r\n".join(head) + b"\r\n\r\n" + (body or b""))
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head_bytes, _, payload = received.partition(b"\r\n\r\n")
    lines = head_bytes.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        payload = _unchunk(payload)
    return RawResponse(int(lines[0].split()[1]), headers, payload)


def _unchunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out, data = out + data[:size], data[size + 2 :]
    return out


# Appended to a template's path: each must make the target unknown (never another upstream path).
SUFFIX_TRICKS = [
    "/../../files",
    "/..%2F..%2Ffiles",
    "%2F..%2F..%2Ffiles",
    "%2f..%2f..%2ffiles",
    "/%2e%2e/%2e%2e/files",
    "/%2E%2E%2F%2E%2E%2Ffiles",
    "%252F..%252F..%252Ffiles",
    "%25252F..%25252Ffiles",
    "\\..\\..\\files",
    "%5C..%5C..%5Cfiles",
    ";/../../files",
    ";x=1",
    "/",
    "//",
    "/.",
    "/./",
    "%00",
    "%00/../../files",
    "%2F",
    "/%E2%80%A5/files",  # two dot leader
    "/%EF%BC%8E%EF%BC%8E/files",  # fullwidth dots
    "%EF%BC%8F..%EF%BC%8F..%EF%BC%8Ffiles",  # fullwidth solidus
    "/%C0%AE%C0%AE/files",  # overlong UTF-8 dots
    "/\u2025/files",  # the same characters unencoded: raw UTF-8 bytes in the request line
    "/\uff0e\uff0e/files",
    "\uff0f..\uff0f..\uff0ffiles",
    "%09",
    "%20",
]
# The template's "/v1/" rewritten: a prefix that normalises to it must not match either.
PREFIX_TRICKS = ["/v1//", "/v1/./", "/v1/x/../", "/v1/%2e/", "//v1/", "/v1%2F", "/V1/"]
# A path parameter (the model id) replaced by each of these.
PARAMETER_TRICKS = [
    "../files",
    "..%2Ffiles",
    "..",
    ".",
    "%2e%2e",
    "%2e%2e%2ffiles",
    "..%5Cfiles",
    "..\\files",
    "gpt-4o%2F..%2F..%2Ffiles",
    "gpt-4o/../../files",
    "gpt-4o%252F..%252F..%252Ffiles",
    "gpt-4o;..",
    "gpt-4o%00",
    "gpt-4o%0d%0aX-Injected:%201",
    "gpt-4o%3F",
    "gpt-4o%23x",
    "%E2%80%A5",
    "\u2025",
    "gpt\u20144o",
    "..%EF%BC%8Ffiles",
    "-gpt",
    "a" * 200,
]


def tricks(template: Template) -> list[str]:
    """Every trick target for one template (the parameter tricks on its last parameter)."""
    path = template.path()
    targets = [path + suffix for suffix in SUFFIX_TRICKS]
    targets += [prefix + path[len("/v1/") :] for prefix in PREFIX_TRICKS]
    if template.parameters:
        last = template.parameters[-1]
        targets += [template.path(**{last: value}) for value in PARAMETER_TRICKS]
    return targets


def body_of(template: Template) -> tuple[bytes | None, bytes]:
    """The request body of a template and its content type."""
    if template.multipart:
        return FORM, b"multipart/form-data; boundary=" + FORM_BOUNDARY.encode()
    return (json.dumps(template.body).encode() if template.body is not None else None), b"application/json"


_SAMPLE_OWNERS: dict[int, str] = {}


def sample_owner_key(served: Served) -> str:
    """A key of the member who owns every sample id (claimed once per gateway), so that the control
    requests pass the ownership stage and show what reaches the upstream."""
    if id(served) not in _SAMPLE_OWNERS:
        member = served.member()
        for kind, object_id in SAMPLE_IDS.items():
            if kind in OBJECT_KINDS:
                objects.claim(served.cp, LOCAL_OPERATOR, object_id, kind, member)
        _SAMPLE_OWNERS[id(served)] = served.key(member)
    return _SAMPLE_OWNERS[id(served)]


def test_every_template_refuses_traversal_encoding_and_separator_tricks(
    served: Served, upstream: RecordingUpstream
) -> None:
    token = served.key(served.member())
    failures = []
    for template in TEMPLATES:
        method = template.method
        body, content_type = body_of(template)
        for target in tricks(template):
            upstream.clear()
            response = send_raw(served, method, target.encode(), token, body, content_type)
            if upstream.requests:
                failures.append(f"{method} {target}: reached the upstream as {upstream.requests[0].path}")
            elif not target.isascii() and response.status == 400 and response.error()["code"] == "invalid_request":
                pass  # the HTTP parser refuses raw non-ASCII bytes in the request line before any application runs
            elif response.status != 404 or response.error()["code"] != "unknown_url":
                failures.append(f"{method} {target}: answered {response.status} {response.body[:120]!r}")
    assert not failures, "\n".join(failures)

    # The control: each template itself reaches the upstream, as exactly its own path, with only the
    # query parameters it forwards (a list's ``after``; never ``api-version``); refused ones never do.
    # The objects it names (and a list's cursor) are the caller's, as ownership requires.
    token = sample_owner_key(served)
    for template in TEMPLATES:
        upstream.clear()
        body, content_type = body_of(template)
        path = template.path()
        cursor = SAMPLE_IDS[template.lists] if template.lists else "x"
        target = path.encode() + f"?after={cursor}&api-version=1".encode()
        response = send_raw(served, template.method, target, token, body, content_type)
        assert response.status in (200, 404) or not template.upstream, (path, response.body[:200])
        query = f"after={cursor}".encode() if "after" in template.query else b""
        expected = [(template.method, path, query)] if template.upstream else []
        assert [(r.method, r.path, r.query) for r in upstream.requests] == expected
        if template.multipart:  # a form goes as sent, with its boundary
            assert upstream.requests[0].body == body
            assert upstream.requests[0].headers["content-type"] == content_type.decode()


def test_a_key_without_files_cannot_list_files_through_the_models_path(
    served: Served, upstream: RecordingUpstream
) -> None:
    token = served.key(served.member(), scopes={"files": "none"})
    for target in (b"/v1/models/gpt-4o/../../files", b"/v1/models/gpt-4o%2F..%2F..%2Ffiles", b"/v1/models/..%2Ffiles"):
        response = send_raw(served, "GET", target, token)
        assert response.status == 404, target
        assert response.error()["code"] == "unknown_url"
    assert upstream.requests == [], "nothing may reach the upstream"


def test_the_model_id_is_one_encoded_segment_and_the_query_is_not_forwarded(
    served: Served, upstream: RecordingUpstream
) -> None:
    token = served.key(served.member())

    async def model_object(captured: Any, send: Any) -> bool:
        if not captured.path.startswith("/v1/models/"):
            return False
        model = {"id": captured.path.rsplit("/", 1)[1], "object": "model", "created": 1, "owned_by": "x"}
        await upstream._send(send, 200, json.dumps(model).encode())
        return True

    upstream.respond = model_object
    client = openai.OpenAI(base_url=served.base_url, api_key=token, max_retries=0)
    page = client.models.list(extra_query={"after": "x", "limit": "1000", "api-version": "x"})
    assert page.data
    model = client.models.retrieve("ft:gpt-4o-mini:org::Ab1.x_y-z", extra_query={"redirect": "/v1/files"})
    assert model.id == "ft:gpt-4o-mini:org::Ab1.x_y-z"
    assert [(r.method, r.path, r.query) for r in upstream.requests] == [
        ("GET", "/v1/models", b""),
        ("GET", "/v1/models/ft:gpt-4o-mini:org::Ab1.x_y-z", b""),
    ]


def post_raw(served: Served, path: str, token: str, body: bytes) -> RawResponse:
    return send_raw(served, "POST", path.encode(), token, body)


def test_repeated_keys_are_refused_at_any_depth(served: Served, upstream: RecordingUpstream) -> None:
    token = served.key(served.member(), models=["gpt-4o", "text-embedding-3-small"])
    cases = [
        (
            "/v1/chat/completions",
            b'{"model":"o1","model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}',
            "model",
        ),
        ("/v1/chat/completions", b'{"model":"gpt-4o","\\u006dodel":"o1","messages":[]}', "model"),
        (
            "/v1/embeddings",
            b'{"model":"text-embedding-3-small","input":"' + SECRET.encode() + b'","input":"x"}',
            "input",
        ),
        (
            "/v1/chat/completions",
            b'{"model":"gpt-4o","messages":[{"role":"user","content":"' + SECRET.encode() + b'","content":"hi"}]}',
            "content",
        ),
        ("/v1/responses", b'{"model":"gpt-4o","input":"hi","metadata":{"a":{"b":"x:\\":","b":"y"}}}', "b"),
        # A colon written as an escape inside a kept string cannot hide the repeated key.
        (
            "/v1/embeddings",
            b'{"model":"text-embedding-3-small","input":"\\u003a","input":"' + SECRET.encode() + b'"}',
            "input",
        ),
    ]
    for path, body, key in cases:
        response = post_raw(served, path, token, body)
        assert response.status == 400, body
        error = response.error()
        assert (error["code"], error["param"]) == ("duplicate_key", key)
        assert f"'{key}'" in error["message"] and SECRET not in error["message"] and "o1" not in error["message"]
    assert upstream.requests == [], "nothing may reach the upstream"

    # No repeated key, only strings full of '":', escapes and colons: accepted, and forwarded as sent.
    tricky = (
        b'{"model":"text-embedding-3-small","input":["a\\":\\"b","c\\\\\\":d","\\u003a\\\\u003a",'
        b'"{\\"input\\":1,\\"input\\":2}"]}'
    )
    response = post_raw(served, "/v1/embeddings", token, tricky)
    assert response.status == 200, response.body
    assert [r.body for r in upstream.requests] == [tricky]


@pytest.mark.parametrize("depth", [65, 200, 300, 1000])
def test_deep_nesting_is_refused_with_a_json_error(served: Served, upstream: RecordingUpstream, depth: int) -> None:
    token = served.key(served.member())
    nested = b"[" * (depth - 1) + b"]" * (depth - 1)  # inside the top-level object: `depth` levels
    response = post_raw(served, "/v1/chat/completions", token, b'{"model":"gpt-4o","messages":[],"x":' + nested + b"}")
    assert response.status == 400
    error = response.error()
    assert error["code"] == "invalid_json" and "nested too deeply (more than 64 levels)" in error["message"]
    assert upstream.requests == []


def test_integers_beyond_64_bits_are_refused(served: Served, upstream: RecordingUpstream) -> None:
    token = served.key(served.member())
    for number in (b"18446744073709551616", b"9223372036854775808", b"-9223372036854775809", b"1" + b"0" * 400):
        body = b'{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"max_tokens":' + number + b"}"
        response = post_raw(served, "/v1/chat/completions", token, body)
        assert response.status == 400, number
        assert response.error()["code"] == "invalid_json"
    assert upstream.requests == []
    fine = b'{"model":"gpt-4o","messages":[{"role":"user","content":"12345678901234567890123"}],"seed":9223372036854775807}'
    assert post_raw(served, "/v1/chat/completions", token, fine).status == 200
    assert upstream.last.json()["seed"] == 9223372036854775807


# --- Azure-shaped paths (gateway/azure_paths.py): the same templates behind Azure's prefixes ---

# Templates the SDK's AzureOpenAI sends under /openai/deployments/{deployment}/.
AZURE_DEPLOYMENT_TEMPLATES = {"/v1/chat/completions", "/v1/completions", "/v1/embeddings"}


def azure_forms(template: Template) -> list[str]:
    """The Azure-shaped paths of one template: the v1 surface, the resource path, the deployment path."""
    rest = template.path()[len("/v1/") :]
    forms = [f"/openai/v1/{rest}", f"/openai/{rest}"]
    if template.pattern in AZURE_DEPLOYMENT_TEMPLATES:
        model = (template.body or {}).get("model", "gpt-4o")
        forms.append(f"/openai/deployments/{model}/{rest}")
    return forms


# Prefix rewrites of /openai/deployments/{deployment}/ and /openai/v1/ that must not match either.
AZURE_PREFIX_TRICKS = [
    "/openai//deployments/gpt-4o/",
    "/openai/./deployments/gpt-4o/",
    "/openai%2Fdeployments/gpt-4o/",
    "/openai%2fdeployments%2fgpt-4o%2f",
    "/openai/deployments%2Fgpt-4o/",
    "/openai/deployments/gpt-4o%2F",
    "/openai/deployments/gpt-4o/./",
    "/openai/deployments/gpt-4o//",
    "/openai/deployments/x/../gpt-4o/",
    "/openai/deployments/%2e%2e/",
    "/openai/deployments/..%2F..%2Fv1/",
    "/openai/deployments//",
    "/openai/x/../deployments/gpt-4o/",
    "/OpenAI/deployments/gpt-4o/",
    "/openai%2F",
    "/openai/v1/../v1/",
    "/openai/v1//",
    "/openai/v1%2F",
    "/openai/./v1/",
    "/openai/%2e/v1/",
    "/openai/v1/./",
]


def test_azure_shaped_paths_refuse_traversal_encoding_and_separator_tricks(
    served: Served, upstream: RecordingUpstream
) -> None:
    token = served.key(served.member())
    failures = []
    for template in TEMPLATES:
        if not template.upstream:
            continue
        body = json.dumps(template.body).encode() if template.body is not None else None
        targets: list[str] = []
        for form in azure_forms(template):
            targets += [form + suffix for suffix in SUFFIX_TRICKS]
            if form.startswith("/openai/deployments/"):
                rest = form.split("/", 4)[4]
                targets += [f"/openai/deployments/{value}/{rest}" for value in PARAMETER_TRICKS]
        if template.pattern in AZURE_DEPLOYMENT_TEMPLATES:
            rest = template.path()[len("/v1/") :]
            targets += [prefix + rest for prefix in AZURE_PREFIX_TRICKS]
        for target in targets:
            upstream.clear()
            response = send_raw(served, template.method, target.encode(), token, body)
            if upstream.requests:
                failures.append(f"{template.method} {target}: reached the upstream as {upstream.requests[0].path}")
            elif not target.isascii() and response.status == 400 and response.error()["code"] == "invalid_request":
                pass  # the HTTP parser refuses raw non-ASCII bytes in the request line
            elif response.status != 404 or response.error()["code"] != "unknown_url":
                failures.append(f"{template.method} {target}: answered {response.status} {response.body[:120]!r}")
    assert not failures, "\n".join(failures)

    # The control: each Azure form reaches the upstream as exactly the template's own path, no api-version.
    token = sample_owner_key(served)
    for template in TEMPLATES:
        if not template.upstream:
            continue
        body, content_type = body_of(template)
        for form in azure_forms(template):
            upstream.clear()
            target = form.encode() + b"?api-version=2024-10-21"
            response = send_raw(served, template.method, target, token, body, content_type)
            assert response.status in (200, 404), (form, response.body[:200])
            assert [(r.method, r.path, r.query) for r in upstream.requests] == [(template.method, template.path(), b"")]

    # A key without files: traversal towards /v1/files from an Azure path never reaches the upstream.
    upstream.clear()
    token = served.key(served.member(), scopes={"files": "none"})
    for target in (
        b"/openai/deployments/gpt-4o/chat/completions/../../../../v1/files",
        b"/openai/deployments/..%2F..%2Fv1%2Ffiles%3F/chat/completions",
        b"/openai/deployments/gpt-4o%2F..%2F..%2Ffiles/chat/completions",
        b"/openai/v1/files%2F..%2F..%2Fmodels",
        b"/openai/v1/chat/completions/..%2F..%2Ffiles",
    ):
        response = send_raw(served, "POST", target, token, json.dumps(TEMPLATES[0].body).encode())
        assert response.status == 404, target
        assert response.error()["code"] == "unknown_url"
    assert upstream.requests == [], "nothing may reach the upstream"
