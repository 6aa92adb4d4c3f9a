"""The last SCIM state written straight into the store, as the SCIM server would leave it (for tests that
need a provider's view without running one)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from sqlalchemy import select

from vaultgate.services.context import ControlPlane
from vaultgate.store.models import IdentityGroup, IdentityGroupMember, IdentityUser, Member


def scim_user(
    cp: ControlPlane, member: str, *, active: bool = True, groups: Sequence[str] = (), managed: bool = True
) -> str:
    """Give member ``member`` a SCIM user (``active``, in ``groups``, created when missing); its resource id."""
    now = cp.clock()
    with cp.store.session() as session:
        member_id = session.scalar(select(Member.id).where(Member.name == member))
        assert member_id is not None, member
        user = IdentityUser(
            id=secrets.token_hex(8),
            member_id=member_id,
            active=active,
            scim_managed=managed,
            created_at=now,
            updated_at=now,
        )
        session.add(user)
        for name in groups:
            group = session.scalar(select(IdentityGroup).where(IdentityGroup.display_name == name))
            if group is None:
                group = IdentityGroup(id=secrets.token_hex(8), display_name=name, created_at=now, updated_at=now)
                session.add(group)
                session.flush()
            session.add(IdentityGroupMember(group_id=group.id, user_id=user.id))
        return user.id
