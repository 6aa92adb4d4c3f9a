"""Settings from ``VAULTGATE_*`` environment variables or a ``vaultgate.toml``; the environment wins.

The file is looked up at ``$VAULTGATE_CONFIG``, else ``./vaultgate.toml``, else
``<data dir>/vaultgate.toml``. Keys in the file are the variable names without the
``VAULTGATE_`` prefix, in lower case (``database_url = "postgresql://..."``).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

DEFAULT_MAX_BODY_BYTES = 20 * 1024 * 1024


class ConfigError(ValueError):
    """A setting has a value vaultgate cannot use; the message names the setting."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything vaultgate reads from its environment, resolved once at start-up."""

    data_dir: Path = Path(".data")
    database_url: str | None = None
    redis_url: str | None = None
    # Limits (issue 4): Redis keys live under this prefix; prices_file overrides usage/prices.toml entries.
    limits_prefix: str = "vaultgate:limits:"
    limits_timeout: float = 0.5
    prices_file: Path | None = None
    master_key: str | None = field(default=None, repr=False)
    master_key_file: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    # TLS for `vaultgate serve` (PEM files); both or neither. TLS 1.2 is the minimum accepted.
    tls_cert: Path | None = None
    tls_key: Path | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    refresh_interval: float = 0.5
    usage_flush_interval: float = 0.5
    upstream_timeout: float = 600.0
    log_level: str = "info"
    # "text" for people, "json" (one object per line) for collectors; and one line per request.
    log_format: str = "text"
    access_log: bool = True
    webhook_url: str | None = None
    # Proxies whose X-Forwarded-For is believed (comma-separated addresses or CIDRs).
    trusted_proxies: str = ""
    rotation_check_interval: float = 600.0
    # Short-lived token exchanges allowed per member key per minute (shared by replicas with Redis).
    token_exchange_rpm: int = 20
    # Swagger UI at /admin/docs (assets served from the package, never a CDN); off by default.
    admin_docs: bool = False
    # Providers on link-local and cloud metadata addresses (169.254.169.254 ...) are refused unless this is set.
    allow_link_local_upstreams: bool = False
    # Protocol hygiene (issue 9): slow or oversized requests are cut off before they hold a connection.
    header_timeout: float = 10.0
    body_idle_timeout: float = 15.0
    body_timeout: float = 120.0
    max_header_count: int = 100
    max_header_bytes: int = 32 * 1024
    keepalive_timeout: int = 5
    # Privacy scan bounds (issue 9): a deadline in seconds and a body size budget in bytes; past either, fail closed.
    privacy_scan_timeout: float = 10.0
    privacy_scan_max_bytes: int = 8 * 1024 * 1024
    # Retries and failover (issue 10, docs/PROVIDERS.md): attempts per deployment, the time within which a
    # further attempt may start, the backoff (also the longest retry-after honoured), the circuit breakers.
    upstream_max_attempts: int = 3
    upstream_retry_budget: float = 30.0
    upstream_backoff_base: float = 0.5
    upstream_backoff_max: float = 8.0
    upstream_connect_timeout: float = 10.0
    upstream_breaker_threshold: int = 5
    upstream_breaker_cool_down: float = 30.0
    # Hostile upstreams: the longest whole answer read, and the longest single SSE event relayed.
    max_upstream_response_bytes: int = 64 * 1024 * 1024
    max_upstream_event_bytes: int = 8 * 1024 * 1024
    # Bounded staleness (issue 11): seconds a replica may serve keys without reaching its database.
    max_staleness: float = 30.0
    # Graceful shutdown: seconds requests in flight may take to finish before they are ended.
    drain_timeout: float = 25.0
    # When set, GET /metrics requires "Authorization: Bearer <this token>".
    metrics_token: str | None = field(default=None, repr=False)
    tracing: bool = False  # OpenTelemetry spans of /v1 requests (the `tracing` extra; OTEL_* configure the export)
    # Refuse `serve --workers N` (N > 1) without Redis, where every worker would count limits alone.
    require_shared_limits: bool = False

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

    def with_data_dir(self, data_dir: Path) -> Settings:
        """A copy of these settings pointing at another data dir."""
        return replace(self, data_dir=data_dir)


