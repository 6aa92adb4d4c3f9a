"""SCIM authentication: a live ``vgs_`` token as the Bearer credential, checked on every request.

Anything else (no header, two headers, another scheme, a member key, an admin token, an unknown or
revoked SCIM token) is one 401, with ``WWW-Authenticate: Bearer`` and the same SCIM error body.
"""

from __future__ import annotations

from scim2_models import UnauthorizedException

from vaultgate.services import scim_tokens
from vaultgate.services.context import ControlPlane


def require_token(cp: ControlPlane, authorization: list[str]) -> str:
    """The SCIM token id behind the request's ``Authorization`` header(s); UnauthorizedException otherwise."""
    refused = UnauthorizedException(detail="a valid SCIM token (vgs_...) is required as the Bearer token")
    if len(authorization) != 1:
        raise refused
    scheme, _, token = authorization[0].partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise refused
    token_id = scim_tokens.authenticate(cp, token.strip())
    if token_id is None:
        raise refused
    return token_id
