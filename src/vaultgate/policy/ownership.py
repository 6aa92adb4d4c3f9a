"""Who may name a stored upstream object (a file, batch, response...) through the gateway.

The rule of docs/ACCESS.md, "Object ownership": an object belongs to the member whose key
created it; that member and the admins of the member's team see it, nobody else does. Which
team a key holder sees (a role question) is decided by ``services/access.py`` when the
snapshot is built and carried on the grant (``KeyGrant.sees_objects_of_team``); this module
only compares values.
"""

from __future__ import annotations

from dataclasses import dataclass

from vaultgate.policy.grants import KeyGrant


@dataclass(frozen=True, slots=True)
class ObjectOwner:
    """A stored upstream object and whose it is (ids only, never content)."""

    id: str
    kind: str
    member_id: str
    team_id: str | None
    key_id: str | None = None
    # The provider that holds the object: requests naming it go there and nowhere else.
    provider: str | None = None


def may_see(grant: KeyGrant, owner: ObjectOwner) -> bool:
    """Whether the holder of ``grant`` may name ``owner``'s object: its member, or an admin of its team."""
    if owner.member_id == grant.member_id:
        return True
    return owner.team_id is not None and owner.team_id == grant.sees_objects_of_team
