"""Data subject rights: export everything about a member; erase one so that their name, email and key names
are in no table of the database (SQLite and PostgreSQL) while the audit chain verifies and usage totals stay."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import timedelta

import httpx
import openai
import orjson
import pytest
from sqlalchemy import func, select
from tests.conftest import Stack

from vaultgate.services import admin_tokens, audit_trail, keys, members, subject_rights, teams
from vaultgate.services.context import LOCAL_OPERATOR, Actor, Role
from vaultgate.services.errors import Conflict, NotAuthorised, NotFound
from vaultgate.store.models import (
    AuditEvent,
    Base,
    IdentityGroup,
    IdentityGroupMember,
    IdentityUser,
    Member,
    ShortLivedToken,
    UsageEvent,
)

Cli = Callable[..., tuple[int, str, str]]
NAME, EMAIL = "zebra-quinn", "zebra.quinn@example.org"
KEY_NAMES = ("quinn-laptop-key", "quinn-ci-key")
DISPLAY_NAME = "Zebra Quinn-Marlowe"
# What only the identity provider knows: the SCIM externalId and the OIDC subject.
EXTERNAL_ID, OIDC_SUBJECT = "quinn-entra-object-7f3a", "quinn-oidc-subject-91c2"
PERSONAL = (NAME, EMAIL, DISPLAY_NAME, *KEY_NAMES, EXTERNAL_ID, OIDC_SUBJECT)


def every_row(stack: Stack) -> str:
    """Every row of every table, stringified: what an erasure must leave no personal data in."""
    dump = []
    with stack.cp.store.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in conn.execute(table.select()):
                dump.append(f"{table.name}: {tuple(row)!r}")
    return "\n".join(dump)


def without_audit(dump: str) -> list[str]:
    return [line for line in dump.splitlines() if not line.startswith("audit_events:")]


def usage_totals(stack: Stack, member_id: str) -> tuple[int, int, int]:
    with stack.cp.store.session() as session:
        found = session.execute(
            select(func.count(), func.sum(UsageEvent.prompt_tokens), func.sum(UsageEvent.completion_tokens)).where(
                UsageEvent.member_id == member_id
            )
        ).one()
    return int(found[0]), int(found[1] or 0), int(found[2] or 0)


def ok_changes(stack: Stack) -> int:
    with stack.cp.store.session() as session:
        return int(session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.outcome == "ok")) or 0)


def make_member(stack: Stack) -> tuple[str, list[str], str]:
    """The member, with two named keys used through the gateway, an admin token, a short-lived token, and
    audit records naming them (including a refused attempt that typed the name)."""
    cp = stack.cp
    teams.create(cp, LOCAL_OPERATOR, "lab")
    member_id = members.add(cp, LOCAL_OPERATOR, NAME, email=EMAIL, team="lab").id
    members.update(cp, LOCAL_OPERATOR, NAME, display_name=DISPLAY_NAME)
    created = [keys.create(cp, LOCAL_OPERATOR, NAME, name=n) for n in KEY_NAMES]
    _, admin_token = admin_tokens.create(cp, LOCAL_OPERATOR, NAME)
    with pytest.raises(Conflict):
        members.add(cp, LOCAL_OPERATOR, NAME, email=EMAIL)
    stack.sync()
    for key in created:
        client = openai.OpenAI(base_url=stack.base_url, api_key=key.token, max_retries=0)
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    stack.usage(2)
    with cp.store.session() as session:
        session.add(
            ShortLivedToken(
                id="slt_" + secrets.token_hex(8),
                key_id=created[0].info.id,
                token_hash=secrets.token_hex(32),
                policy={},
                created_at=cp.clock(),
                expires_at=cp.clock() + timedelta(minutes=30),
                parent_key_hash=None,
            )
        )
        # Provisioned by an identity provider: a SCIM resource in a group, with an OIDC subject.
        now = cp.clock()
        session.add(
            IdentityUser(
                id="scu_" + secrets.token_hex(8),
                member_id=member_id,
                external_id=EXTERNAL_ID,
                active=True,
                scim_managed=True,
                oidc_issuer="https://idp.example.org",
                oidc_subject=OIDC_SUBJECT,
                version=1,
                created_at=now,
                updated_at=now,
            )
        )
        session.add(
            IdentityGroup(id="scg_" + secrets.token_hex(8), display_name="lab-people", created_at=now, updated_at=now)
        )
        session.flush()
        user_id = session.scalar(select(IdentityUser.id).where(IdentityUser.member_id == member_id))
        group_id = session.scalar(select(IdentityGroup.id))
        session.add(IdentityGroupMember(group_id=group_id, user_id=user_id))
    return member_id, [k.token for k in created], admin_token


def test_erasure_leaves_no_personal_data_in_any_table(stack: Stack, cli: Cli) -> None:
    member_id, tokens, admin_token = make_member(stack)
    dump = every_row(stack)
    assert all(value in dump for value in PERSONAL)  # the check below can see them
    usage_before = usage_totals(stack, member_id)
    assert usage_before[0] == 2

    code, _, err = cli(stack.settings, "member", "erase", NAME, "--yes")
    assert code == 0, err
    pseudonym = subject_rights.pseudonym(stack.cp, member_id)
    assert pseudonym in err and pseudonym.startswith("erased-") and len(pseudonym) == len("erased-") + 12

    dump = every_row(stack)
    for value in PERSONAL:
        assert value.lower() not in dump.lower(), value
    with stack.cp.store.session() as session:
        member = session.get(Member, member_id)
        assert member is not None
        assert (member.name, member.email, member.status) == (pseudonym, None, "erased")
        assert session.scalar(select(func.count()).select_from(ShortLivedToken)) == 0
        assert session.scalar(select(func.count()).select_from(IdentityUser)) == 0
        assert session.scalar(select(func.count()).select_from(IdentityGroupMember)) == 0
        assert session.scalar(select(func.count()).select_from(IdentityGroup)) == 1  # the group is not theirs
        erasures = session.scalars(select(AuditEvent).where(AuditEvent.action == "member.erase")).all()
    assert [(e.target, e.actor, e.outcome) for e in erasures] == [(member_id, "cli", "ok")]
    assert erasures[0].details == {"keys_revoked": 2, "admin_tokens_revoked": 1, "short_lived_tokens_deleted": 1}
    count, broken = audit_trail.verify(stack.cp, LOCAL_OPERATOR)
    assert broken is None and count > 0
    assert usage_totals(stack, member_id) == usage_before

    # Every credential is refused at once: the keys at the gateway, the admin token at the admin API.
    stack.sync()
    for token in tokens:
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=stack.base_url, api_key=token, max_retries=0).models.list()
    me = httpx.get(stack.gateway.url + "/admin/me", headers={"authorization": f"Bearer {admin_token}"})
    assert me.status_code == 401
    listed = {k.id: k for k in keys.list_keys(stack.cp, LOCAL_OPERATOR, member_id)}
    assert {k.status for k in listed.values()} == {"revoked"}
    assert {k.name for k in listed.values()} == {None}


def test_erasing_twice_or_an_unknown_member_changes_nothing(stack: Stack, cli: Cli) -> None:
    member_id = members.add(stack.cp, LOCAL_OPERATOR, NAME, email=EMAIL).id
    before = ok_changes(stack)
    code, out, err = cli(stack.settings, "member", "erase", "nobody-here", "--yes")
    assert (code, out) == (1, "") and "no member named 'nobody-here'" in err
    assert ok_changes(stack) == before
    subject_rights.erase(stack.cp, LOCAL_OPERATOR, NAME)
    snapshot, changes = without_audit(every_row(stack)), ok_changes(stack)
    for again in (member_id, subject_rights.pseudonym(stack.cp, member_id)):
        code, _, err = cli(stack.settings, "member", "erase", again, "--yes")
        assert code == 1 and "is already erased" in err
    # The name is gone: erasing by it finds nobody (no table can say who it was).
    with pytest.raises(NotFound):
        subject_rights.erase(stack.cp, LOCAL_OPERATOR, NAME)
    assert without_audit(every_row(stack)) == snapshot and ok_changes(stack) == changes  # only refusals audited
    # An erased member is not brought back by a resume.
    with pytest.raises(Conflict):
        members.resume(stack.cp, LOCAL_OPERATOR, member_id)


def test_export_holds_everything_stored_about_the_member(stack: Stack, cli: Cli) -> None:
    member_id, _, _ = make_member(stack)
    code, out, err = cli(stack.settings, "member", "export", NAME)
    assert code == 0, err
    doc = orjson.loads(out)
    assert doc["member"]["id"] == member_id
    assert (doc["member"]["name"], doc["member"]["email"], doc["member"]["role"]) == (NAME, EMAIL, "member")
    assert doc["team"]["name"] == "lab"
    assert [k["name"] for k in doc["keys"]] == list(KEY_NAMES)
    assert all(k["display"].startswith("vgk_") and "key_hash" not in k for k in doc["keys"])
    assert len(doc["admin_tokens"]) == 1 and doc["admin_tokens"][0]["display"].startswith("vga_")
    assert doc["owned_objects"] == []
    (usage,) = doc["usage"]
    assert usage["model"] == "gpt-4o-mini" and usage["requests"] == 2
    assert usage["prompt_tokens"] + usage["completion_tokens"] == sum(usage_totals(stack, member_id)[1:])
    actions = [r["action"] for r in doc["audit"]]
    assert actions[:1] == ["member.create"]
    assert actions.count("key.create") == 2 and "admin_token.create" in actions
    assert all(
        member_id in (r["actor"], r["target"], *map(str, r["details"].values())) or r["target"].startswith("key_")
        for r in doc["audit"]
        if r["target"]
    )
    # Nothing secret: no hash of a key or token is exported.
    with stack.cp.store.session() as session:
        hashes = [h for (h,) in session.execute(select(Base.metadata.tables["member_keys"].c.key_hash))]
    assert not any(h in out for h in hashes)
    # The export itself is recorded.
    with stack.cp.store.session() as session:
        exports = session.scalars(select(AuditEvent.target).where(AuditEvent.action == "member.export")).all()
    assert list(exports) == [member_id]


def test_who_may_export_and_erase(stack: Stack) -> None:
    cp = stack.cp
    teams.create(cp, LOCAL_OPERATOR, "lab")
    plain = members.add(cp, LOCAL_OPERATOR, "plain", team="lab").id
    owner2 = members.add(cp, LOCAL_OPERATOR, "owner2", role="owner").id
    org_admin = Actor("oa", Role.ADMIN, members.add(cp, LOCAL_OPERATOR, "oa", role="admin").id)
    team_admin = Actor("ta", Role.ADMIN, members.add(cp, LOCAL_OPERATOR, "ta", role="admin", team="lab").id, None)
    auditor = Actor("au", Role.AUDITOR, members.add(cp, LOCAL_OPERATOR, "au", role="auditor").id)
    with cp.store.session() as session:
        lab = session.scalar(select(Member.team_id).where(Member.id == plain))
    team_admin = Actor("ta", Role.ADMIN, team_admin.member_id, lab)
    for actor in (team_admin, auditor):
        with pytest.raises(NotAuthorised):
            subject_rights.export(cp, actor, "plain")
        with pytest.raises(NotAuthorised):
            subject_rights.erase(cp, actor, "plain")
    assert subject_rights.export(cp, org_admin, "owner2")["member"]["id"] == owner2
    with pytest.raises(NotAuthorised):
        subject_rights.erase(cp, org_admin, "owner2")  # an organisation admin erases plain members only
    owner = Actor("owner2", Role.OWNER, owner2)
    with pytest.raises(NotAuthorised):
        subject_rights.erase(cp, owner, "owner2")  # nobody erases themselves
    assert subject_rights.erase(cp, org_admin, "plain").member_id == plain


def test_admin_api_export_and_erase(stack: Stack) -> None:
    members.add(stack.cp, LOCAL_OPERATOR, NAME, email=EMAIL)
    client = httpx.Client(base_url=stack.gateway.url, headers={"authorization": f"Bearer {stack.admin_token}"})
    exported = client.get(f"/admin/members/{NAME}/export")
    assert exported.status_code == 200 and exported.json()["member"]["email"] == EMAIL
    erased = client.post(f"/admin/members/{NAME}/erase")
    assert erased.status_code == 200
    body = erased.json()
    assert body["pseudonym"].startswith("erased-") and NAME not in erased.text
    again = client.post(f"/admin/members/{body['member_id']}/erase")
    assert again.status_code == 409 and again.json()["error"]["code"]
    unknown = client.get("/admin/members/nobody/export")
    assert unknown.status_code == 404
