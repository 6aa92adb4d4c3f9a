"""Member keys against the guide: rotated within the max age, narrowed to what they are for, expiring.

Only live keys count (not revoked, not expired; canaries are decoys and never used). A key's age
runs from its creation or its last rotation, as the rotation sweep counts it.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import select

from vaultgate.policy.grants import KeyPolicy, PolicyError
from vaultgate.services.keys import ceiling_of
from vaultgate.services.posture.finding import Fact, Finding, Severity, command
from vaultgate.services.posture.inspection import Check, Inspection
from vaultgate.store.models import Member, MemberKey, Team


def _live_keys(inspection: Inspection) -> Iterator[tuple[MemberKey, Member, Team | None, KeyPolicy | None]]:
    """Each live, non-canary key with its member, team and ceiling (None: no ceiling, or unreadable)."""
    now = inspection.now
    with inspection.plane.store.session() as session:
        rows = session.execute(
            select(MemberKey, Member, Team)
            .join(Member, MemberKey.member_id == Member.id)
            .outerjoin(Team, Member.team_id == Team.id)
            .where(MemberKey.revoked_at.is_(None), MemberKey.canary.is_(False))
            .order_by(MemberKey.created_at, MemberKey.id)
        ).all()
        ceilings: dict[str | None, KeyPolicy | None] = {}
        for key, member, team in rows:
            if key.expires_at is not None and key.expires_at <= now:
                continue
            team_id = team.id if team is not None else None
            if team_id not in ceilings:
                try:
                    ceilings[team_id] = ceiling_of(session, team)
                except PolicyError:
                    ceilings[team_id] = None  # unreadable: the key is refused anyway
            yield key, member, team, ceilings[team_id]


def max_age(inspection: Inspection) -> Iterator[Finding | Fact]:
    """Keys older than their team's max age (high: the team's own rule) or the global posture age (medium)."""
    default = inspection.settings.posture_max_key_age_days
    for key, member, team, _ in _live_keys(inspection):
        since = key.rotated_at or key.created_at
        age = max(0, (inspection.now - since).days)
        team_max = team.max_key_age_days if team is not None and team.max_key_age_days else None
        limit = team_max or default
        if age < limit:
            continue
        evidence = {
            "key_id": key.id,
            "member_id": member.id,
            "team_id": team.id if team is not None else None,
            "age_days": age,
            "max_age_days": limit,
            "max_age_from": "team" if team_max else "posture_max_key_age_days",
            "since": since.isoformat(),
        }
        yield Finding(
            "key.max_age",
            Severity.HIGH if team_max else Severity.MEDIUM,
            f"key not rotated for {age} days (max {limit})",
            key.id,
            evidence,
            command("key", "rotate", key.id),
        )


def _narrowed(own: KeyPolicy, ceiling: KeyPolicy | None) -> list[str]:
    """What ``own`` restricts beyond its ceiling: a model allowlist, a narrower scope, an IP allowlist."""
    found = []
    if own.models:
        found.append("models")
    baseline = ceiling if ceiling is not None else KeyPolicy()  # no ceiling: write on every group
    if any(level < baseline.level(group) for group, level in own.scopes.items()):
        found.append("scopes")
    if own.ip_allow:
        found.append("ip_allow")
    return found


def narrowing(inspection: Inspection) -> Iterator[Finding | Fact]:
    """Keys that narrow nothing (medium) and keys that never expire (low)."""
    for key, member, _team, ceiling in _live_keys(inspection):
        try:
            own = KeyPolicy.from_json(key.policy or {})
        except PolicyError:
            continue  # refused at the gateway: nothing it could be used for
        if not _narrowed(own, ceiling):
            yield Finding(
                "key.unrestricted",
                Severity.MEDIUM,
                "key narrows nothing: every model, every endpoint its team allows, from any address",
                key.id,
                {"key_id": key.id, "member_id": member.id, "models": [], "narrower_scopes": [], "ip_allow": []},
                command(
                    "key", "create", "--member", member.id, "--models", "MODELS", "--ip", "CIDR", "--expires", "90d"
                )
                + " && "
                + command("key", "revoke", key.id),
            )
        if key.expires_at is None:
            yield Finding(
                "key.no_expiry",
                Severity.LOW,
                "key never expires",
                key.id,
                {"key_id": key.id, "member_id": member.id, "created_at": key.created_at.isoformat()},
                command("key", "create", "--member", member.id, "--expires", "90d")
                + " && "
                + command("key", "revoke", key.id),
            )


CHECKS = (Check("key.max_age", max_age), Check("key.narrowing", narrowing))
