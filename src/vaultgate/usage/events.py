"""The usage record: the only thing the data plane persists about a request.

Client-chosen strings are stored only in a bounded, non-identifying form: a model name is
kept when it is a model (listed in the price table, alone or with a date; or shaped like a
model id), and stored as ``other`` when it could be anything else, a secret or an address
included (:func:`model_label`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

OTHER_MODEL = "other"
_DATED = re.compile(r"-(?:\d{4}-\d{2}-\d{2}|\d{4})", re.ASCII)
# A model id: lower case, short segments; letters mixed with digits only in short segments
# ("4o", "3b", "v2"), which a random secret does not keep to.
_MODEL_ID = re.compile(r"[a-z0-9][a-z0-9.:_/-]{0,63}", re.ASCII)
_SEGMENT = re.compile(r"[^.:_/-]+", re.ASCII)


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
    team_id: str | None = None  # the member's team when the request was served (spend per team)
    # Keyed pseudonyms (32 hex) of the client's network (IPv4 /24, IPv6 /48) and of its User-Agent,
    # never the address or the string: many distinct values per key and day suggest a shared key.
    client_hash: str | None = None
    agent_hash: str | None = None


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


def model_label(model: str | None, listed: frozenset[str] | None, *, refused_content: bool = False) -> str | None:
    """The model name as it may be stored: as given when it is a model, else ``other``.

    ``listed``: the price table's model names; ``refused_content``: the request was refused for
    carrying a secret or personal data (its model name is not kept then, whatever it looks like).
    """
    if model is None:
        return None
    if refused_content:
        return OTHER_MODEL
    if listed is not None:
        if model in listed:
            return model
        for name in listed:
            if model.startswith(name) and _DATED.fullmatch(model, len(name)):
                return model
    if _MODEL_ID.fullmatch(model) is None:
        return OTHER_MODEL
    for segment in _SEGMENT.findall(model):
        mixed = not segment.isalpha() and not segment.isdigit()
        if len(segment) > 16 or (mixed and len(segment) > 8):
            return OTHER_MODEL
    return model
