"""Azure-shaped request paths, mapped onto the plain ``/v1/...`` templates before they are matched.

Clients built for Azure OpenAI reach vaultgate with Azure's paths:

- ``AzureOpenAI(azure_endpoint=<vaultgate>)``: ``/openai/deployments/{deployment}/chat/completions``
  (also completions, embeddings, audio and images: the SDK's deployment-scoped endpoints) and
  ``/openai/{path}`` for the rest (``/openai/models``, ``/openai/files``...);
- ``OpenAI(base_url=<vaultgate>/openai/v1)``: Azure's v1 surface, ``/openai/v1/{path}``.

Each becomes ``/v1/...``, segment by segment on the raw path (``scope["raw_path"]``), and then
goes through :func:`vaultgate.gateway.endpoints.match` like any request: the prefix segments
must be exactly ``openai``, ``deployments`` or ``v1`` as written (an encoded ``%2F`` or ``%2e``
is not a separator and not a prefix), the deployment must be a plain identifier (the rule of
``templates.IDENTIFIER``), and what follows a deployment must be one of the deployment-scoped
endpoints exactly. Everything else under ``/openai/`` is 404 ``unknown_url``.

The deployment in the path is the model the client asks for (vaultgate's routing maps it to the
provider's deployment); a body ``model`` that names another one is refused. ``api-version`` is
accepted and, like every query parameter no template forwards, never reaches the upstream.
"""

from __future__ import annotations

from urllib.parse import unquote, unquote_to_bytes

from vaultgate.gateway import endpoints, templates
from vaultgate.gateway.errors import GatewayError
from vaultgate.gateway.exchange import Exchange

PREFIX = "/openai/"
# What follows ``/openai/deployments/{deployment}``: the SDK's deployment-scoped endpoints.
DEPLOYMENT_ROUTES: frozenset[tuple[str, ...]] = frozenset(
    {
        ("chat", "completions"),
        ("completions",),
        ("embeddings",),
        ("audio", "transcriptions"),
        ("audio", "translations"),
        ("audio", "speech"),
        ("images", "generations"),
        ("images", "edits"),
    }
)


def _deployment(segment: str) -> str | None:
    """The deployment a raw segment names (percent-decoded once), if it is a plain identifier."""
    try:
        decoded = unquote_to_bytes(segment).decode("ascii") if "%" in segment else segment
    except UnicodeDecodeError:
        return None
    if templates.IDENTIFIER.fullmatch(decoded) is None or ".." in decoded:
        return None
    return decoded


def _plain_segments(segments: list[str]) -> tuple[list[str], str | None] | None:
    """The segments after ``/v1`` and the deployment (None: no deployment) for an Azure path's raw segments."""
    if len(segments) < 2 or segments[0] != "openai":
        return None
    if segments[1] == "v1":
        return segments[2:], None
    if segments[1] == "deployments":
        if len(segments) < 4 or tuple(segments[3:]) not in DEPLOYMENT_ROUTES:
            return None
        deployment = _deployment(segments[2])
        return (segments[3:], deployment) if deployment is not None else None
    return segments[1:], None


def translate(ex: Exchange) -> None:
    """Rewrite an Azure-shaped ``ex.path`` and ``ex.raw_path`` to ``/v1/...``; 404 when it does not map.

    Paths that do not start with ``/openai/`` are left as they are.
    """
    raw = ex.raw_path
    if not ex.path.startswith(PREFIX) and not (raw is not None and raw.startswith(PREFIX.encode())):
        return
    if raw is None:  # no raw path (in-process servers): the decoded path is all there is
        mapped = _plain_segments(ex.path.split("/")[1:])
        if mapped is None:
            raise endpoints.unknown_url(ex.method, ex.path)
        ex.path = "/v1/" + "/".join(mapped[0])
        ex.azure_deployment = mapped[1]
        return
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise endpoints.unknown_url(ex.method, ex.path) from None
    mapped = _plain_segments(text.split("/")[1:]) if text.startswith("/") else None
    if mapped is None:
        raise endpoints.unknown_url(ex.method, ex.path)
    rest, deployment = mapped
    new_raw = "/v1/" + "/".join(rest)
    # As the server decodes a raw path: the template match then sees the same path as any /v1 request.
    ex.raw_path = new_raw.encode("ascii")
    ex.path = unquote(new_raw)
    ex.azure_deployment = deployment


def bind_deployment(ex: Exchange) -> None:
    """The deployment in an Azure path is the model: put into a body without one; 400 when the body disagrees."""
    deployment = ex.azure_deployment
    if deployment is None:
        return
    payload = ex.payload
    if payload is not None:
        model = payload.get("model")
        if model is None:
            payload["model"] = deployment
            ex.body_changed = True
        elif model != deployment:
            raise GatewayError(
                400,
                "invalid_request",
                f"The body's 'model' differs from the deployment '{deployment}' in the URL; "
                "send the same name in both, or leave 'model' out.",
                param="model",
            )
    ex.model = deployment