_CASTS: dict[str, Any] = {
    "data_dir": Path,
    "master_key_file": Path,
    "prices_file": Path,
    "tls_cert": Path,
    "tls_key": Path,
    "limits_timeout": float,
    "port": int,
    "max_body_bytes": int,
    "refresh_interval": float,
    "usage_flush_interval": float,
    "upstream_timeout": float,
    "rotation_check_interval": float,
    "token_exchange_rpm": int,
    "header_timeout": float,
    "body_idle_timeout": float,
    "body_timeout": float,
    "max_header_count": int,
    "max_header_bytes": int,
    "keepalive_timeout": int,
    "privacy_scan_timeout": float,
    "privacy_scan_max_bytes": int,
    "upstream_max_attempts": int,
    "upstream_retry_budget": float,
    "upstream_backoff_base": float,
    "upstream_backoff_max": float,
    "upstream_connect_timeout": float,
    "upstream_breaker_threshold": int,
    "upstream_breaker_cool_down": float,
    "max_upstream_response_bytes": int,
    "max_upstream_event_bytes": int,
    "max_staleness": float,
    "drain_timeout": float,
}
# A zero or negative limit would refuse everything (or, for a timeout, nothing would ever finish).
_POSITIVE = frozenset(
    {
        "header_timeout",
        "body_idle_timeout",
        "body_timeout",
        "max_header_count",
        "max_header_bytes",
        "keepalive_timeout",
        "upstream_max_attempts",
        "upstream_connect_timeout",
        "upstream_breaker_threshold",
        "upstream_breaker_cool_down",
        "max_upstream_response_bytes",
        "max_upstream_event_bytes",
        "max_staleness",
        "drain_timeout",
    }
)
# Zero is meaningful (no retry budget, no backoff); a negative value is not.
_NOT_NEGATIVE = frozenset({"upstream_retry_budget", "upstream_backoff_base", "upstream_backoff_max"})


_BOOLEANS = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False, "off": False}


def _boolean(name: str, value: object) -> bool:
    # A typo ("ture") must not silently mean "off" for a security switch: refuse anything unknown.
    if isinstance(value, bool):
        return value
    parsed = _BOOLEANS.get(str(value).strip().lower())
    if parsed is None:
        raise ConfigError(f"VAULTGATE_{name.upper()}: use true or false, not {value!r}")
    return parsed


# Settings that take one of a few words.
_CHOICES: dict[str, tuple[str, ...]] = {
    "log_level": ("debug", "info", "warning", "error", "critical"),
    "log_format": ("text", "json"),
}


def _cast(name: str, value: object) -> object:
    setting = Settings.__dataclass_fields__.get(name)
    if setting is not None and setting.type in ("bool", bool):
        return _boolean(name, value)
    choices = _CHOICES.get(name)
    if choices is not None:
        word = str(value).strip().lower()
        if word not in choices:
            raise ConfigError(f"VAULTGATE_{name.upper()}: use one of {', '.join(choices)}, not {value!r}")
        return word
    cast = _CASTS.get(name)
    if cast is None:
        return str(value)
    # TOML hands over typed values: int(True) == 1 and int(8080.5) == 8080 would pass silently.
    if isinstance(value, bool) or (cast is int and isinstance(value, float)):
        raise ConfigError(f"VAULTGATE_{name.upper()}: cannot use {value!r}")
    try:
        result = cast(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"VAULTGATE_{name.upper()}: cannot use {value!r}") from exc
    if name in _POSITIVE and not result > 0:
        raise ConfigError(f"VAULTGATE_{name.upper()}: must be greater than zero, not {value!r}")
    if name in _NOT_NEGATIVE and not result >= 0:
        raise ConfigError(f"VAULTGATE_{name.upper()}: must not be negative, not {value!r}")
    return result


def _file_values(environ: Mapping[str, str]) -> dict[str, object]:
    candidates = []
    if "VAULTGATE_CONFIG" in environ:
        candidates.append(Path(environ["VAULTGATE_CONFIG"]))
    candidates.append(Path("vaultgate.toml"))
    candidates.append(Path(environ.get("VAULTGATE_DATA_DIR", ".data")) / "vaultgate.toml")
    for path in candidates:
        if path.is_file():
            try:
                return dict(tomllib.loads(path.read_text()))
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"{path}: {exc}") from exc
    return {}


def load(environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Settings from the file, then the environment, then explicit overrides (CLI flags)."""
    env = os.environ if environ is None else environ
    names = {f for f in Settings.__dataclass_fields__}
    values: dict[str, object] = {}
    for key, value in _file_values(env).items():
        if key not in names:
            raise ConfigError(f"vaultgate.toml: unknown setting {key!r}")
        values[key] = _cast(key, value)
    for name in names:
        raw = env.get(f"VAULTGATE_{name.upper()}")
        if raw not in (None, ""):
            values[name] = _cast(name, raw)
    for name, value in overrides.items():
        if value is not None:
            values[name] = _cast(name, value)
    return Settings(**values)  # type: ignore[arg-type]
