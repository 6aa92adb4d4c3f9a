"""The non-secret settings of an Azure OpenAI provider: which surface, which credential, and Entra ID's ids.

Stored in ``providers.settings`` and checked here once, when the provider is added, so the
adapter can use them as given: ``surface`` (``deployments`` or ``v1``), ``auth`` (``api-key``
or ``entra``) and, for Entra ID, ``tenant_id``, ``client_id`` and an optional ``token_url``
(checked like every URL a secret is sent to).
"""

from __future__ import annotations

import re

from vaultgate.upstream.config import check_base_url

SURFACE_DEPLOYMENTS = "deployments"
SURFACE_V1 = "v1"
SURFACES = (SURFACE_DEPLOYMENTS, SURFACE_V1)
AUTH_API_KEY = "api-key"
AUTH_ENTRA = "entra"
AUTHS = (AUTH_API_KEY, AUTH_ENTRA)
# A tenant is a GUID or a domain (contoso.onmicrosoft.com); a client id is a GUID.
_TENANT = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,99}")
_CLIENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,99}")


def azure_settings(
    *,
    surface: str | None = None,
    auth: str | None = None,
    tenant_id: str | None = None,
    client_id: str | None = None,
    token_url: str | None = None,
    allow_insecure_http: bool = False,
    allow_link_local: bool = False,
) -> dict[str, str]:
    """The settings to store; ValueError (its message names the field) when one is unusable."""
    surface = surface or SURFACE_DEPLOYMENTS
    auth = auth or AUTH_API_KEY
    if surface not in SURFACES:
        raise ValueError(f"'azure_surface' must be deployments or v1, not {surface[:40]!r}")
    if auth not in AUTHS:
        raise ValueError(f"'auth' must be api-key or entra, not {auth[:40]!r}")
    settings = {"surface": surface, "auth": auth}
    if auth == AUTH_API_KEY:
        if tenant_id or client_id or token_url:
            raise ValueError("'tenant_id', 'client_id' and 'token_url' are for Entra ID ('auth' entra) only")
        return settings
    if not tenant_id or not _TENANT.fullmatch(tenant_id) or ".." in tenant_id:
        raise ValueError("Entra ID needs 'tenant_id' (a tenant GUID or domain)")
    if not client_id or not _CLIENT_ID.fullmatch(client_id):
        raise ValueError("Entra ID needs 'client_id' (the application's client id)")
    settings |= {"tenant_id": tenant_id, "client_id": client_id}
    if token_url:
        try:
            settings["token_url"] = check_base_url(
                token_url, allow_insecure_http=allow_insecure_http, allow_link_local=allow_link_local
            )
        except ValueError as exc:  # UnsafeURLError, and urllib's own refusals
            raise ValueError(f"'token_url': {exc}") from None
    return settings
