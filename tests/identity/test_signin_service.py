"""services.identity_signin on SQLite and PostgreSQL: pending sign-ins claimed once and only while fresh, and
which member a verified identity signs in as (linked, matched by verified email, created from a mapping)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from vaultgate.services import identity, identity_signin, members, teams
from vaultgate.services.context import LOCAL_OPERATOR, ControlPlane
from vaultgate.services.errors import Conflict, InvalidInput, NotAuthorised
from vaultgate.services.identity_signin import Person
from vaultgate.store.models import AuditEvent, IdentityLogin, IdentityUser, Member

ISSUER = "https://idp.example"


def person(sub: str = "s-1", **kw: object) -> Person:
    values: dict[str, object] = {"email": f"{sub}@example.com", "email_verified": True, **kw}
    return Person(issuer=ISSUER, subject=sub, **values)  # type: ignore[arg-type]


def test_a_pending_sign_in_is_claimed_once(cp: ControlPlane) -> None:
    pending = identity_signin.start(cp)
    with cp.store.session() as session:
        row = session.scalars(select(IdentityLogin)).one()
        assert row.state_hash != pending.state and pending.state not in row.state_hash  # only a keyed hash
    assert identity_signin.claim(cp, pending.state) == pending
    with pytest.raises(InvalidInput, match="this sign-in link was already used"):
        identity_signin.claim(cp, pending.state)
    with pytest.raises(InvalidInput, match="unknown or has expired"):
        identity_signin.claim(cp, "never-issued")


def test_a_pending_sign_in_lasts_ten_minutes_and_old_ones_are_purged(cp: ControlPlane) -> None:
    now = [datetime(2030, 1, 1, tzinfo=UTC)]
    cp.clock = lambda: now[0]
    old = identity_signin.start(cp)
    now[0] += timedelta(minutes=10, seconds=1)
    with pytest.raises(InvalidInput, match="longer than 10 minutes"):
        identity_signin.claim(cp, old.state)
    fresh = identity_signin.start(cp)  # purges the old row
    with cp.store.session() as session:
        assert session.scalars(select(IdentityLogin.nonce)).all() == [fresh.nonce]


def test_sign_ins_under_way_are_bounded_until_they_expire(cp: ControlPlane, monkeypatch: pytest.MonkeyPatch) -> None:
    """Anyone may start a sign-in: past MAX_PENDING under way, a start is refused and writes nothing."""
    monkeypatch.setattr(identity_signin, "MAX_PENDING", 3)
    now = [datetime(2030, 1, 1, tzinfo=UTC)]
    cp.clock = lambda: now[0]
    for _ in range(3):
        identity_signin.start(cp)
    with pytest.raises(Conflict, match="too many single sign-ins are under way"):
        identity_signin.start(cp)
    with cp.store.session() as session:
        assert len(session.scalars(select(IdentityLogin.nonce)).all()) == 3
    now[0] += timedelta(minutes=10, seconds=1)  # the three expire: purged by the next start
    identity_signin.start(cp)
    with cp.store.session() as session:
        assert len(session.scalars(select(IdentityLogin.nonce)).all()) == 1


def test_jit_creation_takes_the_mapped_team_and_role_and_a_free_name(cp: ControlPlane) -> None:
    teams.create(cp, LOCAL_OPERATOR, "platform")
    identity.set_mapping(cp, LOCAL_OPERATOR, "eng", "platform", "admin")
    members.add(cp, LOCAL_OPERATOR, "dana")  # the name the issuer suggests is taken by someone else
    signed = identity_signin.sign_in(cp, person("s-dana", username="dana", name="Dana D", groups=("eng", "x")))
    assert signed.created
    with cp.store.session() as session:
        member = session.get(Member, signed.member_id)
        assert member is not None
        assert (member.name, member.role, member.display_name) == ("dana-2", "admin", "Dana D")
        assert session.get(IdentityUser, signed.identity_id).oidc_subject == "s-dana"  # type: ignore[union-attr]
        actions = [r.action for r in session.scalars(select(AuditEvent).where(AuditEvent.target == member.id))]
        assert "identity.signin_created" in actions and "identity.signin" in actions
    again = identity_signin.sign_in(cp, person("s-dana", username="dana", groups=("eng",)))
    assert (again.member_id, again.created) == (signed.member_id, False)


def test_the_mapping_moves_a_member_on_sign_in_but_not_an_owner_nor_a_scim_managed_one(cp: ControlPlane) -> None:
    identity.set_mapping(cp, LOCAL_OPERATOR, "readers", None, "auditor")
    members.add(cp, LOCAL_OPERATOR, "eve", email="s-eve@example.com")
    members.add(cp, LOCAL_OPERATOR, "olga", email="s-olga@example.com", role="owner")
    members.add(cp, LOCAL_OPERATOR, "sam", email="s-sam@example.com")
    identity_signin.sign_in(cp, person("s-eve", groups=("readers",)))
    identity_signin.sign_in(cp, person("s-olga", groups=("readers",)))
    first = identity_signin.sign_in(cp, person("s-sam"))
    with cp.store.session() as session:
        session.get(IdentityUser, first.identity_id).scim_managed = True  # type: ignore[union-attr]
    identity_signin.sign_in(cp, person("s-sam", groups=("readers",)))
    roles = {m.name: m.role for m in members.list_members(cp, LOCAL_OPERATOR)}
    assert (roles["eve"], roles["olga"], roles["sam"]) == ("auditor", "owner", "member")


def test_refusals_change_nothing(cp: ControlPlane) -> None:
    members.add(cp, LOCAL_OPERATOR, "ann", email="s-ann@example.com")
    members.add(cp, LOCAL_OPERATOR, "twin1", email="twin@example.com")
    members.add(cp, LOCAL_OPERATOR, "twin2", email="TWIN@example.com")
    identity_signin.sign_in(cp, person("s-ann"))
    with pytest.raises(NotAuthorised, match="linked to another single sign-on identity"):
        identity_signin.sign_in(cp, person("s-other", email="s-ann@example.com"))
    with pytest.raises(NotAuthorised, match="several vaultgate members have this email"):
        identity_signin.sign_in(cp, person("s-twin", email="twin@example.com"))
    with pytest.raises(NotAuthorised, match="email domain may not sign in"):
        identity_signin.sign_in(cp, person("s-ann"), ["corp.example"])
    with pytest.raises(NotAuthorised, match="email domain may not sign in"):  # unverified: not in any domain
        identity_signin.sign_in(cp, person("s-ann", email_verified=False), ["example.com"])
    members.remove(cp, LOCAL_OPERATOR, "ann")
    with pytest.raises(NotAuthorised, match="no vaultgate member for this identity"):
        identity_signin.sign_in(cp, person("s-ann"))
    with cp.store.session() as session:
        links = session.scalars(select(IdentityUser)).all()
        assert [(u.oidc_subject) for u in links] == ["s-ann"]


def test_a_session_ends_when_its_link_is_gone(cp: ControlPlane) -> None:
    members.add(cp, LOCAL_OPERATOR, "lee", email="s-lee@example.com")
    signed = identity_signin.sign_in(cp, person("s-lee"))
    with cp.store.session() as session:
        assert identity_signin.linked_member(session, signed.identity_id) is not None
        session.get(IdentityUser, signed.identity_id).oidc_subject = None  # type: ignore[union-attr]
    with cp.store.session() as session:
        assert identity_signin.linked_member(session, signed.identity_id) is None


def _provisioned(cp: ControlPlane, name: str, external_id: str, *, scim_managed: bool = True) -> None:
    """A member as SCIM provisioning leaves them: an identity row with the provider's externalId, no sign-in yet."""
    members.add(cp, LOCAL_OPERATOR, name)
    with cp.store.session() as session:
        member = session.scalar(select(Member).where(Member.name == name))
        assert member is not None
        now = cp.clock()
        session.add(
            IdentityUser(
                id=f"scim-{name}",
                member_id=member.id,
                external_id=external_id,
                active=True,
                scim_managed=scim_managed,
                version=1,
                created_at=now,
                updated_at=now,
            )
        )


