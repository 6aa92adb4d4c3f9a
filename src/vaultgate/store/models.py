"""SQLAlchemy models. Content (prompts, completions) has no column anywhere, by design."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on SQLite and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        # SQLite keeps no offset: store every instant as UTC so it reads back as the same instant.
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    """Declarative base of every vaultgate table."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, datetime: UTCDateTime}


class Team(Base):
    """A group of members sharing a policy ceiling."""

    __tablename__ = "teams"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    suspended: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    # The ceiling every key of the team is held under (scopes, models, IPs); keys only narrow it.
    policy: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    limits: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    max_key_age_days: Mapped[int | None] = mapped_column(Integer)
    expire_overdue_keys: Mapped[bool] = mapped_column(Boolean, default=False)


class Member(Base):
    """A person or service that holds keys."""

    __tablename__ = "members"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    email: Mapped[str | None] = mapped_column(String(320))
    # How the console greets them (personal data: cleared by an erasure, never audited).
    display_name: Mapped[str | None] = mapped_column(String(200), default=None)
    team_id: Mapped[str | None] = mapped_column(ForeignKey("teams.id"))
    role: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="active")
    created_at: Mapped[datetime]
    limits: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class MemberKey(Base):
    """A member's API key: only its keyed hash and a display form are stored."""

    __tablename__ = "member_keys"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"), index=True)
    name: Mapped[str | None] = mapped_column(String(100))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    display: Mapped[str] = mapped_column(String(20))
    policy: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    limits: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime]
    not_before: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(40))
    # Rotation: the secret before the last rotation keeps working until previous_expires_at.
    rotated_at: Mapped[datetime | None]
    previous_key_hash: Mapped[str | None] = mapped_column(String(64), unique=True, index=True)
    previous_fingerprint: Mapped[str | None] = mapped_column(String(64), unique=True, index=True)
    previous_expires_at: Mapped[datetime | None]
    canary: Mapped[bool] = mapped_column(Boolean, default=False)


