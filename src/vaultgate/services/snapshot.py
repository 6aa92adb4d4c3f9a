"""Building the data plane's snapshot from the store, and PostgreSQL change notification."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import MappingProxyType

import psycopg
from sqlalchemy import select

from vaultgate.gateway.snapshot import Snapshot
from vaultgate.limits.interface import LimitsError
from vaultgate.limits.rules import Limits, ScopedLimits
from vaultgate.policy.grants import KeyGrant, KeyPolicy, PolicyError
from vaultgate.services.context import ControlPlane
from vaultgate.store.models import Member, MemberKey, Provider, ProviderCredential, Revision, Team
from vaultgate.upstream.config import ProviderConfig, ProviderKind
from vaultgate.vault import SealError

log = logging.getLogger("vaultgate.snapshot")


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


def load(cp: ControlPlane) -> Snapshot:
    """Every live key and every provider (keys opened by the vault), at one revision."""
    now = cp.clock()
    with cp.store.session() as session:
        revision = session.scalar(select(Revision.value).where(Revision.id == 1)) or 0
        grants: dict[str, KeyGrant] = {}
        rows = session.execute(
            select(MemberKey, Member, Team)
            .join(Member, MemberKey.member_id == Member.id)
            .outerjoin(Team, Member.team_id == Team.id)
            .where(MemberKey.revoked_at.is_(None))
        ).all()
        for key, member, team in rows:
            if key.expires_at is not None and key.expires_at <= now:
                continue
            try:
                policy = KeyPolicy.from_json(key.policy)
            except PolicyError:
                log.error("key %s has an unreadable policy; it is refused until fixed", key.id)
                continue
            limits = _limits(key, member, team)
            if limits is None:
                continue
            grants[key.key_hash] = KeyGrant(
                key_id=key.id,
                member_id=member.id,
                member_name=member.name,
                team_id=member.team_id,
                policy=policy,
                expires_at=key.expires_at,
                member_active=member.status == "active",
                pseudonym=cp.hasher.pseudonym("safety_identifier", member.id),
                limits=limits,
            )
        providers: dict[str, ProviderConfig] = {}
        default = None
        credentials = {
            c.provider_id: c
            for c in session.scalars(
                select(ProviderCredential)
                .where(ProviderCredential.state == "active")
                .order_by(ProviderCredential.created_at)
            ).all()
        }
        for provider in session.scalars(select(Provider)).all():
            api_key = None
            cred = credentials.get(provider.id)
            if cred is not None:
                try:
                    api_key = cp.vault.open(cred.id, cred.sealed).decode()
                except SealError:
                    log.error(
                        "credential %s of provider %s does not open; check the master key", cred.id, provider.name
                    )
                    continue
            providers[provider.name] = ProviderConfig(
                name=provider.name,
                kind=ProviderKind(provider.kind),
                base_url=provider.base_url,
                api_key=api_key,
                api_version=provider.api_version,
                deployments=MappingProxyType(dict(provider.deployments)),
                is_default=provider.is_default,
            )
            if provider.is_default:
                default = provider.name
    return Snapshot(
        grants=MappingProxyType(grants),
        providers=MappingProxyType(providers),
        default_provider=default,
        revision=int(revision),
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
