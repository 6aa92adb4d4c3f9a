"""Building the data plane's snapshot from the store, and PostgreSQL change notification."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from types import MappingProxyType

from sqlalchemy import select
from sqlalchemy.orm import Session

from vaultgate.gateway.route_table import Route as TableRoute
from vaultgate.gateway.route_table import RouteTable
from vaultgate.gateway.snapshot import Snapshot
from vaultgate.limits.interface import LimitsError
from vaultgate.limits.rules import Limits, ScopedLimits
from vaultgate.policy.effective import combine
from vaultgate.policy.grants import KeyGrant, KeyPolicy, PolicyError
from vaultgate.services import access
from vaultgate.services.context import ControlPlane
from vaultgate.services.org import lockdown_active, org_policy
from vaultgate.services.rotation import overdue_and_expiring
from vaultgate.services.short_lived import token_grant
from vaultgate.store.models import (
    Member,
    MemberKey,
    Provider,
    ProviderCredential,
    Revision,
    Route,
    RouteTarget,
    ShortLivedToken,
    Team,
)
from vaultgate.upstream.config import Deployment, ProviderConfig, ProviderKind
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
    """Grants by keyed hash (current secrets and secrets in their rotation grace) and canaries."""
    grants: dict[str, KeyGrant] = {}
    canaries: dict[str, str] = {}
    rows = session.execute(
        select(MemberKey, Member, Team)
        .join(Member, MemberKey.member_id == Member.id)
        .outerjoin(Team, Member.team_id == Team.id)
        .where(MemberKey.revoked_at.is_(None))
    ).all()
    try:
        org = org_policy(session)
    except PolicyError:
        # Fail closed: without the organisation's ceiling no key's effective policy is known.
        log.error("the organisation policy is unreadable; every key is refused until it is fixed")
        return grants, canaries
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
            # Computed here, once per snapshot: requests check only this one policy.
            policy=combine(policy, ceiling, org),
            expires_at=key.expires_at,
            member_active=member.status == "active",
            pseudonym=cp.hasher.pseudonym("safety_identifier", member.id),
            team_active=team is None or not team.suspended,
            not_before=key.not_before,
            limits=limits,
            sees_objects_of_team=access.object_viewer_team(member.role, member.team_id),
            team_name=team.name if team is not None else None,
            key_display=key.display,
        )
        grants[key.key_hash] = grant
        if key.previous_key_hash and key.previous_expires_at and key.previous_expires_at > now:
            ends = key.previous_expires_at if key.expires_at is None else min(key.expires_at, key.previous_expires_at)
            grants[key.previous_key_hash] = replace(grant, expires_at=ends)
    return grants, canaries


def _tokens(session: Session, now: datetime, grants: Mapping[str, KeyGrant]) -> dict[str, KeyGrant]:
    """Live short-lived tokens by keyed hash, each bound to the exact secret that minted it.

    A token whose parent secret is not in ``grants`` (revoked, expired, rotated out past its
    grace) is dead; one whose parent is a secret in its grace ends when the grace ends.
    """
    tokens: dict[str, KeyGrant] = {}
    rows = session.scalars(
        select(ShortLivedToken).where(ShortLivedToken.expires_at > now, ShortLivedToken.parent_key_hash.is_not(None))
    ).all()
    for token in rows:
        parent = grants.get(token.parent_key_hash or "")
        if parent is None or parent.key_id != token.key_id or parent.short_lived:
            continue
        narrowed = _policy(token.policy, f"short-lived token {token.id}")
        if narrowed is not None:
            tokens[token.token_hash] = token_grant(parent, narrowed, token.expires_at)
    return tokens


def _token_revision(session: Session) -> int:
    return int(session.scalar(select(Revision.value).where(Revision.id == 2)) or 0)


def load_tokens(cp: ControlPlane, current: Snapshot) -> tuple[Mapping[str, KeyGrant], int]:
    """Only the short-lived tokens, resolved against ``current``'s keys (a token was issued)."""
    with cp.store.session() as session:
        token_revision = _token_revision(session)
        tokens = _tokens(session, cp.clock(), current.grants)
    return MappingProxyType(tokens), token_revision