class ShortLivedToken(Base):
    """A ``vgt_`` token exchanged for a member key: a subset of its scopes, an hour at most."""

    __tablename__ = "short_lived_tokens"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    key_id: Mapped[str] = mapped_column(ForeignKey("member_keys.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    policy: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    # The keyed hash of the member-key secret this token was exchanged for: the token dies with it.
    parent_key_hash: Mapped[str | None] = mapped_column(String(64), default=None)


class OrgSetting(Base):
    """Organisation-wide switches (``lockdown``) and settings, as JSON values."""

    __tablename__ = "org_settings"
    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class AdminToken(Base):
    """A person's admin API token (``vga_``): keyed hash only; the role is the member's."""

    __tablename__ = "admin_tokens"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    display: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    # A token may act with less than its member's role (an owner's read-only auditor token).
    role: Mapped[str | None] = mapped_column(String(20))


class Provider(Base):
    """An upstream: OpenAI, Azure OpenAI, an OpenAI-compatible server, or the offline echo."""

    __tablename__ = "providers"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    base_url: Mapped[str] = mapped_column(String(500))
    api_version: Mapped[str | None] = mapped_column(String(40))
    deployments: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    allow_insecure_http: Mapped[bool] = mapped_column(Boolean, default=False)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    # Where requests are processed, for residency policy: the cloud region ("swedencentral"), the
    # geography it belongs to ("eu", "us"...) and how the deployments spread ("global", "datazone", "regional").
    region: Mapped[str | None] = mapped_column(String(60), default=None)
    geography: Mapped[str | None] = mapped_column(String(20), default=None)
    deployment_type: Mapped[str | None] = mapped_column(String(20), default=None)
    # Adapter settings that are not secrets (Azure surface and Entra ID tenant/client id, token URL).
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Route(Base):
    """A routing rule: a model name (exact, ``*`` wildcard or alias) and the deployments that serve it."""

    __tablename__ = "routes"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # "ordered" (failover in position order) or "weighted" (first pick by weight, the rest as failover).
    strategy: Mapped[str] = mapped_column(String(20), default="ordered")
    created_at: Mapped[datetime]


class RouteTarget(Base):
    """One deployment of a route: a provider and the model (or Azure deployment) it is asked for."""

    __tablename__ = "route_targets"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    route_id: Mapped[str] = mapped_column(ForeignKey("routes.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    provider_id: Mapped[str] = mapped_column(ForeignKey("providers.id"), index=True)
    # The model name sent upstream (for Azure: the deployment); None sends the client's model.
    model: Mapped[str | None] = mapped_column(String(200), default=None)
    weight: Mapped[int] = mapped_column(Integer, default=1)
    # Overrides the provider's deployment type for this deployment (None: the provider's).
    deployment_type: Mapped[str | None] = mapped_column(String(20), default=None)


class OwnedObject(Base):
    """A stored upstream object (file, batch, response...) and the member it belongs to.

    Written when an answer creates the object, read (and cached) when a request names its id:
    every other member gets 404. Holds ids only, never content.
    """

    __tablename__ = "owned_objects"
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    member_id: Mapped[str] = mapped_column(String(40), index=True)
    team_id: Mapped[str | None] = mapped_column(String(40), index=True)
    key_id: Mapped[str | None] = mapped_column(String(40))
    # The provider that holds the object: requests naming it go there.
    provider: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime]


class ProviderCredential(Base):
    """A provider's API key, sealed by the vault (the row id is the associated data)."""

    __tablename__ = "provider_credentials"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    provider_id: Mapped[str] = mapped_column(ForeignKey("providers.id"), index=True)
    sealed: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(20), default="active")
    created_at: Mapped[datetime]


class VaultSecret(Base):
    """Internal secrets (the token hashing key), sealed like provider credentials."""

    __tablename__ = "vault_secrets"
    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    sealed: Mapped[str] = mapped_column(Text)


class Revision(Base):
    """Counters replicas poll: row 1 is bumped by every change the hot path must see, row 2 by
    short-lived token issuance alone (replicas then reload only the tokens)."""

    __tablename__ = "revision"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class UsageEvent(Base):
    """Metadata of one gateway request: who, which model, tokens, status. Never content."""

    __tablename__ = "usage_events"
    # ``key list`` reads each key's last use as max(at) per key: an index-only lookup per key.
    __table_args__ = (Index("ix_usage_events_key_id_at", "key_id", "at"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(index=True)
    request_id: Mapped[str] = mapped_column(String(40))
    member_id: Mapped[str | None] = mapped_column(String(40), index=True)
    key_id: Mapped[str | None] = mapped_column(String(40), index=True)
    provider: Mapped[str | None] = mapped_column(String(100))
    endpoint: Mapped[str] = mapped_column(String(60))
    model: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[int] = mapped_column(Integer)
    error_code: Mapped[str | None] = mapped_column(String(60))
    stream: Mapped[bool] = mapped_column(Boolean, default=False)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    cost_usd: Mapped[float | None] = mapped_column()
    latency_ms: Mapped[float] = mapped_column()
    # The member's team when the request was served (spend per team survives a move).
    team_id: Mapped[str | None] = mapped_column(String(40), index=True, default=None)
    # Keyed pseudonyms of the client's network and user agent (never the address or string):
    # many distinct values per key and day is how ``doctor`` finds a shared key.
    client_hash: Mapped[str | None] = mapped_column(String(32), default=None)
    agent_hash: Mapped[str | None] = mapped_column(String(32), default=None)


class AuditEvent(Base):
    """One hash-chained audit record: metadata and keyed hashes, never secrets or content."""

    __tablename__ = "audit_events"
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(60), index=True)
    target: Mapped[str | None] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(20))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    # "hmac-sha256" (keyed under the vault's audit key) or "sha256" (written before the chain was keyed).
    alg: Mapped[str] = mapped_column(String(20), default="sha256", server_default="sha256")


class AuditCheckpoint(Base):
    """A signed head of the audit chain: the record ``seq`` and its hash, signed with Ed25519."""

    __tablename__ = "audit_checkpoints"
    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    at: Mapped[datetime]
    head: Mapped[str] = mapped_column(String(64))
    # The signing public key's fingerprint (SHA-256 of its raw bytes, hex).
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(Text)


class IdentityUser(Base):
    """A member as the identity provider knows them: their SCIM User resource and/or OIDC subject.

    The SCIM ``userName`` is the member's name, ``emails[primary]`` their email and ``displayName``
    their display name (kept on ``members``, one copy); this row holds what only the identity provider
    gives: the resource id, its ``externalId``, whether the provider says the person is active (the
    last SCIM state ``identity sync`` compares with the member), and the OIDC issuer and subject a
    console sign-in is matched on. Personal data: an erasure deletes the row.
    """

    __tablename__ = "identity_users"
    __table_args__ = (Index("ix_identity_users_oidc", "oidc_issuer", "oidc_subject", unique=True),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # the SCIM resource id
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"), unique=True)
    external_id: Mapped[str | None] = mapped_column(String(255), default=None)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # True once SCIM has created or claimed the member: its status, team and role follow the provider.
    scim_managed: Mapped[bool] = mapped_column(Boolean, default=False)
    oidc_issuer: Mapped[str | None] = mapped_column(String(500), default=None)
    oidc_subject: Mapped[str | None] = mapped_column(String(255), default=None)
    version: Mapped[int] = mapped_column(Integer, default=1)  # the SCIM ETag is W/"<version>"
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class IdentityGroup(Base):
    """A SCIM Group: its members' team and role come from the group mappings that name it."""

    __tablename__ = "identity_groups"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # the SCIM resource id
    display_name: Mapped[str] = mapped_column(String(200), unique=True)
    external_id: Mapped[str | None] = mapped_column(String(255), default=None)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class IdentityGroupMember(Base):
    """One user in one SCIM group."""

    __tablename__ = "identity_group_members"
    group_id: Mapped[str] = mapped_column(ForeignKey("identity_groups.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        ForeignKey("identity_users.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class IdentityGroupMapping(Base):
    """An identity-provider group (a SCIM group's displayName or externalId, or an OIDC groups-claim
    value) and the vaultgate team and role its members get; no team means the role alone."""

    __tablename__ = "identity_group_mappings"
    group_name: Mapped[str] = mapped_column(String(200), primary_key=True)
    team_id: Mapped[str | None] = mapped_column(ForeignKey("teams.id"), default=None)
    role: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime]


class IdentityLogin(Base):
    """A console sign-in under way at the identity provider (authorization code flow with PKCE).

    Looked up by the keyed hash of its ``state``; the browser holds the state in a signed cookie. Used
    once (``used_at``), valid for minutes: a replayed callback finds it used.
    """

    __tablename__ = "identity_logins"
    state_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(128))
    code_verifier: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None] = mapped_column(default=None)


class ScimToken(Base):
    """A SCIM bearer token (``vgs_``): the right to provision and deprovision people, and nothing else."""

    __tablename__ = "scim_tokens"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(100), default=None)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    display: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
