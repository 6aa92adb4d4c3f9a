"""``/admin/members``, ``/admin/teams``, ``/admin/lockdown``, ``/admin/org/policy``, ``/admin/tokens``,
``/admin/audit``."""

from __future__ import annotations

import itertools
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from vaultgate.admin.auth import CurrentActor, CurrentControlPlane
from vaultgate.admin.schemas import (
    AdminTokenCreate,
    AdminTokenCreated,
    AdminTokenOut,
    LimitsIn,
    LimitsOut,
    Lockdown,
    Me,
    MemberCreate,
    MemberOut,
    OrgPolicy,
    OrgPolicyOut,
    TeamCreate,
    TeamOut,
    TeamPolicy,
)
from vaultgate.admin.schemas_audit import AuditRecordOut, AuditVerifyOut
from vaultgate.admin.schemas_members import LockdownOut, MemberRemoved, MemberUpdate, TeamRename
from vaultgate.services import admin_tokens, audit_trail, members, org, teams

router = APIRouter(prefix="/admin")


@router.get("/me", response_model=Me, tags=["identity"])
def me(actor: CurrentActor) -> dict[str, Any]:
    """Who the admin token belongs to, and the role it acts with."""
    return {"name": actor.name, "role": actor.role.value, "member_id": actor.member_id}


@router.post("/members", response_model=MemberOut, status_code=201, tags=["members"])
def create_member(body: MemberCreate, actor: CurrentActor, cp: CurrentControlPlane) -> dict[str, Any]:
    """Add a member (a person or a service)."""
    created = members.add(
        cp, actor, body.name, email=body.email, team=body.team, role=body.role, create_team=body.create_team
    )
    return asdict(created)


@router.get("/members", response_model=list[MemberOut], tags=["members"])
def list_members(actor: CurrentActor, cp: CurrentControlPlane) -> list[dict[str, Any]]:
    """Members visible to the caller."""
    return [asdict(m) for m in members.list_members(cp, actor)]


@router.patch("/members/{name}", response_model=MemberOut, tags=["members"])
def update_member(name: str, body: MemberUpdate, actor: CurrentActor, cp: CurrentControlPlane) -> dict[str, Any]:
    """Change a member's team, role, email or display name (only the fields given; "" clears email or name)."""
    changed = members.update(
        cp, actor, name, team=body.team, role=body.role, email=body.email, display_name=body.display_name
    )
    return asdict(changed)


@router.delete("/members/{name}", response_model=MemberRemoved, tags=["members"])
def remove_member(name: str, actor: CurrentActor, cp: CurrentControlPlane) -> dict[str, Any]:
    """Remove a member: keys and admin tokens revoked, short-lived tokens deleted; the record stays (removed)."""
    return asdict(members.remove(cp, actor, name))


@router.post("/members/{name}/suspend", response_model=MemberOut, tags=["kill switch"])
def suspend_member(name: str, actor: CurrentActor, cp: CurrentControlPlane) -> dict[str, Any]:
    """Refuse every key of the member (403) on every replica within a second."""
    return asdict(members.suspend(cp, actor, name))


@router.post("/members/{name}/resume", response_model=MemberOut, tags=["kill switch"])
def resume_member(name: str, actor: CurrentActor, cp: CurrentControlPlane) -> dict[str, Any]:
    """Lift a member's suspension."""
    return asdict(members.resume(cp, actor, name))


@router.put("/members/{name}/limits", response_model=LimitsOut, tags=["limits"])
def set_member_limits(name: str, body: LimitsIn, actor: CurrentActor, cp: CurrentControlPlane) -> dict[str, Any]:
    """Rate limits and budget shared by all of a member's keys."""
    return {"name": name, "limits": members.set_limits(cp, actor, name, body.model_dump(exclude_none=True))}


