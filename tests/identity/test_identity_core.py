"""services.identity: group mappings, placement, deprovisioning and reprovisioning, on both databases.

SCIM, OIDC sign-in and `identity sync` all change members through these functions; the protocol
tests (test_scim_*, test_oidc_*, test_leaver) drive them end to end.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from vaultgate.services import admin_tokens, identity, keys, members, teams
from vaultgate.services.context import LOCAL_OPERATOR, Actor, ControlPlane, Role
from vaultgate.services.errors import InvalidInput, NotAuthorised, NotFound, PolicyExceedsCeiling
from vaultgate.store.models import AdminToken, AuditEvent, Member, MemberKey


def _member(cp: ControlPlane, name: str) -> Member:
    with cp.store.session() as session:
        member = session.scalar(select(Member).where(Member.name == name))
        assert member is not None
        session.expunge(member)
        return member


def _actions(cp: ControlPlane, action: str) -> list[AuditEvent]:
    with cp.store.session() as session:
        found = list(session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))
        session.expunge_all()
        return found


def test_the_highest_mapped_role_wins_and_brings_its_team(cp: ControlPlane) -> None:
    for name in ("research", "platform"):
        teams.create(cp, LOCAL_OPERATOR, name)
    identity.set_mapping(cp, LOCAL_OPERATOR, "eng", "research", "member")
    identity.set_mapping(cp, LOCAL_OPERATOR, "eng-leads", "platform", "admin")
    identity.set_mapping(cp, LOCAL_OPERATOR, "auditors", None, "auditor")
    with cp.store.session() as session:
        research = teams._find(session, "research").id
        platform = teams._find(session, "platform").id
        assert identity.resolve(session, ["eng"]) == identity.Placement(research, Role.MEMBER)
        assert identity.resolve(session, ["eng", "eng-leads"]) == identity.Placement(platform, Role.ADMIN)
        # A role-only mapping ranks first but takes its team from the best mapping that names one.
        assert identity.resolve(session, ["auditors", "eng"]) == identity.Placement(research, Role.AUDITOR)
        assert identity.resolve(session, ["auditors"]) == identity.Placement(None, Role.AUDITOR)
        assert identity.resolve(session, ["unmapped", ""]) is None
        assert identity.resolve(session, []) is None


def test_mappings_never_make_owners_and_only_org_managers_set_them(cp: ControlPlane) -> None:
    teams.create(cp, LOCAL_OPERATOR, "research")
    with pytest.raises(InvalidInput, match="owners are made by hand"):
        identity.set_mapping(cp, LOCAL_OPERATOR, "admins", "research", "owner")
    with pytest.raises(NotFound, match="no team named 'nowhere'"):
        identity.set_mapping(cp, LOCAL_OPERATOR, "eng", "nowhere", "member")
    with pytest.raises(InvalidInput, match="invalid group name"):
        identity.set_mapping(cp, LOCAL_OPERATOR, "bad\nname", "research", "member")
    members.add(cp, LOCAL_OPERATOR, "mallory", team="research", role="member")
    mallory = _member(cp, "mallory")
    as_member = Actor(mallory.name, Role.MEMBER, mallory.id, mallory.team_id)
    with pytest.raises(NotAuthorised):
        identity.set_mapping(cp, as_member, "eng", "research", "admin")
    assert identity.list_mappings(cp, LOCAL_OPERATOR) == []
    identity.set_mapping(cp, LOCAL_OPERATOR, "eng", "research", "member")
    identity.set_mapping(cp, LOCAL_OPERATOR, "eng", None, "auditor")  # replaces
    [mapping] = identity.list_mappings(cp, LOCAL_OPERATOR)
    assert (mapping.group, mapping.team, mapping.role) == ("eng", None, "auditor")
    identity.remove_mapping(cp, LOCAL_OPERATOR, "eng")
    with pytest.raises(NotFound):
        identity.remove_mapping(cp, LOCAL_OPERATOR, "eng")
    made = [e.target for e in _actions(cp, "identity.map") if e.outcome == "ok"]
    refused = [e for e in _actions(cp, "identity.map") if e.outcome != "ok"]
    assert made == ["eng", "eng"] and len(refused) == 4  # refusals are on the trail too, by pseudonym


def test_deprovision_suspends_and_ends_every_credential_once(cp: ControlPlane) -> None:
    members.add(cp, LOCAL_OPERATOR, "leaver", role="admin")
    first = keys.create(cp, LOCAL_OPERATOR, "leaver")
    keys.create(cp, LOCAL_OPERATOR, "leaver")
    admin_tokens.create(cp, LOCAL_OPERATOR, "leaver")
    keys.revoke(cp, LOCAL_OPERATOR, first.info.id)  # already revoked: keeps its own reason
    asked = datetime(2026, 12, 7, 21, 0, tzinfo=UTC)
    with cp.store.session() as session:
        member = session.scalar(select(Member).where(Member.name == "leaver"))
        assert member is not None
        ended = identity.deprovision(session, cp, identity.PROVIDER, member, requested_at=asked)
    assert (ended.keys, ended.admin_tokens, ended.changed) == (1, 1, True)
    leaver = _member(cp, "leaver")
    assert leaver.status == "suspended"
    with cp.store.session() as session:
        reasons = sorted(str(k.revoked_reason) for k in session.scalars(select(MemberKey)))
        live_tokens = session.scalars(
            select(AdminToken).where(AdminToken.member_id == leaver.id, AdminToken.revoked_at.is_(None))
        ).all()
    assert identity.DEPROVISIONED in reasons and len(set(reasons)) == 2  # the earlier revocation keeps its reason
    assert live_tokens == []
    [record] = _actions(cp, "identity.deprovision")
    assert record.target == leaver.id and record.actor == "identity-provider"
    assert record.details["requested_at"] == asked.isoformat() and record.details["keys_revoked"] == 1
    assert "leaver" not in str(record.details)  # ids, never names
    with cp.store.session() as session:  # the provider says it again: nothing more happens
        member = session.get(Member, leaver.id)
        assert member is not None
        again = identity.deprovision(session, cp, identity.PROVIDER, member, requested_at=asked)
    assert again.changed is False and len(_actions(cp, "identity.deprovision")) == 1


def test_reprovision_reactivates_but_old_keys_stay_revoked(cp: ControlPlane) -> None:
    members.add(cp, LOCAL_OPERATOR, "returner")
    key = keys.create(cp, LOCAL_OPERATOR, "returner")
    with cp.store.session() as session:
        member = session.scalar(select(Member).where(Member.name == "returner"))
        assert member is not None
        identity.deprovision(session, cp, identity.PROVIDER, member, requested_at=cp.clock())
        assert identity.reprovision(session, cp, identity.PROVIDER, member) is True
        assert identity.reprovision(session, cp, identity.PROVIDER, member) is False
    assert _member(cp, "returner").status == "active"
    with cp.store.session() as session:
        stored = session.get(MemberKey, key.info.id)
        assert stored is not None and stored.revoked_reason == identity.DEPROVISIONED


def test_place_moves_team_and_role_but_never_an_owner_and_respects_ceilings(cp: ControlPlane) -> None:
    teams.create(cp, LOCAL_OPERATOR, "research")
    teams.create(cp, LOCAL_OPERATOR, "narrow")
    teams.set_policy(cp, LOCAL_OPERATOR, "narrow", policy={"models": ["gpt-4o-mini"]})
    members.add(cp, LOCAL_OPERATOR, "pat", team="research")
    keys.create(cp, LOCAL_OPERATOR, "pat", policy={"models": ["gpt-4o"]})
    with cp.store.session() as session:
        research = teams._find(session, "research").id
        narrow = teams._find(session, "narrow").id
        pat = session.scalar(select(Member).where(Member.name == "pat"))
        assert pat is not None
        assert identity.place(session, cp, identity.PROVIDER, pat, identity.Placement(research, Role.ADMIN)) is True
        assert pat.role == "admin"
        assert identity.place(session, cp, identity.PROVIDER, pat, identity.Placement(research, Role.ADMIN)) is False
        with pytest.raises(PolicyExceedsCeiling, match="wider than team 'narrow'"):
            identity.place(session, cp, identity.PROVIDER, pat, identity.Placement(narrow, Role.MEMBER))
        owner = session.scalar(select(Member).where(Member.role == "owner"))
        assert owner is not None
        identity.place(session, cp, identity.PROVIDER, owner, identity.Placement(research, Role.MEMBER))
        assert owner.role == "owner"
