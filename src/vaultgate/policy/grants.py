"""What a key grants: the values the hot path decides from, built from the store at refresh."""

from __future__ import annotations

import ipaddress
import re
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


def model_pattern(pattern: str) -> re.Pattern[str]:
    """The model allowlist syntax: ``*`` is any run of characters except ``/``; all else is literal.

    ``?`` and ``[`` are plain characters (fnmatch gave them meaning and let ``*`` cross ``/``,
    so ``gpt-*`` matched ``gpt-x/../../files``).
    """
    return re.compile("[^/]*".join(re.escape(part) for part in pattern.split("*")), re.DOTALL)


def _compile(lists: tuple[tuple[str, ...], ...]) -> tuple[tuple[re.Pattern[str], ...], ...]:
    return tuple(tuple(model_pattern(p) for p in patterns) for patterns in lists if patterns)


_JSON_FIELDS = frozenset(
    {
        "models",
        "scopes",
        "ip_allow",
        "allow_store",
        "privacy",
        "residency",
        "model_ceilings",
        "ip_ceilings",
        "zero_retention",
    }
)
# A geography label ("eu", "us", "apac"...): what providers are tagged with and residency allows.
GEOGRAPHY = re.compile(r"[a-z][a-z0-9-]{0,19}")


def parse_geography(text: str) -> str:
    """A geography label, lower-cased; PolicyError naming the bad value otherwise."""
    label = str(text).strip().lower()
    if not GEOGRAPHY.fullmatch(label):
        raise PolicyError(f"not a geography: {str(text)[:40]!r} (use a short label such as eu or us)")
    return label


@dataclass(frozen=True, slots=True)
class KeyPolicy:
    """A key's restrictions. Empty ``models`` means every model; missing scopes mean write.

    ``model_ceilings`` and ``ip_ceilings`` hold the further allowlists an effective policy
    (:mod:`vaultgate.policy.effective`) inherits from its ceilings: a model or an address must
    match its own list *and each of these*. A policy a person writes leaves them empty.
    """

    models: tuple[str, ...] = ()
    scopes: Mapping[str, Level] = field(default_factory=lambda: MappingProxyType({}))
    ip_allow: tuple[IPNetwork, ...] = ()
    allow_store: bool = False
    # PII and secret handling (issue 5); None: no opinion (the ceilings', else the defaults of privacy/modes.py).
    privacy: PrivacyPolicy | None = None
    # Data residency (docs/PROVIDERS.md): the geographies requests may be processed in; None: anywhere.
    # An empty set (two ceilings with nothing in common) allows no deployment at all.
    residency: frozenset[str] | None = None
    model_ceilings: tuple[tuple[str, ...], ...] = ()
    ip_ceilings: tuple[tuple[IPNetwork, ...], ...] = ()
    # Zero retention (issue 10): nothing the provider would keep — no stored objects, no store,
    # background or server-side conversation state (docs/PRIVACY.md). True is the strict value.
    zero_retention: bool = False
    # Derived once: the hot path matches models on every request.
    _model_matchers: tuple[tuple[re.Pattern[str], ...], ...] = field(init=False, repr=False, compare=False, default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "_model_matchers", _compile((self.models, *self.model_ceilings)))

    def level(self, group: str) -> Level:
        """The key's access to an endpoint group."""
        return self.scopes.get(group, Level.WRITE)

    def restricts_models(self) -> bool:
        """Whether any model allowlist is in force (then a request must name its model)."""
        return bool(self._model_matchers)

    def allows_model(self, model: str) -> bool:
        """Whether ``model`` matches every allowlist in force (``*``: any run of characters but ``/``)."""
        return all(any(m.fullmatch(model) for m in matchers) for matchers in self._model_matchers)

    def allows_zone(self, zone: str | None) -> bool:
        """Whether a deployment processing in ``zone`` (None: anywhere or unknown) satisfies the residency."""
        return self.residency is None or (zone is not None and zone in self.residency)

    def allows_ip(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> bool:
        """Whether the client address is inside every IP allowlist in force (no list: any address)."""
        return all(_inside(address, networks) for networks in (self.ip_allow, *self.ip_ceilings) if networks)

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
        if self.residency is not None:
            out["residency"] = sorted(self.residency)
        if self.model_ceilings:
            out["model_ceilings"] = [list(patterns) for patterns in self.model_ceilings]
        if self.ip_ceilings:
            out["ip_ceilings"] = [[str(n) for n in networks] for networks in self.ip_ceilings]
        if self.zero_retention:
            out["zero_retention"] = True
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> KeyPolicy:
        """Parse and validate the stored or submitted JSON form; PolicyError on bad values."""
        unknown = set(data) - _JSON_FIELDS
        if unknown:
            raise PolicyError(f"unknown policy field(s): {', '.join(sorted(unknown))}")
        models = tuple(m.strip() for m in _strings(data, "models") if m.strip())
        raw_scopes = data.get("scopes") or {}
        if not isinstance(raw_scopes, Mapping):
            raise PolicyError("scopes must map endpoint groups to none, read or write")
        allow_store = False if data.get("allow_store") is None else data["allow_store"]
        if not isinstance(allow_store, bool):
            raise PolicyError(f"allow_store must be true or false, not {allow_store!r}")
        zero_retention = False if data.get("zero_retention") is None else data["zero_retention"]
        if not isinstance(zero_retention, bool):
            raise PolicyError(f"zero_retention must be true or false, not {zero_retention!r}")
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
            residency=_residency(data.get("residency")),
            model_ceilings=tuple(tuple(_pattern_list(p)) for p in _lists(data, "model_ceilings")),
            ip_ceilings=tuple(tuple(parse_network(n) for n in _pattern_list(p)) for p in _lists(data, "ip_ceilings")),
            zero_retention=zero_retention,
        )


