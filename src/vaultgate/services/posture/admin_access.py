"""Admin tokens (``vga_``): who still holds control-plane access, for how long, and since when.

A token of a member who once held keys and has none live is medium: the typical leaver whose keys
were revoked while their admin access stayed. A member who never held a key (the owner ``init``
creates, an administrator-only account) is info: worth a look in an access review, nothing more.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from sqlalchemy import func, select

from vaultgate.services.posture.finding import Fact, Finding, Severity, command
from vaultgate.services.posture.inspection import Check, Inspection
from vaultgate.store.models import AdminToken, Member, MemberKey

# Older than this, an admin token is flagged (the lifetime `init` and `admin-token create` give by default).
MAX_TOKEN_AGE = timedelta(days=90)


def tokens(inspection: Inspection) -> Iterator[Finding | Fact]:
    """Live admin tokens that never expire (high), are older than 90 days (medium), or whose holder has no key."""
    now = inspection.now
    with inspection.plane.store.session() as session:
        rows = session.execute(
            select(AdminToken, Member)
            .join(Member, AdminToken.member_id == Member.id)
            .where(AdminToken.revoked_at.is_(None))
            .order_by(AdminToken.created_at, AdminToken.id)
        ).all()
        live_keys = dict(
            session.execute(
                select(MemberKey.member_id, func.count())
                .where(MemberKey.revoked_at.is_(None), MemberKey.canary.is_(False))
                .where((MemberKey.expires_at.is_(None)) | (MemberKey.expires_at > now))
                .group_by(MemberKey.member_id)
            ).all()
        )
        ever_keys = dict(
            session.execute(
                select(MemberKey.member_id, func.count())
                .where(MemberKey.canary.is_(False))
                .group_by(MemberKey.member_id)
            ).all()
        )
    for token, member in rows:
        if token.expires_at is not None and token.expires_at <= now:
            continue
        revoke = command("admin-token", "revoke", token.id)
        base = {"token_id": token.id, "member_id": member.id, "member_status": member.status}
        if token.expires_at is None:
            yield Finding(
                "admin_token.no_expiry",
                Severity.HIGH,
                "admin token never expires",
                token.id,
                {**base, "created_at": token.created_at.isoformat()},
                f"{revoke} && {command('admin-token', 'create', '--member', member.id, '--expires', '90d')}",
            )
        age = now - token.created_at
        if age > MAX_TOKEN_AGE:
            yield Finding(
                "admin_token.old",
                Severity.MEDIUM,
                f"admin token issued {age.days} days ago (more than {MAX_TOKEN_AGE.days})",
                token.id,
                {**base, "age_days": age.days, "created_at": token.created_at.isoformat()},
                f"{command('admin-token', 'create', '--member', member.id, '--expires', '90d')} && {revoke}",
            )
        if not live_keys.get(member.id):
            had = int(ever_keys.get(member.id, 0))
            yield Finding(
                "admin_token.holder_without_keys",
                Severity.MEDIUM if had else Severity.INFO,
                "admin token of a member whose keys were all revoked or expired"
                if had
                else "admin token of a member who never held a key (an administration-only account)",
                token.id,
                {**base, "live_keys": 0, "keys_ever": had},
                revoke,
            )


CHECKS = (Check("admin_token", tokens),)
