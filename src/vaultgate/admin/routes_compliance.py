"""``/admin/members/{name}/export`` and ``/admin/members/{name}/erase``: data subject rights.

Owners and organisation admins only (an organisation admin erases plain members; nobody erases
themselves); team admins, auditors and members get 403 (docs/COMPLIANCE.md, "Who may export and erase").
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from vaultgate.admin.auth import CurrentActor, CurrentControlPlane
from vaultgate.services import subject_rights

router = APIRouter(prefix="/admin")


class ErasureOut(BaseModel):
    """What an erasure did (the member's old name is not repeated)."""

    member_id: str
    pseudonym: str
    keys_revoked: int
    admin_tokens_revoked: int
    short_lived_tokens_deleted: int


@router.get("/members/{name}/export", response_model=dict[str, Any], tags=["data subject rights"])
def export_member(name: str, actor: CurrentActor, cp: CurrentControlPlane) -> dict[str, Any]:
    """Everything stored about a member: the member, team, keys, admin tokens, objects, usage totals, audit."""
    return subject_rights.export(cp, actor, name)


@router.post("/members/{name}/erase", response_model=ErasureOut, tags=["data subject rights"])
def erase_member(name: str, actor: CurrentActor, cp: CurrentControlPlane) -> dict[str, Any]:
    """Revoke the member's keys and tokens and remove their name, email and key names; usage is kept."""
    return asdict(subject_rights.erase(cp, actor, name))
