"""Response bodies of ``/admin/usage`` (a line has only the dimensions asked for, then the measures)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class UsageLineOut(BaseModel):
    """One line of a usage report: the chosen dimensions (absent when not chosen) and the totals."""

    member: str | None = Field(default=None, description="member name (an erased member: their pseudonym)")
    team: str | None = Field(default=None, description="team name (the member's team when the request was served)")
    key: str | None = Field(default=None, description="key name, or its display form when unnamed")
    key_id: str | None = Field(default=None, description="the key's stable id (with 'key')")
    model: str | None = None
    day: str | None = Field(default=None, description="UTC calendar day, YYYY-MM-DD")
    requests: int
    errors: int = Field(description="requests answered with a status of 400 or more")
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float = Field(description="list price in USD (usage/prices.toml); unknown prices count as 0")
    unpriced: int = Field(description="requests that used something billable but have no known price")
