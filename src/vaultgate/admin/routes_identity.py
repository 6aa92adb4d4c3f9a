"""``/admin/identity/mappings``: which vaultgate team and role an identity-provider group gives (docs/IDENTITY.md).

Owners and admins change the mappings; auditors may read them (``services.identity`` decides). A group
name may hold ``/`` (Keycloak's full group paths): the path parameter takes the rest of the path.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Response

from vaultgate.admin.auth import CurrentActor, CurrentControlPlane
from vaultgate.admin.schemas_identity import MappingIn, MappingOut
from vaultgate.services import identity

router = APIRouter(prefix="/admin/identity", tags=["identity"])


@router.get("/mappings", response_model=list[MappingOut])
def list_mappings(actor: CurrentActor, cp: CurrentControlPlane) -> list[dict[str, Any]]:
    """Every group mapping, by group name."""
    return [asdict(m) for m in identity.list_mappings(cp, actor)]


@router.put("/mappings/{group:path}", response_model=MappingOut)
def set_mapping(group: str, body: MappingIn, actor: CurrentActor, cp: CurrentControlPlane) -> dict[str, Any]:
    """Map a group to a team (optional) and a role (admin, auditor or member); replaces its mapping."""
    return asdict(identity.set_mapping(cp, actor, group, body.team, body.role))


@router.delete("/mappings/{group:path}", status_code=204)
def remove_mapping(group: str, actor: CurrentActor, cp: CurrentControlPlane) -> Response:
    """Remove a group's mapping (members keep their team and role)."""
    identity.remove_mapping(cp, actor, group)
    return Response(status_code=204)
