"""Validating the ``limits`` document of a key, member or team before it is stored."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from vaultgate.limits.interface import LimitsError
from vaultgate.limits.rules import Limits, check_priced
from vaultgate.services.context import ControlPlane
from vaultgate.services.errors import InvalidInput


def parse_limits(cp: ControlPlane, data: dict[str, Any] | None, models: Iterable[str] = ()) -> Limits:
    """Validated limits (rpm, tpm, concurrency, budget_usd, budget_period); InvalidInput naming the bad value.

    A budget on a key restricted to a model missing from the price table is refused, naming the model.
    """
    try:
        parsed = Limits.from_json(data)
        check_priced(parsed, models, cp.prices)
    except LimitsError as exc:
        raise InvalidInput(str(exc)) from None
    return parsed
