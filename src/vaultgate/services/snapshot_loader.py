"""Building the data plane's snapshot from the store, and PostgreSQL change notification."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from types import MappingProxyType

import psycopg
from sqlalchemy import select
from sqlalchemy.orm import Session

from vaultgate.gateway.snapshot import Snapshot
from vaultgate.limits.interface import LimitsError
from vaultgate.limits.rules import Limits, ScopedLimits
from vaultgate.policy.grants import KeyGrant, KeyPolicy, PolicyError
from vaultgate.services.context import ControlPlane
from vaultgate.services.org import lockdown_active
from vaultgate.services.rotation import overdue_and_expiring
from vaultgate.store.models import Member, MemberKey, Provider, ProviderCredential, Revision, ShortLivedToken, Team
from vaultgate.upstream.config import ProviderConfig, ProviderKind
from vaultgate.vault import SealError

log = logging.getLogger("vaultgate.snapshot")


def _policy(data: dict[str, object], what: str) -> KeyPolicy | None:
    try:
        return KeyPolicy.from_json(data)
    except PolicyError:
        log.error("%s has an unreadable policy; it is refused until fixed", what)
        return None


def _limits(key: MemberKey, member: Member, team: Team | None) -> ScopedLimits | None:
    """The key's, member's and team's limits; None (the key is refused) if any stored value is unreadable."""
    try:
        return ScopedLimits(
            key=Limits.from_json(key.limits),
            member=Limits.from_json(member.limits),
            team=Limits.from_json(team.limits) if team is not None else Limits(),
        )
    except LimitsError:
        log.error("key %s, its member or its team has unreadable limits; it is refused until fixed", key.id)
        return None


def _key_grants(cp: ControlPlane, session: Session, now: datetime) -> tuple[dict[str, KeyGrant], dict[str, str]]:
    """Grants by keyed hash (current secrets, secrets in their rotation grace, short-lived tokens) and canaries."""
    grants: dict[str, KeyGrant] = {}
    canaries: dict[str, str] = {}
    rows = session.execute(
        select(MemberKey, Member, Team)
        .join(Member, MemberKey.member_id == Member.id)
        .outerjoin(Team, Member.team_id == Team.id)
        .where(MemberKey.revoked_at.is_(None))
    ).all()
    live: dict[str, KeyGrant] = {}
    for key, member, team in rows:
        if key.canary:
            canaries[key.key_hash] = key.id
            continue
        if (key.expires_at is not None and key.expires_at <= now) or overdue_and_expiring(key, team, now):
            continue
        policy = _policy(key.policy, f"key {key.id}")
        ceiling = _policy(team.policy, f"team {team.name}") if team is not None and team.policy else None
        if policy is None or (team is not None and team.policy and ceiling is None):
            continue
        limits = _limits(key, member, team)
        if limits is None:
            continue
        grant = KeyGrant(
            key_id=key.id,
            member_id=member.id,
            member_name=member.name,
            team_id=member.team_id,
            policy=policy,
            expires_at=key.expires_at,
            member_active=member.status == "active",
            pseudonym=cp.hasher.pseudonym("safety_identifier", member.id),
            ceilings=(ceiling,) if ceiling is not None else (),
            team_active=team is None or not team.suspended,
            not_before=key.not_before,
            limits=limits,
        )
        grants[key.key_hash] = live[key.id] = grant
        if key.previous_key_hash and key.previous_expires_at and key.previous_expires_at > now:
            ends = key.previous_expires_at if key.expires_at is None else min(key.expires_at, key.previous_expires_at)
            grants[key.previous_key_hash] = replace(grant, expires_at=ends)
    tokens = session.scalars(select(ShortLivedToken).where(ShortLivedToken.expires_at > now)).all()
    for token in tokens:
        parent = live.get(token.key_id)
        narrowed = _policy(token.policy, f"short-lived token {token.id}")
        if parent is None or narrowed is None:
            continue  # the key was revoked or expired: its tokens die with it
        grants[token.token_hash] = replace(
            parent,
            policy=narrowed,
            ceilings=(parent.policy, *parent.ceilings),
            expires_at=token.expires_at,
            short_lived=True,
        )
    return grants, canaries


def _providers(cp: ControlPlane, session: Session) -> tuple[dict[str, ProviderConfig], str | None]:
    """Every provider with its newest active credential opened by the vault, and every secret it may be using.

    Draining credentials serve no new request, but answers to requests sent with them may
    still be arriving: their secrets are kept so that answers are scrubbed of them too.
    """
    providers: dict[str, ProviderConfig] = {}
    default = None
    rows = session.scalars(
        select(ProviderCredential)
        .where(ProviderCredential.state.in_(("active", "draining")))
        .order_by(ProviderCredential.created_at, ProviderCredential.id)
    ).all()
    opened: dict[str, list[tuple[ProviderCredential, str | None]]] = {}
    for cred in rows:
        try:
            secret: str | None = cp.vault.open(cred.id, cred.sealed).decode()
        except SealError:
            secret = None
        opened.setdefault(cred.provider_id, []).append((cred, secret))
    for provider in session.scalars(select(Provider)).all():
        creds = opened.get(provider.id, [])
        active = [(cred, secret) for cred, secret in creds if cred.state == "active"]
        api_key = None
        if active:
            cred, api_key = active[-1]  # the newest active one serves new requests
            if api_key is None:
                log.error("credential %s of provider %s does not open; check the master key", cred.id, provider.name)
                continue
        providers[provider.name] = ProviderConfig(
            name=provider.name,
            kind=ProviderKind(provider.kind),
            base_url=provider.base_url,
            api_key=api_key,
            api_version=provider.api_version,
            deployments=MappingProxyType(dict(provider.deployments)),
            is_default=provider.is_default,
            secrets=tuple(secret for _, secret in creds if secret),
        )
        if provider.is_default:
            default = provider.name
    return providers, default


def load(cp: ControlPlane) -> Snapshot:
    """Every usable credential, the kill switches and every provider, at one revision."""
    now = cp.clock()
    with cp.store.session() as session:
        revision = session.scalar(select(Revision.value).where(Revision.id == 1)) or 0
        grants, canaries = _key_grants(cp, session, now)
        providers, default = _providers(cp, session)
        lockdown = lockdown_active(session)
    return Snapshot(
        grants=MappingProxyType(grants),
        providers=MappingProxyType(providers),
        default_provider=default,
        revision=int(revision),
        lockdown=lockdown,
        canaries=MappingProxyType(canaries),
    )


def pg_listener(cp: ControlPlane) -> Callable[[threading.Event, Callable[[], None]], None] | None:
    """A LISTEN loop that wakes the refresher on NOTIFY (PostgreSQL only; polling covers SQLite)."""
    if not cp.store.is_postgres:
        return None
    url = cp.store.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)

    def listen(stop: threading.Event, wake: Callable[[], None]) -> None:
        while not stop.is_set():
            try:
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute("LISTEN vaultgate_changes")
                    while not stop.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            wake()
            except psycopg.Error as exc:
                log.warning("change notifications interrupted (%s); polling continues", type(exc).__name__)
                stop.wait(1.0)

    return listen
