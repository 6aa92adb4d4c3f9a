"""services/access: the query scopes select exactly the rows the yes/no answers allow, for every role."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from vaultgate.config import Settings
from vaultgate.services import access, admin_tokens, bootstrap, keys, members, teams
from vaultgate.services.context import LOCAL_OPERATOR, Actor, ControlPlane, Role
from vaultgate.store.models import AdminToken, Member, MemberKey, Team


@pytest.fixture
def cp(tmp_path: Path) -> Iterator[ControlPlane]:
    settings = Settings(data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path / 'vg.db'}")
    bootstrap.init(settings)
    plane = bootstrap.open_control_plane(settings)
    for team in ("red", "blue"):
        teams.create(plane, LOCAL_OPERATOR, team)
    for name, team, role in [
        ("alice", "red", "member"),
        ("rita", "red", "admin"),
        ("bob", "blue", "member"),
        ("bianca", "blue", "admin"),
        ("otto", None, "admin"),
        ("audrey", None, "auditor"),
        ("ozzy", "red", "owner"),
    ]:
        members.add(plane, LOCAL_OPERATOR, name, team=team, role=role)
        keys.create(plane, LOCAL_OPERATOR, name)
        admin_tokens.create(plane, LOCAL_OPERATOR, name)
    yield plane
    plane.store.dispose()


def actors(cp: ControlPlane) -> list[Actor]:
    with cp.store.session() as session:
        rows = session.scalars(select(Member)).all()
        return [Actor(m.name, Role(m.role), m.id, m.team_id) for m in rows] + [LOCAL_OPERATOR]


def test_member_and_key_scopes_agree_with_can_view(cp: ControlPlane) -> None:
    every_actor = actors(cp)
    with cp.store.session() as session:
        everyone = session.scalars(select(Member)).all()
        for actor in every_actor:
            allowed = {m.id for m in everyone if access.can_view(actor, m)}
            scoped = set(session.scalars(select(Member.id).where(access.member_scope(actor))).all())
            assert scoped == allowed, actor
            key_members = set(session.scalars(select(MemberKey.member_id).where(access.key_scope(actor))).all())
            assert key_members == allowed & set(session.scalars(select(MemberKey.member_id)).all()), actor


def test_team_and_admin_token_scopes(cp: ControlPlane) -> None:
    every_actor = actors(cp)
    with cp.store.session() as session:
        for actor in every_actor:
            seen_teams = set(session.scalars(select(Team.id).where(access.team_scope(actor))).all())
            if actor.role in (Role.OWNER, Role.AUDITOR) or access.is_org_manager(actor):
                assert len(seen_teams) == 2
            else:
                assert seen_teams == {actor.team_id}, actor
            owners = set(session.scalars(select(AdminToken.member_id).where(access.admin_token_scope(actor))).all())
            if actor.role in (Role.OWNER, Role.AUDITOR):
                assert len(owners) > 1
            else:
                assert owners == {actor.member_id}, actor