def _inside(address: ipaddress.IPv4Address | ipaddress.IPv6Address | None, networks: tuple[IPNetwork, ...]) -> bool:
    if address is None:
        return False
    candidates: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = [address]
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        # A dual-stack listener reports IPv4 clients as ::ffff:a.b.c.d.
        candidates.append(address.ipv4_mapped)
    return any(a in n for a in candidates for n in networks if n.version == a.version)


def _lists(data: Mapping[str, Any], name: str) -> list[Any]:
    # The inherited allowlists of an effective policy: only ever written by vaultgate itself.
    value = data.get(name) or []
    if not isinstance(value, list | tuple):
        raise PolicyError(f"{name} must be a list of lists of strings")
    return list(value)


def _pattern_list(value: Any) -> list[str]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value) or not value:
        raise PolicyError("an inherited allowlist must be a non-empty list of strings")
    return [v.strip() for v in value]


def _residency(value: Any) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str):  # a single label is a natural spelling: "eu"
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise PolicyError('residency must be a list of geographies such as ["eu"]')
    return frozenset(parse_geography(v) for v in value)


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
    # The EFFECTIVE policy: organisation, team, key (and for a vgt_ token, the token's own)
    # combined once by policy.effective.combine when the snapshot is built. Nothing else is checked.
    policy: KeyPolicy
    expires_at: datetime | None
    member_active: bool = True
    pseudonym: str = ""
    team_active: bool = True
    not_before: datetime | None = None
    short_lived: bool = False
    # Rate limits and budgets of the key, its member and its team (issue 4: limits/).
    limits: ScopedLimits = NO_LIMITS
    # The team whose members' stored objects (files, batches...) the holder sees besides their own:
    # decided by services/access.py when the snapshot is built (a team admin's team), else None.
    sees_objects_of_team: str | None = None
    # For ``GET /v1/vaultgate/whoami``: the team's name and the key's display form (``vgk_AbCd…wxyz``,
    # a token keeps its key's), never a secret.
    team_name: str | None = None
    key_display: str = ""
