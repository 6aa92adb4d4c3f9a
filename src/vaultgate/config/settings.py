"""``Settings``: every setting vaultgate reads, with its type, range and default, validated as one model.

Field names are the file keys and, upper-cased behind ``VAULTGATE_``, the variable names
(docs/CONFIGURATION.md documents each; deploy/vaultgate.example.toml lists each with its default).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self

from pydantic import Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from vaultgate.config.errors import ConfigError, Problem
from vaultgate.config.messages import problems, render, unknown_setting
from vaultgate.config.value_types import (
    Count,
    CountOrZero,
    DatabaseURL,
    Directory,
    Domains,
    HttpURL,
    LogFormat,
    LogLevel,
    Networks,
    OptionalPath,
    OptionalText,
    Port,
    RedisURL,
    Seconds,
    SecondsOrZero,
    Switch,
    Text,
)

DEFAULT_MAX_BODY_BYTES = 20 * 1024 * 1024


class Settings(BaseSettings):
    """Everything vaultgate reads from its environment, validated and resolved once at start-up; immutable.

    ``Settings(port=9000)`` validates exactly the values given (defaults for the rest) and reads
    nothing else; ``config.load()`` adds the file and the ``VAULTGATE_*`` environment. A changed
    copy comes from ``evolve`` (validated), never from ``model_copy`` (which does not validate).
    A bad value raises ``ConfigError`` naming the setting.
    """

    model_config = SettingsConfigDict(
        env_prefix="VAULTGATE_",
        env_ignore_empty=True,  # an empty variable does not override the file
        extra="forbid",  # an unknown key in the file is a typo, not something to ignore
        frozen=True,
        allow_inf_nan=False,  # an infinite timeout would overflow where it is turned into an int
        validate_default=True,
        hide_input_in_errors=True,  # a ValidationError's text never repeats a secret
    )

    data_dir: Directory = Path(".data")
    database_url: DatabaseURL = None
    redis_url: RedisURL = None
    # Limits (issue 4): Redis keys live under this prefix; prices_file overrides usage/prices.toml entries.
    limits_prefix: Text = "vaultgate:limits:"
    limits_timeout: Seconds = 2.0
    prices_file: OptionalPath = None
    master_key: OptionalText = Field(default=None, repr=False)
    master_key_file: OptionalPath = None
    host: Text = "127.0.0.1"
    port: Port = 8080
    # TLS for `vaultgate serve` (PEM files); both or neither. TLS 1.2 is the minimum accepted.
    tls_cert: OptionalPath = None
    tls_key: OptionalPath = None
    max_body_bytes: Count = DEFAULT_MAX_BODY_BYTES
    refresh_interval: Seconds = 0.5
    usage_flush_interval: Seconds = 0.5
    # Days per-request usage records are kept (`serve` purges older ones daily; docs/USAGE.md); 0 keeps them forever.
    usage_retention_days: CountOrZero = 400
    # Seconds between writes of the summarised security events (auth.failures, gateway.refusals) to the audit trail.
    security_events_flush_seconds: Seconds = 10.0
    upstream_timeout: Seconds = 600.0
    log_level: LogLevel = "info"
    # "text" for people, "json" (one object per line) for collectors; and one line per request.
    log_format: LogFormat = "text"
    access_log: Switch = True
    webhook_url: OptionalText = None
    # Proxies whose X-Forwarded-For is believed (comma-separated addresses or CIDRs).
    trusted_proxies: Networks = ""
    rotation_check_interval: Seconds = 600.0
    # Short-lived token exchanges allowed per member key per minute, 0 for no limit (shared by replicas with Redis).
    token_exchange_rpm: CountOrZero = 20
    # Swagger UI at /admin/docs (assets served from the package, never a CDN); off by default.
    admin_docs: Switch = False
    # Providers on link-local and cloud metadata addresses (169.254.169.254 ...) are refused unless this is set.
    allow_link_local_upstreams: Switch = False
    # Protocol hygiene (issue 9): slow or oversized requests are cut off before they hold a connection.
    header_timeout: Seconds = 10.0
    body_idle_timeout: Seconds = 15.0
    body_timeout: Seconds = 120.0
    max_header_count: Count = 100
    max_header_bytes: Count = 32 * 1024
    keepalive_timeout: Count = 5
    # Privacy scan bounds (issue 9): a deadline in seconds and a body size budget in bytes; past either, fail closed.
    privacy_scan_timeout: Seconds = 10.0
    privacy_scan_max_bytes: Count = 8 * 1024 * 1024
    # Retries and failover (issue 10, docs/PROVIDERS.md): attempts per deployment, the time within which a
    # further attempt may start, the backoff (also the longest retry-after honoured), the circuit breakers.
    upstream_max_attempts: Count = 3
    upstream_retry_budget: SecondsOrZero = 30.0
    upstream_backoff_base: SecondsOrZero = 0.5
    upstream_backoff_max: SecondsOrZero = 8.0
    upstream_connect_timeout: Seconds = 10.0
    upstream_breaker_threshold: Count = 5
    upstream_breaker_cool_down: Seconds = 30.0
    # Hostile upstreams: the longest whole answer read, and the longest single SSE event relayed.
    max_upstream_response_bytes: Count = 64 * 1024 * 1024
    max_upstream_event_bytes: Count = 8 * 1024 * 1024
    # Bounded staleness (issue 11): seconds a replica may serve keys without reaching its database.
    max_staleness: Seconds = 30.0
    # Graceful shutdown: seconds requests in flight may take to finish before they are ended.
    drain_timeout: Seconds = 25.0
    # When set, GET /metrics requires "Authorization: Bearer <this token>".
    metrics_token: OptionalText = Field(default=None, repr=False)
    # OpenTelemetry spans of /v1 requests (the `tracing` extra; OTEL_* configure the export).
    tracing: Switch = False
    # Refuse `serve --workers N` (N > 1) without Redis, where every worker would count limits alone.
    require_shared_limits: Switch = False
    # The posture report (`vaultgate doctor`, docs/POSTURE.md): the age past which a key of a team with no
    # max age of its own is flagged, the distinct client networks and user agents a key may have in one day
    # before it looks shared, over how many days usage is read, the age past which a provider credential is
    # due, and how long a reachability probe (Redis, each provider) may take.
    posture_max_key_age_days: Count = 90
    posture_shared_key_networks: Count = 3
    posture_shared_key_agents: Count = 3
    posture_window_days: Count = 7
    posture_provider_key_max_age_days: Count = 90
    posture_probe_timeout: Seconds = 5.0
    # Signed audit checkpoints (docs/AUDIT.md): every N records, or on the first append M whole minutes after the last.
    audit_checkpoint_records: Count = 100
    audit_checkpoint_minutes: Count = 60
    # Single sign-on for the console (docs/IDENTITY.md): the OpenID Connect issuer, this gateway's client id
    # there (the client secret is sealed in the vault: `vaultgate identity oidc-secret`), the callback URL
    # registered with the issuer (https://<gateway>/console/sso/callback), the email domains allowed to sign
    # in (empty: any the issuer vouches for), the claim carrying the person's groups, and the scopes asked for.
    oidc_issuer: HttpURL = None
    oidc_client_id: OptionalText = None
    oidc_redirect_url: HttpURL = None
    oidc_allowed_domains: Domains = ""
    oidc_groups_claim: Text = "groups"
    oidc_scopes: Text = "openid email profile"

    def __init__(self, **values: Any) -> None:
        """Validate exactly ``values`` (defaults for the rest); ConfigError naming the setting otherwise."""
        fields = type(self).model_fields
        # Refused before BaseSettings sees them: a key such as `_env_file` would be taken as one of its options.
        unknown = [Problem(name, unknown_setting(name, fields)) for name in values if name not in fields]
        if unknown:
            raise ConfigError(render(unknown, str), unknown)
        try:
            super().__init__(**values)
        except ValidationError as exc:
            found = problems(exc, fields)
            raise ConfigError(render(found, str), found) from None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only the values given: ``config.load`` reads the file and the environment itself, naming each source."""
        return (init_settings,)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        # The snapshot is confirmed once per refresh: a shorter bound would refuse every key between two checks.
        if self.max_staleness <= self.refresh_interval:
            raise PydanticCustomError(
                "staleness",
                "must be greater than refresh_interval ({refresh_interval}), not {max_staleness}",
                {
                    "setting": "max_staleness",
                    "refresh_interval": self.refresh_interval,
                    "max_staleness": self.max_staleness,
                },
            )
        # Single sign-on needs its client id and its callback URL as the issuer knows them.
        if self.oidc_issuer and not (self.oidc_client_id and self.oidc_redirect_url):
            missing = "oidc_client_id" if not self.oidc_client_id else "oidc_redirect_url"
            raise PydanticCustomError(
                "oidc", "must be set with oidc_issuer (single sign-on needs it)", {"setting": missing}
            )
        return self

    @property
    def resolved_database_url(self) -> str:
        """The database URL as given, or SQLite in the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'vaultgate.db').resolve()}"

    @property
    def resolved_master_key_file(self) -> Path:
        """Where the master key file is (explicit, or ``master.key`` in the data dir)."""
        return self.master_key_file or self.data_dir / "master.key"

    def evolve(self, **changes: Any) -> Settings:
        """A copy with ``changes``, validated like any settings (ConfigError naming the setting otherwise)."""
        return Settings(**{**dict(self), **changes})

    def with_data_dir(self, data_dir: Path) -> Settings:
        """A copy of these settings pointing at another data dir."""
        return self.evolve(data_dir=data_dir)
