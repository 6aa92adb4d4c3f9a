"""A key's privacy policy: what happens to each kind of personal data and to secrets in prompts.

JSON form (the ``privacy`` field of a key policy; every part optional)::

    {"pii": {"email": "redact", "phone": "mask", "card": "block", "person": "allow"},
     "secrets": "block" | "redact",
     "response_pii": "off" | "mask"}

Combining (a key under its team's and organisation's policies, see docs/ACCESS.md): the
strictest mode wins, per entity ``allow < redact < mask < block``, secrets ``redact < block``,
answers ``off < mask`` (:func:`strictest`, one rule per field in ``PRIVACY_RULES``).

Defaults (a key with no privacy policy): every validated format ``redact`` (replaced by a
typed placeholder, restored in the answer), person names ``redact`` when the names extra is
installed (off otherwise), secrets ``block`` (400 ``secret_detected``), response scanning off.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, TypeVar

from vaultgate.detect.pii_rules import Entity

E = TypeVar("E", bound=enum.Enum)


class PrivacyPolicyError(ValueError):
    """A privacy policy value cannot be used; the message names the field and the bad value."""


class Mode(enum.Enum):
    """What happens to one kind of personal data."""

    REDACT = "redact"  # typed placeholder upstream, original value restored for the client
    MASK = "mask"  # one-way: the upstream and the client see a masked form
    BLOCK = "block"  # 400 pii_blocked
    ALLOW = "allow"  # sent as is


class SecretMode(enum.Enum):
    """What happens to a credential found in a prompt."""

    BLOCK = "block"
    REDACT = "redact"


class ResponseMode(enum.Enum):
    """Whether personal data that only the model's answer contains is masked too."""

    OFF = "off"
    MASK = "mask"


DEFAULT_PII: Mapping[Entity, Mode] = MappingProxyType({e: Mode.REDACT for e in Entity})


@dataclass(frozen=True, slots=True)
class PrivacyPolicy:
    """Modes per entity type, for secrets, and for the answer."""

    pii: Mapping[Entity, Mode] = field(default_factory=lambda: DEFAULT_PII)
    secrets: SecretMode = SecretMode.BLOCK
    response_pii: ResponseMode = ResponseMode.OFF
    # Derived once: the hot path asks for it on every request.
    _scanned: frozenset[Entity] = field(init=False, repr=False, compare=False, default=frozenset())

    def __post_init__(self) -> None:
        object.__setattr__(self, "_scanned", frozenset(e for e in Entity if self.mode(e) is not Mode.ALLOW))

    def mode(self, entity: Entity) -> Mode:
        """The mode for ``entity`` (default: redact)."""
        return self.pii.get(entity, Mode.REDACT)

    def scanned(self) -> frozenset[Entity]:
        """The entity types that must be looked for (every mode but allow)."""
        return self._scanned

    def to_json(self) -> dict[str, Any]:
        """The JSON form (only entity modes that differ from the default are listed)."""
        return {
            "pii": {e.value: m.value for e, m in self.pii.items() if m is not Mode.REDACT},
            "secrets": self.secrets.value,
            "response_pii": self.response_pii.value,
        }

    @classmethod
    def from_json(cls, data: Any) -> PrivacyPolicy:
        """Parse and validate the JSON form; PrivacyPolicyError naming the bad value."""
        if data is None:
            return DEFAULT_POLICY
        if not isinstance(data, Mapping):
            raise PrivacyPolicyError("privacy must be an object with pii, secrets and response_pii")
        unknown = set(data) - {"pii", "secrets", "response_pii"}
        if unknown:
            raise PrivacyPolicyError(f"unknown privacy field(s): {', '.join(sorted(unknown))}")
        raw = data.get("pii") or {}
        if not isinstance(raw, Mapping):
            raise PrivacyPolicyError("privacy.pii must map entity types to redact, mask, block or allow")
        pii = dict(DEFAULT_PII)
        for name, mode in raw.items():
            pii[_parse(Entity, name, "privacy.pii entity")] = _parse(Mode, mode, f"privacy.pii.{name}")
        return cls(
            pii=MappingProxyType(pii),
            secrets=_parse(SecretMode, data.get("secrets") or "block", "privacy.secrets"),
            response_pii=_parse(ResponseMode, data.get("response_pii") or "off", "privacy.response_pii"),
        )


