"""The price table: USD per million tokens per model, shipped as data (``prices.toml``), overridable.

Costs are computed in millionths of a dollar (micro-USD) as integers, rounded up, so the
budget counters add up exactly on every replica.
"""

from __future__ import annotations

import fnmatch
import math
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any


class PriceTableError(ValueError):
    """The price table cannot be read; the message names the file and the entry."""


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """One model's list price (USD per 1M tokens) and the most output tokens it may produce."""

    input: float
    output: float
    max_output_tokens: int

    def usd(self, prompt_tokens: int, completion_tokens: int) -> float:
        """The exact list-price cost of a request in USD (what usage records show)."""
        return (prompt_tokens * self.input + completion_tokens * self.output) / 1_000_000

    def micro_usd(self, prompt_tokens: int, completion_tokens: int) -> int:
        """The cost of a request in micro-USD (1 USD per 1M tokens is 1 micro-USD per token)."""
        return math.ceil(prompt_tokens * self.input + completion_tokens * self.output)


@dataclass(frozen=True, slots=True)
class PriceTable:
    """Prices by model name; dated names fall back to their longest listed prefix."""

    models: Mapping[str, ModelPrice]

    def find(self, model: str | None) -> ModelPrice | None:
        """The price of ``model``, or None when it is not listed."""
        if not model:
            return None
        price = self.models.get(model)
        if price is not None:
            return price
        best = max((name for name in self.models if model.startswith(name + "-")), key=len, default=None)
        return self.models[best] if best is not None else None

    def unpriced(self, patterns: Iterable[str]) -> list[str]:
        """The allowlist entries no listed model prices (a wildcard needs at least one priced match)."""
        missing = []
        for pattern in patterns:
            if any(ch in pattern for ch in "*?["):
                if not any(fnmatch.fnmatchcase(name, pattern) for name in self.models):
                    missing.append(pattern)
            elif self.find(pattern) is None:
                missing.append(pattern)
        return missing


def _parse(document: Mapping[str, Any], source: str) -> dict[str, ModelPrice]:
    models = document.get("models", {})
    if not isinstance(models, Mapping):
        raise PriceTableError(f"{source}: [models] must be a table of model names")
    out: dict[str, ModelPrice] = {}
    for name, entry in models.items():
        try:
            price = ModelPrice(
                input=float(entry["input"]),
                output=float(entry["output"]),
                max_output_tokens=int(entry.get("max_output_tokens", 4096)),
            )
        except (KeyError, TypeError, ValueError):
            raise PriceTableError(
                f"{source}: model {name!r} needs numbers 'input' and 'output' (USD per 1M tokens)"
            ) from None
        if price.input < 0 or price.output < 0 or price.max_output_tokens < 0:
            raise PriceTableError(f"{source}: model {name!r} has a negative price or token count")
        out[str(name)] = price
    return out


def load(override: Path | None = None) -> PriceTable:
    """The shipped table, with the entries of ``override`` (a TOML file of the same shape) on top."""
    shipped = resources.files("vaultgate.usage").joinpath("prices.toml").read_text()
    models = _parse(tomllib.loads(shipped), "prices.toml")
    if override is not None:
        try:
            document = tomllib.loads(Path(override).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise PriceTableError(f"{override}: {exc}") from exc
        models.update(_parse(document, str(override)))
    return PriceTable(MappingProxyType(models))
