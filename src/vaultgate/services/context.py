"""The control plane's context: store, vault, token hasher, clock, and who is acting."""

from __future__ import annotations

import enum
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from vaultgate.audit import log as audit_log
from vaultgate.audit.signed_head import CheckpointPolicy
from vaultgate.keys.hashing import TokenHasher
from vaultgate.services.audit_keys import AuditKeys
from vaultgate.services.notify import Notifier
from vaultgate.store import errors as store_errors
from vaultgate.store.db import Store
from vaultgate.usage import pricing
from vaultgate.usage.pricing import PriceTable
from vaultgate.vault import Vault


def utcnow() -> datetime:
    """The current time in UTC (the default clock)."""
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    """A new opaque id such as ``key_3f9a0c1d2e4b5a69``."""
    return f"{prefix}_{secrets.token_hex(8)}"


class Role(enum.Enum):
    """Member roles, from most to least powerful."""

    OWNER = "owner"
    ADMIN = "admin"
    AUDITOR = "auditor"
    MEMBER = "member"

    @classmethod
    def parse(cls, text: str) -> Role:
        """A role from its name; ValueError naming the accepted values otherwise."""
        try:
            return cls(text.strip().lower())
        except ValueError:
            raise ValueError(f"unknown role {text!r}: use owner, admin, auditor or member") from None


@dataclass(frozen=True, slots=True)
class Actor:
    """Who performs an operation: a member through the admin API, or the local operator."""

    name: str
    role: Role
    member_id: str | None = None
    team_id: str | None = None

    @property
    def audit_id(self) -> str:
        """How the audit trail names this actor: the member id (never the name, which is personal
        data an erasure removes), or ``cli``/``gateway`` for the local operator and the data plane."""
        return self.member_id or self.name


LOCAL_OPERATOR = Actor(name="cli", role=Role.OWNER)


@dataclass
class ControlPlane:
    """Everything a service operation needs; built once per process and passed in."""

    store: Store
    vault: Vault
    hasher: TokenHasher
    audit_keys: AuditKeys
    clock: Callable[[], datetime] = field(default=utcnow)
    notifier: Notifier = field(default_factory=lambda: Notifier(None))
    prices: PriceTable = field(default_factory=pricing.load)
    # VAULTGATE_ALLOW_LINK_LOCAL_UPSTREAMS: providers may be registered on link-local/metadata hosts.
    allow_link_local_upstreams: bool = False
    # VAULTGATE_AUDIT_CHECKPOINT_RECORDS / _MINUTES: when the audit chain gets a signed checkpoint.
    audit_checkpoints: CheckpointPolicy = field(default_factory=CheckpointPolicy)

    def audit(
        self,
        session: Session,
        actor: Actor,
        action: str,
        target: str | None = None,
        outcome: str = "ok",
        **details: Any,
    ) -> None:
        """Chain a keyed audit record in ``session``'s transaction (fails closed with it), with a signed
        checkpoint when one is due: when the database refuses the record, AuditNotRecorded, and the change
        rolls back with the transaction."""
        session.flush()  # the change's own rows first: their failures are theirs, not the audit's
        try:
            audit_log.append(
                session,
                self.audit_keys.mac_key,
                checkpoints=audit_log.Checkpointing(self.audit_checkpoints, self.audit_keys.signing_key),
                at=self.clock(),
                actor=actor.audit_id,
                action=action,
                target=target,
                outcome=outcome,
                details=details,
            )
        except SQLAlchemyError as exc:
            if store_errors.unavailable(exc):  # a database that is down: answered as such
                raise
            raise store_errors.AuditNotRecorded(
                "the change could not be recorded in the audit trail, so it was not made "
                f"(the database refused the audit record: {store_errors.describe_unavailable(exc)})"
            ) from exc

    def audit_refusal(self, actor: Actor, action: str, target: str | None, reason: str) -> None:
        """Record a refused action in its own transaction (the refused change made none).

        A refusal echoes what was asked for (a member name, an email address), and the trail keeps
        no personal data: the target and every quoted value in the reason become keyed references.
        """
        with self.store.session() as session:
            self.audit(
                session,
                actor,
                action,
                None if target is None else self.audit_ref(target),
                outcome="refused",
                reason=self._without_typed_values(target, reason),
            )

    def _without_typed_values(self, target: str | None, reason: str) -> str:
        """The reason with each quoted value, and the target wherever it still stands, as keyed references."""
        reason = _QUOTED.sub(lambda m: repr(self.audit_ref(m.group(2))), reason)
        if target and not _OPAQUE_ID.fullmatch(target):
            alone = re.compile(rf"(?<![\w.@-]){re.escape(target)}(?![\w.@-])")
            reason = alone.sub(lambda _: self.audit_ref(target), reason)
        return reason

    def audit_ref(self, value: str) -> str:
        """How the audit trail names a value someone typed: opaque ids as they are, anything else
        (it may be a person's name) as ``ref:`` and a keyed pseudonym; ``vaultgate audit ref`` computes it."""
        if _OPAQUE_ID.fullmatch(value):
            return value
        return "ref:" + self.hasher.pseudonym("audit-ref", value, 16)


# Ids vaultgate makes (new_id, upstream object ids) name no person; the trail keeps them as they are.
_OPAQUE_ID = re.compile(r"[a-z]{2,12}_[0-9a-f]{16}|ref:[0-9a-f]{16}")
_QUOTED = re.compile(r"""(['"])(.*?)\1""")
