"""Limit values: what an operator sets on a key, a member or a team, validated once when saved.

Stored as JSON in the ``limits`` column of ``member_keys``, ``members`` and ``teams``::

    {"rpm": 60, "tpm": 100000, "concurrency": 4, "budget_usd": 25.0, "budget_period": "month"}

Every field is optional; a missing field means "no limit of that kind".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from vaultgate.limits.interface import LimitsError
from vaultgate.usage.pricing import PriceTable

PERIODS = ("day", "month")
_FIELDS = ("rpm", "tpm", "concurrency", "budget_usd", "budget_period")
# 1e12 requests per minute or USD is far above anything real and keeps integers exact in Lua (doubles).
_MAX = 10**12
_MAX_USD = 10**9  # micro-USD stays below 2**53, exact as a Lua number


@dataclass(frozen=True, slots=True)
class Limits:
    """One scope's limits; ``None`` means unlimited."""

    rpm: int | None = None
    tpm: int | None = None
    concurrency: int | None = None
    budget_usd: float | None = None
    budget_period: str = "month"

    @property
    def empty(self) -> bool:
        """Whether nothing is limited."""
        return self.rpm is None and self.tpm is None and self.concurrency is None and self.budget_usd is None

    @property
    def budget_micro_usd(self) -> int | None:
        """The budget in millionths of a dollar (integers keep the counters exact)."""
        return None if self.budget_usd is None else round(self.budget_usd * 1_000_000)

    def to_json(self) -> dict[str, Any]:
        """The stored form (only the fields that are set)."""
        out: dict[str, Any] = {}
        for name in ("rpm", "tpm", "concurrency", "budget_usd"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.budget_usd is not None:
            out["budget_period"] = self.budget_period
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Limits:
        """Parse and validate; LimitsError naming the field and the bad value."""
        data = data or {}
        unknown = set(data) - set(_FIELDS)
        if unknown:
            raise LimitsError(f"unknown limit field(s): {', '.join(sorted(unknown))}")
        period = data.get("budget_period")
        if period is None:
            period = "month"
        if period not in PERIODS:
            raise LimitsError(f"budget period must be day or month, not {period!r}")
        return cls(
            rpm=_count(data, "rpm"),
            tpm=_count(data, "tpm"),
            concurrency=_count(data, "concurrency"),
            budget_usd=_usd(data.get("budget_usd")),
            budget_period=str(period),
        )


def _count(data: Mapping[str, Any], name: str) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise LimitsError(f"{name} must be a whole number of at least 1, not {value!r}")
    try:
        number = int(value)
    except ValueError:
        raise LimitsError(f"{name} must be a whole number of at least 1, not {value!r}") from None
    if not 1 <= number <= _MAX:
        raise LimitsError(f"{name} must be a whole number of at least 1, not {value!r}")
    return number


def _usd(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise LimitsError(f"budget must be an amount in USD greater than 0, not {value!r}")
    try:
        amount = float(value)
    except ValueError:
        raise LimitsError(f"budget must be an amount in USD greater than 0, not {value!r}") from None
    if not math.isfinite(amount) or amount <= 0 or amount > _MAX_USD:
        raise LimitsError(f"budget must be an amount in USD greater than 0, not {value!r}")
    return amount


@dataclass(frozen=True, slots=True)
class ScopedLimits:
    """A grant's limits at each level; a request must pass all three."""

    key: Limits = Limits()
    member: Limits = Limits()
    team: Limits = Limits()

    @property
    def empty(self) -> bool:
        """Whether the grant is unlimited at every level (the limiter is skipped)."""
        return self.key.empty and self.member.empty and self.team.empty


NO_LIMITS = ScopedLimits()


def check_priced(limits: Limits, models: Iterable[str], prices: PriceTable) -> None:
    """A budget needs a price for every model the key may use; LimitsError naming the first unpriced one."""
    if limits.budget_usd is None:
        return
    missing = prices.unpriced(models)
    if missing:
        raise LimitsError(
            f"model {missing[0]!r} has no price in the price table, so a budget cannot be enforced for it: "
            "add it to the price table (prices_file) or drop it from 'models'"
        )
