"""``/admin/keys``: member keys (create, list, rotate, revoke, leak reports)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter

from vaultgate.admin.auth import CurrentActor, CurrentControlPlane
from vaultgate.admin.schemas import KeyCreate, KeyCreated, KeyOut, KeyRotate, LeakReport, LeakResult
from vaultgate.services import keys, leaks

router = APIRouter(prefix="/admin/keys", tags=["keys"])


@router.post("", response_model=KeyCreated, status_code=201)
def create_key(body: KeyCreate, actor: CurrentActor, cp: CurrentControlPlane) -> dict[str, Any]:
    """Mint a member key. The response holds the secret once; it is never retrievable again."""
    policy = {"models": body.models, "scopes": body.scopes, "ip_allow": body.ip_allow, "allow_store": body.allow_store}
    if body.privacy is not None:
        policy["privacy"] = body.privacy
    if body.residency is not None:
        policy["residency"] = body.residency
    if body.zero_retention:
        policy["zero_retention"] = True
    created = keys.create(
        cp,
        actor,
        body.member,
        policy=policy,
        expires_in=body.expires_in,
        not_before=body.not_before,
        name=body.name,
        canary=body.canary,
        limits=body.model_dump(include={"rpm", "tpm", "concurrency", "budget_usd", "budget_period"}, exclude_none=True),
    )
    return {**asdict(created.info), "key": created.token}


@router.get("", response_model=list[KeyOut])
def list_keys(actor: CurrentActor, cp: CurrentControlPlane, member: str | None = None) -> list[dict[str, Any]]:
    """Keys visible to the caller (members see only their own; team admins their team's)."""
    return [asdict(k) for k in keys.list_keys(cp, actor, member)]


@router.post("/leaked", response_model=LeakResult)
def report_leak(body: LeakReport, actor: CurrentActor, cp: CurrentControlPlane) -> dict[str, Any]:
    """Revoke every key whose SHA-256 fingerprint was found leaked (used by 'vaultgate scan --revoke')."""
    revoked, unknown = leaks.revoke_leaked(cp, actor, body.fingerprints, body.source)
    return {"revoked": [{"id": k.id, "display": k.display} for k in revoked], "unknown": unknown}


@router.post("/{key_id}/revoke", response_model=KeyOut)
def revoke_key(key_id: str, actor: CurrentActor, cp: CurrentControlPlane) -> dict[str, Any]:
    """Revoke a key; every replica refuses it within a second."""
    return asdict(keys.revoke(cp, actor, key_id))


@router.post("/{key_id}/rotate", response_model=KeyCreated)
def rotate_key(key_id: str, body: KeyRotate, actor: CurrentActor, cp: CurrentControlPlane) -> dict[str, Any]:
    """New secret, same key id; the old secret works for the grace period, then stops everywhere."""
    created = keys.rotate(cp, actor, key_id, grace=body.grace)
    return {**asdict(created.info), "key": created.token}