@router.put("/teams/{name}/limits", response_model=LimitsOut, tags=["limits"])
def set_team_limits(name: str, body: LimitsIn, actor: CurrentActor, cp: CurrentControlPlane) -> dict[str, Any]:
    """Rate limits and budget shared by every key of the team."""
    return {"name": name, "limits": teams.set_limits(cp, actor, name, body.model_dump(exclude_none=True))}


@router.post("/teams", response_model=TeamOut, status_code=201, tags=["teams"])
def create_team(body: TeamCreate, actor: CurrentActor, cp: CurrentControlPlane) -> dict[str, Any]:
    """Create a team."""
    return asdict(teams.create(cp, actor, body.name))


@router.get("/teams", response_model=list[TeamOut], tags=["teams"])
def list_teams(actor: CurrentActor, cp: CurrentControlPlane) -> list[dict[str, Any]]:
    """Teams visible to the caller."""
    return [asdict(t) for t in teams.list_teams(cp, actor)]


@router.patch("/teams/{name}", response_model=TeamOut, tags=["teams"])
def rename_team(name: str, body: TeamRename, actor: CurrentActor, cp: CurrentControlPlane) -> dict[str, Any]:
    """Rename a team (its members, keys, ceiling and usage stay)."""
    return asdict(teams.rename(cp, actor, name, body.name))


@router.delete("/teams/{name}", response_model=TeamOut, tags=["teams"])
def delete_team(name: str, actor: CurrentActor, cp: CurrentControlPlane) -> dict[str, Any]:
    """Delete a team; refused (409) while it has members."""
    return asdict(teams.delete(cp, actor, name))


@router.put("/teams/{name}/policy", response_model=TeamOut, tags=["teams"])
def set_team_policy(name: str, body: TeamPolicy, actor: CurrentActor, cp: CurrentControlPlane) -> dict[str, Any]:
    """Set the team's ceiling (keys can only narrow it) and its key-age rules."""
    fields = {
        "models": body.models,
        "scopes": body.scopes,
        "ip_allow": body.ip_allow,
        "allow_store": body.allow_store,
        "zero_retention": body.zero_retention,
        "privacy": body.privacy,
        "residency": body.residency,
    }
    policy = {k: v for k, v in fields.items() if v is not None} if any(v is not None for v in fields.values()) else None
    info = teams.set_policy(
        cp,
        actor,
        name,
        policy=policy,
        max_key_age_days=body.max_key_age_days,
        expire_overdue_keys=body.expire_overdue_keys,
    )
    return asdict(info)


@router.post("/teams/{name}/suspend", response_model=TeamOut, tags=["kill switch"])
def suspend_team(name: str, actor: CurrentActor, cp: CurrentControlPlane) -> dict[str, Any]:
    """Refuse every key of every member of the team (403) within a second."""
    return asdict(teams.suspend(cp, actor, name))


@router.post("/teams/{name}/resume", response_model=TeamOut, tags=["kill switch"])
def resume_team(name: str, actor: CurrentActor, cp: CurrentControlPlane) -> dict[str, Any]:
    """Lift a team's suspension."""
    return asdict(teams.resume(cp, actor, name))


@router.put("/lockdown", response_model=LockdownOut, tags=["kill switch"])
def set_lockdown(body: Lockdown, actor: CurrentActor, cp: CurrentControlPlane) -> dict[str, Any]:
    """Stop (or restart) all API access for the whole organisation, on every replica within a second.

    Idempotent: asking for the current state answers 200 with ``changed: false``."""
    return _lockdown(org.set_lockdown(cp, actor, body.on))


@router.get("/lockdown", response_model=LockdownOut, tags=["kill switch"])
def get_lockdown(actor: CurrentActor, cp: CurrentControlPlane) -> dict[str, Any]:
    """Whether lockdown is on, and who last turned it on or off, when (owners, admins, auditors)."""
    return _lockdown(org.lockdown_status(cp, actor))


def _lockdown(status: org.LockdownStatus) -> dict[str, Any]:
    return {**asdict(status), "lockdown": status.on}