def test_a_scim_provisioned_person_is_linked_by_external_id_without_a_verified_email(cp: ControlPlane) -> None:
    """Entra ID sends no email_verified: its SCIM externalId (the object id) is the ID token's ``oid``; Okta's
    is the ``sub``. Either links the provisioned member; an identity SCIM does not manage never matches."""
    _provisioned(cp, "entra-user", "6f1c-oid")
    _provisioned(cp, "okta-user", "00u-okta-id")
    _provisioned(cp, "hand-made", "hand-oid", scim_managed=False)
    entra = identity_signin.sign_in(cp, person("entra-sub", email_verified=False, object_id="6f1c-oid"))
    okta = identity_signin.sign_in(cp, person("00u-okta-id", email=None, email_verified=False))
    assert entra.identity_id == "scim-entra-user" and okta.identity_id == "scim-okta-user"
    with pytest.raises(NotAuthorised, match="no vaultgate member for this identity"):
        identity_signin.sign_in(cp, person("hand-sub", email=None, object_id="hand-oid"))
    with cp.store.session() as session:
        subjects = {u.id: u.oidc_subject for u in session.scalars(select(IdentityUser))}
    assert subjects == {"scim-entra-user": "entra-sub", "scim-okta-user": "00u-okta-id", "scim-hand-made": None}
    # Linked now: the next sign-in is by (issuer, subject), and another subject with that oid is refused.
    assert identity_signin.sign_in(cp, person("entra-sub", email_verified=False)).identity_id == "scim-entra-user"
    with pytest.raises(NotAuthorised, match="no vaultgate member"):
        identity_signin.sign_in(cp, person("other-sub", email=None, object_id="6f1c-oid"))
