"""The usage record: the only thing the data plane persists about a request."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """Metadata of one request. There is deliberately no field for content."""

    at: datetime
    request_id: str
    member_id: str | None
    key_id: str | None
    provider: str | None
    endpoint: str
    model: str | None
    status: int
    error_code: str | None
    stream: bool
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_ms: float
    cost_usd: float | None = None  # list price of the usage (usage/prices.toml); None when unknown


def tokens_from_usage(usage: Any) -> tuple[int | None, int | None]:
    """(prompt, completion) tokens from an OpenAI ``usage`` object of any endpoint's shape."""
    if not isinstance(usage, dict):
        return None, None
    prompt = usage.get("prompt_tokens", usage.get("input_tokens"))
    completion = usage.get("completion_tokens", usage.get("output_tokens"))
    return (
        prompt if isinstance(prompt, int) else None,
        completion if isinstance(completion, int) else None,
    )
