"""Leak to revoke: keys reported leaked (by SHA-256 fingerprint, never the token) are revoked."""

from __future__ import annotations

import re

from sqlalchemy import or_, select

from vaultgate.services import access
from vaultgate.services.context import Actor, ControlPlane
from vaultgate.services.errors import InvalidInput
from vaultgate.services.keys import KeyInfo, info
from vaultgate.services.refusals import refusals_audited
from vaultgate.store.models import Member, MemberKey, Team

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@refusals_audited("key.leaked")
def revoke_leaked(cp: ControlPlane, actor: Actor, fingerprints: list[str], source: str) -> tuple[list[KeyInfo], int]:
    """Revoke every live key whose current or in-grace secret was reported; (revoked, unknown count)."""
    access.require_org_manager(actor, "revoke leaked keys")
    if any(not _HEX64.match(f) for f in fingerprints):
        raise InvalidInput("fingerprints must be 64 lower-case hex characters (SHA-256 of the token)")
    now = cp.clock()
    revoked: list[KeyInfo] = []
    unknown = 0
    with cp.store.session() as session:
        for fp in dict.fromkeys(fingerprints):
            found = session.execute(
                select(MemberKey, Member)
                .join(Member, MemberKey.member_id == Member.id)
                .where(or_(MemberKey.fingerprint == fp, MemberKey.previous_fingerprint == fp))
            ).first()
            if found is None:
                unknown += 1
                continue
            row, member = found
            if row.revoked_at is None:
                row.revoked_at = now
                row.revoked_reason = "leaked"
                team = session.get(Team, member.team_id) if member.team_id else None
                revoked.append(info(row, member, team, now))
            cp.audit(session, actor, "key.leaked", row.id, member=member.id, source=source[:60])
        if revoked:
            cp.store.notify_change(session)
    for key in revoked:
        cp.notifier.send(
            {
                "event": "key.leaked",
                "key_id": key.id,
                "member": key.member,
                "display": key.display,
                "source": source[:60],
            }
        )
    return revoked, unknown
