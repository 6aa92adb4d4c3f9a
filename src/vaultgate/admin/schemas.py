"""Request and response bodies of the admin API (validated by pydantic; off the hot path)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


def unstorable(value: Any) -> str | None:
    """Why a JSON value cannot be stored as given (None if it can): a NUL character in a string
    (PostgreSQL text cannot hold one), or NaN/Infinity (not JSON; Python's parser lets them through)."""
    if isinstance(value, str):
        return "text must not contain NUL characters" if "\x00" in value else None
    if isinstance(value, float):
        return None if math.isfinite(value) else "numbers must be finite (no NaN or Infinity)"
    if isinstance(value, dict):
        return next((r for k, v in value.items() for r in (unstorable(k), unstorable(v)) if r), None)
    if isinstance(value, list):
        return next((r for r in map(unstorable, value) if r), None)
    return None


class Strict(BaseModel):
    """Unknown fields are an error, not silently ignored; so is a value that could not be stored as given."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        reason = unstorable(data)
        if reason:
            raise ValueError(reason)
        return data


class MemberCreate(Strict):
    name: str = Field(min_length=1, max_length=100)
    email: str | None = Field(default=None, max_length=320)
    team: str | None = Field(default=None, max_length=100)
    role: Literal["member", "admin", "auditor", "owner"] = "member"
    create_team: bool = Field(default=False, description="Create the team if it does not exist (org managers)")


class MemberOut(BaseModel):
    id: str
    name: str
    email: str | None
    team: str | None
    role: str
    status: str
    created_at: datetime
    display_name: str | None = None


class KeyCreate(Strict):
    member: str = Field(description="Member name or id")
    name: str | None = Field(default=None, max_length=100)
    models: list[str] = Field(default_factory=list, description="Model allowlist; wildcards like gpt-4o*")
    scopes: dict[str, Literal["none", "read", "write"]] = Field(default_factory=dict)
    ip_allow: list[str] = Field(default_factory=list, description="IPv4/IPv6 addresses or CIDRs")
    allow_store: bool = False
    zero_retention: bool = Field(default=False, description="Leave nothing stored at the provider (docs/PRIVACY.md)")
    expires_in: str | None = Field(default=None, description="Lifetime such as 90d, 12h, 30m, or an ISO 8601 time")
    not_before: str | None = Field(default=None, description="Start of validity: a delay (1h) or an ISO 8601 time")
    canary: bool = Field(default=False, description="A decoy: any use is refused and raises an alert")
    privacy: dict[str, Any] | None = Field(default=None, description="PII/secret handling; see docs/PRIVACY.md")
    residency: list[str] | None = Field(
        default=None, description="Geographies requests may be processed in (eu, us...); see docs/PROVIDERS.md"
    )
    rpm: int | None = Field(default=None, ge=1, description="Requests per minute")
    tpm: int | None = Field(default=None, ge=1, description="Tokens per minute (prompt + completion)")
    concurrency: int | None = Field(default=None, ge=1, description="Requests in flight at once")
    budget_usd: float | None = Field(default=None, gt=0, description="Spend cap in USD per budget_period (UTC)")
    budget_period: Literal["day", "month"] = "month"


class KeyOut(BaseModel):
    id: str
    member: str
    name: str | None
    display: str
    policy: dict[str, Any]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    status: str
    not_before: datetime | None
    rotated_at: datetime | None
    previous_expires_at: datetime | None
    rotation_due: bool
    age_days: int
    canary: bool
    limits: dict[str, Any]
    effective_policy: dict[str, Any] | None = Field(
        default=None, description="What is enforced: the key's policy under its team's and the organisation's"
    )
    narrowed: list[str] = Field(default_factory=list, description="What the key asks for beyond that ceiling")
    last_used_at: datetime | None = Field(
        default=None, description="The key's latest request in the usage records (listing only; null: never used)"
    )


class KeyCreated(KeyOut):
    key: str = Field(description="The secret key. Shown once: store it now.")


class LeakReport(Strict):
    fingerprints: list[str] = Field(max_length=10_000, description="SHA-256 (hex) of each leaked token")
    source: str = Field(default="report", max_length=60)


class LeakedKey(BaseModel):
    id: str
    display: str


class LeakResult(BaseModel):
    revoked: list[LeakedKey]
    unknown: int


class ProviderCreate(Strict):
    name: str = Field(max_length=100)
    kind: Literal["openai", "azure", "compatible", "echo"]
    base_url: str | None = Field(default=None, max_length=500)
    api_key: str | None = Field(default=None, repr=False)
    api_version: str | None = Field(default=None, max_length=40)
    deployments: dict[str, str] = Field(default_factory=dict)
    allow_insecure_http: bool = False
    default: bool | None = None
    region: str | None = Field(default=None, max_length=60, description="Cloud region, e.g. swedencentral")
    geography: str | None = Field(default=None, max_length=20, description="Where requests are processed: eu, us...")
    deployment_type: Literal["global", "datazone", "regional"] | None = None
    # Azure: which URL surface, and api-key or Microsoft Entra ID (docs/PROVIDERS.md, Azure OpenAI).
    azure_surface: Literal["deployments", "v1"] | None = None
    auth: Literal["api-key", "entra"] | None = None
    tenant_id: str | None = Field(default=None, max_length=100)
    client_id: str | None = Field(default=None, max_length=100)
    # The Entra ID client secret; sealed like 'api_key' (send one of the two).
    client_secret: str | None = Field(default=None, repr=False)
    token_url: str | None = Field(default=None, max_length=500)

    @model_validator(mode="after")
    def _one_secret(self) -> ProviderCreate:
        if self.api_key is not None and self.client_secret is not None:
            raise ValueError("send 'api_key' or 'client_secret', not both")
        return self


class ProviderUpdate(Strict):
    """Only the fields given change; an empty string clears region, geography or deployment type."""

    base_url: str | None = Field(default=None, max_length=500, description="Checked again as on create")
    api_version: str | None = Field(default=None, max_length=40)
    deployments: dict[str, str] | None = Field(default=None, description="Replaces the whole MODEL=DEPLOYMENT map")
    region: str | None = Field(default=None, max_length=60)
    geography: str | None = Field(default=None, max_length=20)
    deployment_type: Literal["global", "datazone", "regional", ""] | None = None
    allow_insecure_http: bool | None = None


class ProviderOut(BaseModel):
    id: str
    name: str
    kind: str
    base_url: str
    api_version: str | None
    deployments: dict[str, str]
    is_default: bool
    has_key: bool
    created_at: datetime
    region: str | None = None
    geography: str | None = None
    deployment_type: str | None = None
    allow_insecure_http: bool = False
    settings: dict[str, Any] = Field(default_factory=dict, description="Non-secret adapter settings")


class RouteTargetIn(Strict):
    provider: str = Field(min_length=1, max_length=100)
    model: str | None = Field(default=None, max_length=200, description="Sent upstream (None: the client's model)")
    weight: int = Field(default=1, description="1..1000, for the weighted strategy")
    deployment_type: Literal["global", "datazone", "regional"] | None = Field(
        default=None, description="Overrides the provider's deployment type for this target"
    )


class RouteCreate(Strict):
    name: str = Field(min_length=1, max_length=200, description="A model name, a `*` pattern or an alias")
    strategy: Literal["ordered", "weighted"] = "ordered"
    targets: list[RouteTargetIn] = Field(description="Tried in this order (weighted: the first picked by weight)")


class RouteTargetOut(BaseModel):
    provider: str
    model: str | None
    weight: int
    deployment_type: str | None


class RouteOut(BaseModel):
    id: str
    name: str
    strategy: str
    targets: list[RouteTargetOut]
    created_at: datetime | None


class Me(BaseModel):
    name: str
    role: str
    member_id: str | None


class KeyRotate(Strict):
    grace: str = Field(default="24h", description="How long the old secret keeps working: 24h, 0s, 7d")


class TeamCreate(Strict):
    name: str = Field(min_length=1, max_length=100)


class TeamPolicy(Strict):
    models: list[str] | None = None
    scopes: dict[str, Literal["none", "read", "write"]] | None = None
    ip_allow: list[str] | None = None
    allow_store: bool | None = Field(default=None, description="Whether the team's keys may let the provider store")
    zero_retention: bool | None = Field(default=None, description="Leave nothing stored at the provider")
    privacy: dict[str, Any] | None = Field(default=None, description="The team's default PII/secret handling")
    residency: list[str] | None = Field(
        default=None, description="Geographies requests may be processed in (eu, us...); see docs/PROVIDERS.md"
    )
    max_key_age_days: int | None = None
    expire_overdue_keys: bool | None = None


class TeamOut(BaseModel):
    id: str
    name: str
    suspended: bool
    policy: dict[str, Any]
    max_key_age_days: int
    expire_overdue_keys: bool
    created_at: datetime


class Lockdown(Strict):
    on: bool


class AdminTokenCreate(Strict):
    member: str
    role: Literal["member", "admin", "auditor", "owner"] | None = None
    expires_in: str = "90d"


class AdminTokenOut(BaseModel):
    id: str
    member: str
    role: str
    display: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class AdminTokenCreated(AdminTokenOut):
    token: str = Field(description="The admin token. Shown once: store it now.")


class CredentialCreate(Strict):
    api_key: str = Field(repr=False, min_length=1)


class CredentialOut(BaseModel):
    id: str
    provider: str
    state: str
    created_at: datetime


class LimitsIn(Strict):
    rpm: int | None = None
    tpm: int | None = None
    concurrency: int | None = None
    budget_usd: float | None = None
    budget_period: Literal["day", "month"] = "month"


class LimitsOut(BaseModel):
    name: str
    limits: dict[str, Any]


class OrgPolicy(Strict):
    """The organisation's ceiling; every field optional (unset: no restriction, except store: forbidden)."""

    models: list[str] | None = Field(default=None, description="Model allowlist; `*` never matches `/`")
    scopes: dict[str, Literal["none", "read", "write"]] | None = None
    ip_allow: list[str] | None = None
    allow_store: bool | None = Field(default=None, description="Whether any key may let the provider store requests")
    zero_retention: bool | None = Field(default=None, description="Leave nothing stored at the provider")
    privacy: dict[str, Any] | None = Field(default=None, description="PII/secret handling; see docs/PRIVACY.md")
    residency: list[str] | None = Field(
        default=None, description="Geographies requests may be processed in (eu, us...); see docs/PROVIDERS.md"
    )


class OrgPolicyOut(BaseModel):
    policy: dict[str, Any] | None = Field(description="None: no organisation policy (no restriction)")


class ObjectClaim(Strict):
    """Assign a stored upstream object vaultgate did not see created to a member (docs/ACCESS.md)."""

    id: str = Field(description="The object's id at the provider (file-..., batch_...)")
    kind: str = Field(description="file, upload, batch, response, chat_completion, conversation, vector_store, ...")
    member: str = Field(description="The member it belongs to from now on")
    provider: str | None = Field(default=None, description="The provider that holds it")


class ObjectOut(BaseModel):
    id: str
    kind: str
    member_id: str
    team_id: str | None
    provider: str | None
