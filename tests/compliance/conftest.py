"""A seeded installation for the compliance tests: teams with policies, a provider of each kind with
regions, members of each role, keys used (through the gateway, with the SDK) and unused, a suspension, a
canary hit, a leaked-key revocation and a lockdown; and the CLI run in-process."""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import openai
import pytest
from sqlalchemy import select
from tests.conftest import Stack
from tests.support import cli as commands

from vaultgate.config import Settings
from vaultgate.services import keys, leaks, members, org, providers, routes, teams
from vaultgate.services.context import LOCAL_OPERATOR, Actor, Role
from vaultgate.store.models import AuditEvent

RESEARCH_POLICY = {"privacy": {"pii": {"email": "allow", "person": "block"}}, "zero_retention": True}
SUPPORT_POLICY = {"privacy": {"pii": {"phone": "mask"}, "secrets": "redact"}, "residency": ["eu"]}


@dataclass
class Seeded:
    """The seeded installation and what the tests compare against."""

    stack: Stack
    started: datetime
    ids: dict[str, str]  # member name -> id
    key_ids: dict[str, str]  # label -> key id

    @property
    def cp(self):  # type: ignore[no-untyped-def]
        return self.stack.cp


def _audit_count(stack: Stack, action: str) -> int:
    with stack.cp.store.session() as session:
        return len(session.scalars(select(AuditEvent.seq).where(AuditEvent.action == action)).all())


@pytest.fixture
def seeded(stack: Stack) -> Seeded:
    cp = stack.cp
    started = cp.clock()
    for team in ("research", "support"):
        teams.create(cp, LOCAL_OPERATOR, team)
    teams.set_policy(cp, LOCAL_OPERATOR, "research", policy=RESEARCH_POLICY)
    teams.set_policy(cp, LOCAL_OPERATOR, "support", policy=SUPPORT_POLICY)
    providers.add(cp, LOCAL_OPERATOR, "openai-us", kind="openai", api_key="sk-seed-openai", geography="us")
    providers.add(
        cp,
        LOCAL_OPERATOR,
        "azure-eu",
        kind="azure",
        base_url="https://eu.openai.azure.com",
        api_key="az-seed",
        api_version="2024-10-21",
        deployments={"gpt-4o": "eu-4o"},
        region="swedencentral",
        geography="eu",
        deployment_type="datazone",
    )
    providers.add(cp, LOCAL_OPERATOR, "offline", kind="echo")
    routes.add(cp, LOCAL_OPERATOR, "gpt-4.1", [routes.TargetSpec("azure-eu", "eu-41", deployment_type="regional")])

    people = {
        "olga": {"role": "owner"},
        "adam": {"role": "admin"},
        "tina": {"role": "admin", "team": "research"},
        "audrey": {"role": "auditor"},
        "erin": {"team": "research", "email": "erin@example.org"},
        "sam": {"team": "support"},
        "leo": {"team": "support"},
        "nora": {},
    }
    ids = {name: members.add(cp, LOCAL_OPERATOR, name, **kw).id for name, kw in people.items()}  # type: ignore[arg-type]
    olga = Actor(name="olga", role=Role.OWNER, member_id=ids["olga"])
    key_ids: dict[str, str] = {}
    # Erin's key is granted by olga (an owner acting through the admin API) and used through the gateway.
    erin_key = keys.create(cp, olga, "erin", policy={"models": ["gpt-4o-mini"], "scopes": {"images": "none"}})
    key_ids["erin"] = erin_key.info.id
    # Sam's key was made 200 days ago and never used: flagged. Nora's is new and unused: not flagged.
    past = dataclasses.replace(cp, clock=lambda: started - timedelta(days=200))
    key_ids["sam-old"] = keys.create(past, LOCAL_OPERATOR, "sam").info.id
    key_ids["nora"] = keys.create(cp, LOCAL_OPERATOR, "nora").info.id
    leo_key = keys.create(cp, LOCAL_OPERATOR, "leo")
    key_ids["leo"] = leo_key.info.id
    leaked = keys.create(cp, LOCAL_OPERATOR, "nora", name="nora-leaked")
    key_ids["leaked"] = leaked.info.id
    canary = keys.create(cp, LOCAL_OPERATOR, "adam", canary=True)
    key_ids["canary"] = canary.info.id
    stack.sync()

    client = openai.OpenAI(base_url=stack.base_url, api_key=erin_key.token, max_retries=0)
    for _ in range(2):
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}])
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=stack.base_url, api_key=canary.token, max_retries=0).models.list()
    stack.usage(2)
    deadline = time.monotonic() + 10
    while _audit_count(stack, "canary.used") < 1 and time.monotonic() < deadline:
        time.sleep(0.05)  # the alarm is written off the event loop
    assert _audit_count(stack, "canary.used") == 1

    members.suspend(cp, LOCAL_OPERATOR, "leo")
    keys.revoke(cp, LOCAL_OPERATOR, leo_key.info.id)
    leaks.revoke_leaked(cp, LOCAL_OPERATOR, [hashlib.sha256(leaked.token.encode()).hexdigest()], "scan")
    org.set_lockdown(cp, LOCAL_OPERATOR, True)
    org.set_lockdown(cp, LOCAL_OPERATOR, False)
    return Seeded(stack, started, ids, key_ids)


@pytest.fixture
def cli() -> Callable[..., tuple[int, str, str]]:
    """``vaultgate`` run in this process (as its entry point does): (exit code, stdout, stderr)."""

    def run(settings: Settings, *args: str) -> tuple[int, str, str]:
        result = commands.run_for(settings, *args)
        return result.returncode, result.stdout, result.stderr

    return run
