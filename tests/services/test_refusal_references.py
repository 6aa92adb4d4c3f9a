"""Refused actions are audited without the personal data they echo: a member's name typed into a
refused request (quoted or not in the service's message) is in the trail only as a keyed reference."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text
from tests.conftest import make_settings

from vaultgate.services import admin_tokens, bootstrap, keys, members, teams
from vaultgate.services.context import LOCAL_OPERATOR, Actor, ControlPlane, Role
from vaultgate.services.errors import ServiceError
from vaultgate.store.models import Team

NAME, EMAIL = "zebra-quinn", "zebra.quinn@example.org"


@pytest.fixture
def cp(tmp_path: Path, database_url: str) -> Iterator[ControlPlane]:
    settings = make_settings(tmp_path, database_url)
    bootstrap.init(settings)
    control = bootstrap.open_control_plane(settings)
    yield control
    control.store.dispose()


def test_a_refused_request_naming_a_member_leaves_only_a_reference(cp: ControlPlane) -> None:
    teams.create(cp, LOCAL_OPERATOR, "red")
    teams.create(cp, LOCAL_OPERATOR, "blue")
    # A peer of the team admin: in reach (so refused for the role, naming them), not manageable.
    target = members.add(cp, LOCAL_OPERATOR, NAME, email=EMAIL, team="red", role="admin")
    rita = members.add(cp, LOCAL_OPERATOR, "rita", team="red", role="admin")
    with cp.store.session() as session:
        red = session.scalar(select(Team.id).where(Team.name == "red"))
    team_admin = Actor(name="rita", role=Role.ADMIN, member_id=rita.id, team_id=red)
    refusals = [
        lambda: keys.create(cp, team_admin, NAME),
        lambda: members.set_limits(cp, team_admin, NAME, {"rpm": 5}),
        lambda: members.suspend(cp, team_admin, NAME),
        lambda: admin_tokens.create(cp, team_admin, NAME, role="owner"),
        lambda: members.add(cp, LOCAL_OPERATOR, NAME, email=EMAIL),
        lambda: members.add(cp, LOCAL_OPERATOR, "someone-else", email=f"not an address {EMAIL}"),
    ]
    for refused in refusals:
        with pytest.raises(ServiceError):
            refused()
    with cp.store.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT target, details FROM audit_events WHERE outcome = 'refused' ORDER BY seq")
        ).all()
    assert len(rows) == len(refusals)
    trail = repr(rows)
    assert NAME not in trail and EMAIL not in trail, trail
    assert cp.audit_ref(NAME) in trail  # still findable: `vaultgate audit ref zebra-quinn`
    assert target.id  # the member itself is named by id wherever a change names it


def test_the_target_is_referenced_where_it_stands_alone_only() -> None:
    # Unit check of the substitution: whole words only, so a short target does not eat other words.
    from vaultgate.services.context import ControlPlane as _CP

    class Fake:
        def audit_ref(self, value: str) -> str:
            return "ref:" + "0" * 16

    reason = _CP._without_typed_values(Fake(), "bo", "the admin role may not change bo's access; bob is fine")  # type: ignore[arg-type]
    assert reason == "the admin role may not change ref:0000000000000000's access; bob is fine"