def _providers(cp: ControlPlane, session: Session) -> tuple[dict[str, ProviderConfig], dict[str, str], str | None]:
    """Every provider with its newest active credential opened by the vault, and every secret it may be using.

    Draining credentials serve no new request, but answers to requests sent with them may
    still be arriving: their secrets are kept so that answers are scrubbed of them too.
    Also returns provider names by id (the routing table refers to providers by id).
    """
    providers: dict[str, ProviderConfig] = {}
    names: dict[str, str] = {}
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
            region=provider.region,
            geography=provider.geography,
            deployment_type=provider.deployment_type,
            settings=MappingProxyType({str(k): str(v) for k, v in (provider.settings or {}).items()}),
        )
        names[provider.id] = provider.name
        if provider.is_default:
            default = provider.name
    return providers, names, default


def _routes(session: Session, providers: Mapping[str, ProviderConfig], names: Mapping[str, str]) -> RouteTable:
    """The routing table, each target resolved to its provider's configuration.

    A target whose provider is not in ``providers`` (its credential does not open: logged above)
    is left out; the route's other targets still serve.
    """
    targets: dict[str, list[Deployment]] = {}
    rows = session.scalars(select(RouteTarget).order_by(RouteTarget.route_id, RouteTarget.position)).all()
    for target in rows:
        provider = providers.get(names.get(target.provider_id, ""))
        if provider is not None:
            deployment = Deployment(provider, target.model, target.weight, target.deployment_type)
            targets.setdefault(target.route_id, []).append(deployment)
    return RouteTable.of(
        TableRoute(route.name, route.strategy, tuple(targets.get(route.id, ())))
        for route in session.scalars(select(Route)).all()
    )


def load(cp: ControlPlane) -> Snapshot:
    """Every usable credential, the kill switches, every provider and the routing table, at one revision."""
    now = cp.clock()
    with cp.store.session() as session:
        revision = session.scalar(select(Revision.value).where(Revision.id == 1)) or 0
        token_revision = _token_revision(session)
        grants, canaries = _key_grants(cp, session, now)
        tokens = _tokens(session, now, grants)
        providers, names, default = _providers(cp, session)
        routes = _routes(session, providers, names)
        lockdown = lockdown_active(session)
    return Snapshot(
        grants=MappingProxyType(grants),
        providers=MappingProxyType(providers),
        default_provider=default,
        revision=int(revision),
        lockdown=lockdown,
        canaries=MappingProxyType(canaries),
        tokens=MappingProxyType(tokens),
        token_revision=token_revision,
        routes=routes,
    )


def pg_listener(cp: ControlPlane) -> Callable[[threading.Event, Callable[[], None]], None] | None:
    """A LISTEN loop that wakes the refresher on NOTIFY (PostgreSQL only; polling covers SQLite)."""
    if not cp.store.is_postgres:
        return None
    import psycopg  # here: a SQLite replica never loads psycopg (docs/PERFORMANCE.md, "Start-up and memory")
    from psycopg.conninfo import make_conninfo

    url = cp.store.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    # The store's timeouts: a partition must not hold this thread past the network healing.
    conninfo = make_conninfo(url, **cp.store.connect_params)

    def listen(stop: threading.Event, wake: Callable[[], None]) -> None:
        while not stop.is_set():
            try:
                with psycopg.connect(conninfo, autocommit=True) as conn:
                    conn.execute("LISTEN vaultgate_changes")
                    while not stop.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            wake()
            except psycopg.Error as exc:
                log.warning("change notifications interrupted (%s); polling continues", type(exc).__name__)
                stop.wait(1.0)

    return listen
