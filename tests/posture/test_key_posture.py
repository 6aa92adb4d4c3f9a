"""Member keys in the posture report: max age, no narrowing, no expiry, and shared keys (from usage rows)."""

from __future__ import annotations

from datetime import timedelta

from tests.posture.conftest import Installation, days_ago, of

from vaultgate.services import keys, members, teams
from vaultgate.services.context import LOCAL_OPERATOR
from vaultgate.services.posture.finding import Severity
from vaultgate.store.models import MemberKey


def key(inst: Installation, member: str, *, expires_in: str | None = "30d", **policy: object) -> str:
    return keys.create(
        inst.cp, LOCAL_OPERATOR, member, policy=policy or {"models": ["gpt-4o-mini"]}, expires_in=expires_in
    ).info.id


def test_keys_past_their_teams_max_age_are_high_and_past_the_global_age_medium(installation: Installation) -> None:
    teams.create(installation.cp, LOCAL_OPERATOR, "research")
    teams.set_policy(installation.cp, LOCAL_OPERATOR, "research", max_key_age_days=30)
    members.add(installation.cp, LOCAL_OPERATOR, "erika", team="research")
    members.add(installation.cp, LOCAL_OPERATOR, "solo")
    team_old, team_young = key(installation, "erika"), key(installation, "erika")
    global_old, global_young, rotated = key(installation, "solo"), key(installation, "solo"), key(installation, "solo")
    installation.set(MemberKey, team_old, created_at=days_ago(31))
    installation.set(MemberKey, team_young, created_at=days_ago(29))  # older than nothing it answers to
    installation.set(MemberKey, global_old, created_at=days_ago(91))
    installation.set(MemberKey, global_young, created_at=days_ago(89))
    # Created long ago, rotated recently: the secret is young.
    installation.set(MemberKey, rotated, created_at=days_ago(400), rotated_at=days_ago(3))
    # A revoked old key is nobody's concern any more.
    revoked = key(installation, "solo")
    installation.set(MemberKey, revoked, created_at=days_ago(400))
    keys.revoke(installation.cp, LOCAL_OPERATOR, revoked)

    found = {f.subject: f for f in of(installation.report(), "key.max_age")}
    assert sorted(found) == sorted([team_old, global_old])
    team_finding, global_finding = found[team_old], found[global_old]
    assert team_finding.severity is Severity.HIGH
    erika = team_finding.evidence["member_id"]
    assert team_finding.evidence | {"since": None} == {
        "key_id": team_old,
        "member_id": erika,
        "team_id": team_finding.evidence["team_id"],
        "age_days": 31,
        "max_age_days": 30,
        "max_age_from": "team",
        "since": None,
    }
    assert team_finding.fix == f"vaultgate key rotate {team_old}"
    assert global_finding.severity is Severity.MEDIUM
    assert (global_finding.evidence["age_days"], global_finding.evidence["max_age_days"]) == (91, 90)
    assert global_finding.evidence["max_age_from"] == "posture_max_key_age_days"
    # The global age is a setting.
    assert {f.subject for f in of(installation.report(posture_max_key_age_days=88), "key.max_age")} == {
        team_old,
        global_old,
        global_young,
    }


