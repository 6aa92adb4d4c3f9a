"""A key's privacy policy: what happens to each kind of personal data and to secrets in prompts.

JSON form (the ``privacy`` field of a key policy; every part optional)::

    {"pii": {"email": "redact", "phone": "mask", "card": "block", "person": "allow"},
     "secrets": "block" | "redact",
     "response_pii": "off" | "mask"}

Defaults (a key with no privacy policy): every validated format ``redact`` (replaced by a
typed placeholder, restored in the answer), person names ``redact`` when the names extra is
installed (off otherwise), secrets ``block`` (400 ``secret_detected``), response scanning off.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
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
