"""Security events the data plane counts in memory: authentication failures and policy refusals.

The data plane adds one count per event, on the event loop (a dictionary update, no I/O, no
lock); every ``security_events_flush_seconds`` the hooks (``vaultgate.hooks``) drain the counts,
also on the event loop, and write one audit record per pair:

- ``auth.failures`` per (credential, source): the credential is the key id when the replica knows
  it (an expired key), else the token's display form (``vgk_AbCd…wxyz``, what listings show; a
  revoked or unknown key), else ``malformed`` or ``none``: never the token, never its hash. The
  source is the client address as the gateway resolved it (``unknown`` when it has none);
- ``gateway.refusals`` per (key id, error code), for the policy refusals (:func:`is_policy_refusal`).

Memory is bounded: at most ``max_pairs`` distinct pairs per kind and interval; events beyond
them are counted in one overflow summary whose pair is (``other``, ``other``). This module
does no I/O: it is pure counting.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

AUTH_FAILURES = "auth.failures"
GATEWAY_REFUSALS = "gateway.refusals"
OTHER = "other"
MAX_PAIRS = 10_000

# Why a credential was refused (the ``reasons`` of an ``auth.failures`` record).
MISSING = "missing"  # no credential at all
MALFORMED = "malformed"  # not a vaultgate token, or its checksum fails
ADMIN_TOKEN = "admin_token"  # a vga_ admin token sent to /v1  # noqa: S105 - a reason, not a secret
UNKNOWN = "unknown"  # a well-formed token this replica does not hold: unknown, revoked, rotated past its grace
EXPIRED = "expired"  # a key past its expiry (or before its start)

# Refusals decided by policy on a known key, besides every 403 and 429 the gateway answers itself.
_POLICY_400S = frozenset(
    {"secret_detected", "pii_blocked", "form_redaction_unsupported", "model_required", "policy_exceeds_ceiling"}
)


def is_policy_refusal(status: int, code: str) -> bool:
    """Whether a refusal the gateway raised for a known key is a policy decision (counted as
    ``gateway.refusals``): every 403 and 429, and the privacy and model-allowlist 400s."""
    return status in (403, 429) or code in _POLICY_400S


@dataclass(slots=True)
class _Tally:
    count: int
    first_at: float
    last_at: float
    reasons: dict[str, int]


@dataclass(frozen=True, slots=True)
class Summary:
    """One audit record to write: ``action`` about ``target``, with its counts (no secret, no content)."""

    action: str
    target: str
    details: dict[str, Any]


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")


class _Counts:
    """Counts per pair for one interval, at most ``max_pairs`` pairs plus the overflow."""

    __slots__ = ("_max_pairs", "_overflow", "_pairs")

    def __init__(self, max_pairs: int) -> None:
        self._max_pairs = max_pairs
        self._pairs: dict[tuple[str, str], _Tally] = {}
        self._overflow: _Tally | None = None

    def add(self, pair: tuple[str, str], reason: str, now: float) -> None:
        tally = self._pairs.get(pair)
        if tally is None:
            if len(self._pairs) < self._max_pairs:
                self._pairs[pair] = _Tally(1, now, now, {reason: 1})
                return
            tally = self._overflow
            if tally is None:
                self._overflow = _Tally(1, now, now, {reason: 1})
                return
        tally.count += 1
        tally.last_at = now
        tally.reasons[reason] = tally.reasons.get(reason, 0) + 1

    def drain(self) -> list[tuple[tuple[str, str], _Tally]]:
        """Every pair counted since the last drain (the overflow last), and start afresh."""
        pairs, overflow = self._pairs, self._overflow
        self._pairs, self._overflow = {}, None
        drained = list(pairs.items())
        if overflow is not None:
            drained.append(((OTHER, OTHER), overflow))
        return drained

    def __len__(self) -> int:
        return len(self._pairs) + (self._overflow is not None)


class SecurityEvents:
    """This process's security events since the last drain; the data plane counts, the hooks drain.

    Not thread-safe by design: counting and draining both happen on the event loop.
    """

    __slots__ = ("_auth", "_clock", "_refusals")

    def __init__(self, max_pairs: int = MAX_PAIRS, clock: Callable[[], float] = time.time) -> None:
        if max_pairs < 1:
            raise ValueError("max_pairs must be at least 1")
        self._clock = clock
        self._auth = _Counts(max_pairs)
        self._refusals = _Counts(max_pairs)

    def auth_failure(self, credential: str, source: str, reason: str) -> None:
        """Count a refused credential (named by key id or display form, never the token) from ``source``."""
        self._auth.add((credential, source), reason, self._clock())

    def refusal(self, key_id: str, code: str) -> None:
        """Count a policy refusal of ``key_id``'s request with error ``code``."""
        self._refusals.add((key_id, code), code, self._clock())

    @property
    def pending(self) -> int:
        """How many summaries the next drain would give."""
        return len(self._auth) + len(self._refusals)

    def drain(self) -> list[Summary]:
        """The summaries of every event counted since the last drain (one per pair), and start afresh."""
        summaries = [
            Summary(AUTH_FAILURES, credential, {"source": source, **_counted(tally)})
            for (credential, source), tally in self._auth.drain()
        ]
        summaries += [
            Summary(GATEWAY_REFUSALS, key_id, {"code": code, **_counted(tally)})
            for (key_id, code), tally in self._refusals.drain()
        ]
        return summaries


def _counted(tally: _Tally) -> dict[str, Any]:
    return {
        "count": tally.count,
        "first_at": _iso(tally.first_at),
        "last_at": _iso(tally.last_at),
        "reasons": dict(sorted(tally.reasons.items())),
    }