def test_keys_that_narrow_nothing_or_never_expire(installation: Installation) -> None:
    teams.create(installation.cp, LOCAL_OPERATOR, "ops")
    teams.set_policy(installation.cp, LOCAL_OPERATOR, "ops", policy={"scopes": {"files": "read"}})
    members.add(installation.cp, LOCAL_OPERATOR, "olga", team="ops")
    wide = keys.create(installation.cp, LOCAL_OPERATOR, "olga", policy={}, expires_in="30d").info.id
    # Read on files is what the team allows already: not narrower.
    same_as_team = key(installation, "olga", scopes={"files": "read"})
    by_models = key(installation, "olga", models=["gpt-4o-mini"])
    by_scope = key(installation, "olga", scopes={"images": "none"})
    by_ip = key(installation, "olga", ip_allow=["10.0.0.0/8"])
    forever = key(installation, "olga", expires_in=None)
    canary = keys.create(installation.cp, LOCAL_OPERATOR, "olga", policy={}, canary=True).info.id

    report = installation.report()
    unrestricted = of(report, "key.unrestricted")
    assert sorted(f.subject for f in unrestricted) == sorted([wide, same_as_team])
    assert all(f.severity is Severity.MEDIUM for f in unrestricted)
    olga = unrestricted[0].evidence["member_id"]
    assert unrestricted[0].fix.startswith(
        f"vaultgate key create --member {olga} --models MODELS --ip CIDR --expires 90d"
    )
    assert unrestricted[0].fix.endswith(f"&& vaultgate key revoke {unrestricted[0].subject}")
    never = of(report, "key.no_expiry")
    assert [(f.subject, f.severity) for f in never] == [(forever, Severity.LOW)]
    assert never[0].evidence["member_id"] == olga
    assert canary not in {f.subject for f in report.findings}
    assert not {by_models, by_scope, by_ip} & {f.subject for f in report.findings}


def test_a_shared_key_is_found_from_many_networks_or_agents_in_one_day(installation: Installation) -> None:
    members.add(installation.cp, LOCAL_OPERATOR, "sam")
    networks, agents, just_under, spread, old = (key(installation, "sam") for _ in range(5))
    sam = installation.cp.store.session
    with sam() as session:
        member_id = session.get(MemberKey, networks).member_id
    yesterday = days_ago(1).replace(hour=12, minute=0, second=0, microsecond=0)
    # Four networks, one agent, in one day: shared.
    for i in range(4):
        installation.usage(networks, member_id, yesterday + timedelta(minutes=i), f"net{i}", "agent-a")
    # One network, five agents (five machines behind one NAT): shared.
    for i in range(5):
        installation.usage(agents, member_id, yesterday + timedelta(minutes=i), "net0", f"agent{i}")
    # Exactly the thresholds (three networks, three agents), several requests each: not over them.
    for i in range(9):
        installation.usage(just_under, member_id, yesterday + timedelta(minutes=i), f"net{i % 3}", f"agent{i % 3}")
    # Six networks, but two a day: a person who moves about.
    for d in range(3):
        for i in range(2):
            installation.usage(spread, member_id, days_ago(d + 1).replace(hour=10), f"net{d}{i}", "agent-a")
    # Many networks, but before the window.
    for i in range(6):
        installation.usage(old, member_id, days_ago(10) + timedelta(minutes=i), f"net{i}", f"agent{i}")

    found = of(installation.report(), "key.shared")
    assert sorted(f.subject for f in found) == sorted([networks, agents])
    by_key = {f.subject: f for f in found}
    assert all(f.severity is Severity.HIGH for f in found)
    assert by_key[networks].evidence == {
        "key_id": networks,
        "member_id": member_id,
        "day": yesterday.date().isoformat(),
        "networks": 4,
        "agents": 1,
        "max_networks": 3,
        "max_agents": 3,
    }
    assert (by_key[agents].evidence["networks"], by_key[agents].evidence["agents"]) == (1, 5)
    assert by_key[networks].fix == f"vaultgate key rotate {networks} --grace 0s"
    # The thresholds and the window are settings.
    lower = installation.report(posture_shared_key_networks=2, posture_shared_key_agents=2)
    assert {f.subject for f in of(lower, "key.shared")} == {networks, agents, just_under}
    wider = installation.report(posture_window_days=30)
    assert {f.subject for f in of(wider, "key.shared")} == {networks, agents, old}
    # A revoked key can no longer be shared: nothing to fix.
    keys.revoke(installation.cp, LOCAL_OPERATOR, networks)
    assert {f.subject for f in of(installation.report(), "key.shared")} == {agents}
