"""What a key grants: the values the hot path decides from, built from the store at refresh."""

from __future__ import annotations

import fnmatch
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from vaultgate.limits.rules import NO_LIMITS, ScopedLimits
from vaultgate.policy.scopes import GROUPS, Level, parse_level
from vaultgate.privacy.modes import PrivacyPolicy, PrivacyPolicyError

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class PolicyError(ValueError):
    """A policy value cannot be used; the message names the field and the bad value."""


@dataclass(frozen=True, slots=True)
class KeyPolicy:
    """A key's restrictions. Empty ``models`` means every model; missing scopes mean write."""

    models: tuple[str, ...] = ()
    scopes: Mapping[str, Level] = field(default_factory=lambda: MappingProxyType({}))
    ip_allow: tuple[IPNetwork, ...] = ()
    allow_store: bool = False
    # PII and secret handling (issue 5); None: the team's, else the defaults of privacy/modes.py.
    privacy: PrivacyPolicy | None = None

    def level(self, group: str) -> Level:
        """The key's access to an endpoint group."""
        return self.scopes.get(group, Level.WRITE)

    def allows_model(self, model: str) -> bool:
        """Whether ``model`` matches the allowlist (shell-style wildcards: ``gpt-4o*``)."""
        if not self.models:
            return True
        return any(fnmatch.fnmatchcase(model, pattern) for pattern in self.models)

    def allows_ip(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> bool:
        """Whether the client address is inside the allowlist (no list: any address)."""
        if not self.ip_allow:
            return True
        if address is None:
            return False
        candidates: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = [address]
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            # A dual-stack listener reports IPv4 clients as ::ffff:a.b.c.d.
            candidates.append(address.ipv4_mapped)
        return any(a in n for a in candidates for n in self.ip_allow if n.version == a.version)

    def to_json(self) -> dict[str, Any]:
        """The JSON form stored with the key and shown by the API."""
        out: dict[str, Any] = {
            "models": list(self.models),
            "scopes": {g: lvl.name.lower() for g, lvl in sorted(self.scopes.items())},
            "ip_allow": [str(n) for n in self.ip_allow],
            "allow_store": self.allow_store,
        }
        if self.privacy is not None:
            out["privacy"] = self.privacy.to_json()
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> KeyPolicy:
        """Parse and validate the stored or submitted JSON form; PolicyError on bad values."""
        unknown = set(data) - {"models", "scopes", "ip_allow", "allow_store", "privacy"}
        if unknown:
            raise PolicyError(f"unknown policy field(s): {', '.join(sorted(unknown))}")
        models = tuple(m.strip() for m in _strings(data, "models") if m.strip())
        raw_scopes = data.get("scopes") or {}
        if not isinstance(raw_scopes, Mapping):
            raise PolicyError("scopes must map endpoint groups to none, read or write")
        allow_store = False if data.get("allow_store") is None else data["allow_store"]
        if not isinstance(allow_store, bool):
            raise PolicyError(f"allow_store must be true or false, not {allow_store!r}")
        scopes: dict[str, Level] = {}
        for group, level in raw_scopes.items():
            if group not in GROUPS:
                raise PolicyError(f"unknown endpoint group {group!r}: use one of {', '.join(GROUPS)}")
            try:
                scopes[group] = parse_level(str(level))
            except ValueError as exc:
                raise PolicyError(f"scope {group}: {exc}") from None
        return cls(
            models=models,
            scopes=MappingProxyType(scopes),
            ip_allow=tuple(parse_network(n) for n in _strings(data, "ip_allow")),
            allow_store=allow_store,
            privacy=_privacy(data.get("privacy")),
        )


def _privacy(data: Any) -> PrivacyPolicy | None:
    if data is None:
        return None
    try:
        return PrivacyPolicy.from_json(data)
    except PrivacyPolicyError as exc:
        raise PolicyError(str(exc)) from None


def _strings(data: Mapping[str, Any], name: str) -> list[str]:
    # A bare string would otherwise be read as a list of its characters.
    value = data.get(name) or []
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise PolicyError(f"{name} must be a list of strings")
    return list(value)


def parse_network(text: str) -> IPNetwork:
    """An IPv4/IPv6 address or CIDR; PolicyError naming the bad value otherwise."""
    try:
        return ipaddress.ip_network(str(text).strip(), strict=False)
    except ValueError:
        raise PolicyError(f"not an IP address or CIDR: {text!r}") from None


@dataclass(frozen=True, slots=True)
class KeyGrant:
    """One usable credential as the hot path sees it (a live key, or a rotated-out secret in grace)."""

    key_id: str
    member_id: str
    member_name: str
    team_id: str | None
    policy: KeyPolicy
    expires_at: datetime | None
    member_active: bool = True
    pseudonym: str = ""
    # Policies a request must pass as well as its own: the team's ceiling and, for a
    # short-lived token, the policy of the key it was exchanged for.
    ceilings: tuple[KeyPolicy, ...] = ()
    team_active: bool = True
    not_before: datetime | None = None
    short_lived: bool = False
    # Rate limits and budgets of the key, its member and its team (issue 4: limits/).
    limits: ScopedLimits = NO_LIMITS
