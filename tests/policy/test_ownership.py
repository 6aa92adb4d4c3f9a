"""Who may name a stored object (policy/ownership.py), and which team a role sees (services/access.py)."""

from __future__ import annotations

import pytest

from vaultgate.policy.grants import KeyGrant, KeyPolicy
from vaultgate.policy.ownership import ObjectOwner, may_see
from vaultgate.services.access import object_viewer_team


def grant(member_id: str, team_id: str | None, role: str = "member") -> KeyGrant:
    return KeyGrant(
        key_id="key-" + member_id,
        member_id=member_id,
        member_name=member_id,
        team_id=team_id,
        policy=KeyPolicy(),
        expires_at=None,
        sees_objects_of_team=object_viewer_team(role, team_id),
    )


ALICES = ObjectOwner("file-1", "file", member_id="alice", team_id="red")


@pytest.mark.parametrize(
    ("who", "sees"),
    [
        (grant("alice", "red"), True),  # the owner
        (grant("rita", "red", "admin"), True),  # her team's admin
        (grant("bob", "red"), False),  # a plain member of her team
        (grant("bea", "blue", "admin"), False),  # another team's admin
        (grant("olga", None, "owner"), False),  # the organisation's owner: not through the data plane
        (grant("oscar", None, "admin"), False),  # an organisation admin
        (grant("ada", "red", "auditor"), False),
    ],
)
def test_the_owner_and_their_team_admins_see_an_object(who: KeyGrant, sees: bool) -> None:
    assert may_see(who, ALICES) is sees


def test_an_object_of_a_member_without_team_is_theirs_alone() -> None:
    solo = ObjectOwner("file-2", "file", member_id="sam", team_id=None)
    assert may_see(grant("sam", None), solo)
    assert not may_see(grant("rita", "red", "admin"), solo)