def _parse(kind: type[E], value: Any, where: str) -> E:
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(str(m.value) for m in kind)
        raise PrivacyPolicyError(f"{where}: {value!r} is not one of {choices}") from None


DEFAULT_POLICY = PrivacyPolicy()


# Strictness orders: a later member is stricter. The order of Mode's members is not used,
# so adding a mode forces a decision here (the import check below fails otherwise).
MODE_ORDER: tuple[Mode, ...] = (Mode.ALLOW, Mode.REDACT, Mode.MASK, Mode.BLOCK)
SECRET_ORDER: tuple[SecretMode, ...] = (SecretMode.REDACT, SecretMode.BLOCK)
RESPONSE_ORDER: tuple[ResponseMode, ...] = (ResponseMode.OFF, ResponseMode.MASK)


def stricter(a: E, b: E, order: tuple[E, ...]) -> E:
    """The stricter of two modes in ``order``."""
    return a if order.index(a) >= order.index(b) else b


def looser(a: E, b: E, order: tuple[E, ...]) -> bool:
    """Whether ``a`` allows more than ``b`` in ``order``."""
    return order.index(a) < order.index(b)


@dataclass(frozen=True, slots=True)
class PrivacyRule:
    """How one field of two privacy policies combines, and when one is wider than the other."""

    combine: Callable[[PrivacyPolicy, PrivacyPolicy], Any]
    # The names (``pii.email``) where the first policy allows more than the second; empty if none.
    wider: Callable[[PrivacyPolicy, PrivacyPolicy], tuple[str, ...]]


PRIVACY_RULES: Mapping[str, PrivacyRule] = MappingProxyType(
    {
        "pii": PrivacyRule(
            lambda a, b: MappingProxyType({e: stricter(a.mode(e), b.mode(e), MODE_ORDER) for e in Entity}),
            lambda a, b: tuple(f"pii.{e.value}" for e in Entity if looser(a.mode(e), b.mode(e), MODE_ORDER)),
        ),
        "secrets": PrivacyRule(
            lambda a, b: stricter(a.secrets, b.secrets, SECRET_ORDER),
            lambda a, b: ("secrets",) if looser(a.secrets, b.secrets, SECRET_ORDER) else (),
        ),
        "response_pii": PrivacyRule(
            lambda a, b: stricter(a.response_pii, b.response_pii, RESPONSE_ORDER),
            lambda a, b: ("response_pii",) if looser(a.response_pii, b.response_pii, RESPONSE_ORDER) else (),
        ),
    }
)


def _check_rules() -> None:
    # A field without a combine rule would be silently dropped from the enforced policy.
    settable = {f.name for f in fields(PrivacyPolicy) if f.init}
    if settable != set(PRIVACY_RULES):
        raise TypeError(f"PRIVACY_RULES must cover exactly the fields of PrivacyPolicy: {sorted(settable)}")
    for members, order in ((Mode, MODE_ORDER), (SecretMode, SECRET_ORDER), (ResponseMode, RESPONSE_ORDER)):
        if set(members) != set(order):
            raise TypeError(f"every {members.__name__} needs a place in its strictness order")


_check_rules()


def strictest(a: PrivacyPolicy, b: PrivacyPolicy) -> PrivacyPolicy:
    """The privacy policy that is at least as strict as both, field by field."""
    return PrivacyPolicy(**{name: rule.combine(a, b) for name, rule in PRIVACY_RULES.items()})


def wider_parts(policy: PrivacyPolicy, ceiling: PrivacyPolicy) -> tuple[str, ...]:
    """Where ``policy`` allows more than ``ceiling`` (``pii.email``, ``secrets``...); empty if nowhere."""
    return tuple(part for rule in PRIVACY_RULES.values() for part in rule.wider(policy, ceiling))
