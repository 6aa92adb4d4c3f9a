"""``GET /admin/identity/sync``: the reconciliation dry run (``vaultgate identity sync --dry-run``) as JSON."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from vaultgate.admin.auth import CurrentActor, CurrentControlPlane
from vaultgate.services import identity_sync

router = APIRouter(prefix="/admin")


class DifferenceOut(BaseModel):
    """One way a SCIM-managed member differs from the identity provider's view."""

    member_id: str
    member: str
    kind: str
    provider: str
    vaultgate: str
    action: str
    note: str


class UnmanagedOut(BaseModel):
    """A member SCIM does not manage (reconciliation never touches them)."""

    member_id: str
    member: str
    team: str | None
    role: str
    status: str
    reason: str


class SyncReportOut(BaseModel):
    """The dry-run report: ``in_sync`` is false when applying would change something."""

    in_sync: bool
    scim_in_use: bool
    managed: int
    differences: list[DifferenceOut]
    unmanaged: list[UnmanagedOut]


@router.get("/identity/sync", response_model=SyncReportOut, tags=["identity"])
def identity_sync_report(actor: CurrentActor, cp: CurrentControlPlane) -> dict[str, Any]:
    """The differences between the identity provider's last SCIM state and vaultgate's, and the members SCIM
    does not manage (owners, organisation admins, auditors). Changes nothing; apply with `vaultgate identity sync`."""
    return identity_sync.report(cp, actor).to_json()
