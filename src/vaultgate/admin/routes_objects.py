"""``/admin/objects``: assign stored upstream objects (files, batches...) to members."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from vaultgate.admin.auth import CurrentActor, CurrentControlPlane
from vaultgate.admin.schemas import ObjectClaim, ObjectOut
from vaultgate.services import objects

router = APIRouter(prefix="/admin")


@router.post("/objects", response_model=ObjectOut, status_code=201, tags=["objects"])
def claim_object(body: ObjectClaim, actor: CurrentActor, cp: CurrentControlPlane) -> dict[str, Any]:
    """Assign an object vaultgate never saw created to a member (organisation managers only; audited).
    Until then the gateway answers 404 to every request naming it; an owned object is never reassigned (409)."""
    owner = objects.claim(cp, actor, body.id, body.kind, body.member, body.provider)
    return {
        "id": owner.id,
        "kind": owner.kind,
        "member_id": owner.member_id,
        "team_id": owner.team_id,
        "provider": owner.provider,
    }