@router.get("/org/policy", response_model=OrgPolicyOut, tags=["org"])
def get_org_policy(actor: CurrentActor, cp: CurrentControlPlane) -> dict[str, Any]:
    """The organisation's ceiling (null: none)."""
    return {"policy": org.org_policy_json(cp, actor)}


@router.put("/org/policy", response_model=OrgPolicyOut, tags=["org"])
def set_org_policy(body: OrgPolicy, actor: CurrentActor, cp: CurrentControlPlane) -> dict[str, Any]:
    """Set the ceiling every team and key is held under (owners and organisation admins)."""
    return {"policy": org.set_org_policy(cp, actor, body.model_dump(exclude_none=True))}


@router.delete("/org/policy", response_model=OrgPolicyOut, tags=["org"])
def clear_org_policy(actor: CurrentActor, cp: CurrentControlPlane) -> dict[str, Any]:
    """Remove the organisation's ceiling (owners and organisation admins)."""
    return {"policy": org.set_org_policy(cp, actor, None)}


@router.post("/tokens", response_model=AdminTokenCreated, status_code=201, tags=["admin tokens"])
def create_admin_token(body: AdminTokenCreate, actor: CurrentActor, cp: CurrentControlPlane) -> dict[str, Any]:
    """Issue an admin token (for oneself; owners for anyone), with at most the member's role."""
    info, token = admin_tokens.create(cp, actor, body.member, role=body.role, expires_in=body.expires_in)
    return {**asdict(info), "token": token}


@router.get("/tokens", response_model=list[AdminTokenOut], tags=["admin tokens"])
def list_admin_tokens(actor: CurrentActor, cp: CurrentControlPlane) -> list[dict[str, Any]]:
    """Admin tokens (all for owners and auditors, one's own otherwise)."""
    return [asdict(t) for t in admin_tokens.list_tokens(cp, actor)]


@router.post("/tokens/{token_id}/revoke", response_model=AdminTokenOut, tags=["admin tokens"])
def revoke_admin_token(token_id: str, actor: CurrentActor, cp: CurrentControlPlane) -> dict[str, Any]:
    """Revoke an admin token."""
    return asdict(admin_tokens.revoke(cp, actor, token_id))


@router.get("/audit", response_model=list[AuditRecordOut], tags=["audit"])
def audit_export(
    actor: CurrentActor,
    cp: CurrentControlPlane,
    since: Annotated[datetime | None, Query(description="From this time (ISO 8601; UTC if no zone)")] = None,
    until: Annotated[datetime | None, Query(description="Before this time (exclusive)")] = None,
    audit_actor: Annotated[str | None, Query(alias="actor", description="Only this actor's records")] = None,
    action: Annotated[list[str] | None, Query(description="Only these actions (repeat the parameter)")] = None,
    target: Annotated[str | None, Query(description="Only records about this target")] = None,
    after: Annotated[int, Query(ge=0, description="Only records after this seq (paging)")] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000, description="At most this many records")] = 1000,
) -> list[dict[str, Any]]:
    """Audit records in chain order, filtered like `vaultgate audit export` (owners, org admins, auditors)."""
    where = audit_trail.record_filter(
        since=_utc(since), until=_utc(until), actor=audit_actor, actions=action or (), target=target, after=after
    )
    return list(itertools.islice(audit_trail.export(cp, actor, where), limit))


def _utc(value: datetime | None) -> datetime | None:
    return value if value is None or value.tzinfo is not None else value.replace(tzinfo=UTC)


@router.get("/audit/verify", response_model=AuditVerifyOut, tags=["audit"])
def audit_verify(actor: CurrentActor, cp: CurrentControlPlane) -> dict[str, Any]:
    """Verify the audit chain and its signed checkpoints (owners, org admins, auditors); names the first break."""
    found = audit_trail.check(cp, actor)
    broken = None if found.broken is None else {"seq": found.broken.seq, "reason": found.broken.reason}
    return {
        "records": found.records,
        "checkpoints": found.checkpoints,
        "last_seq": found.last_seq,
        "ok": found.ok,
        "break": broken,
    }
