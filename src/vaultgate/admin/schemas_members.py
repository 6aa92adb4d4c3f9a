"""Bodies of the member, team and lockdown changes added for the console (update, remove, rename, status)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from vaultgate.admin.schemas import MemberOut, Strict


class MemberUpdate(Strict):
    """Only the fields given change; ``""`` clears the email or the display name."""

    team: str | None = Field(default=None, max_length=100, description="Move to this (existing) team")
    role: Literal["member", "admin", "auditor", "owner"] | None = None
    email: str | None = Field(default=None, max_length=320)
    display_name: str | None = Field(default=None, max_length=200)


class MemberRemoved(BaseModel):
    member: MemberOut
    keys_revoked: int
    admin_tokens_revoked: int
    short_lived_tokens_deleted: int


class TeamRename(Strict):
    name: str = Field(min_length=1, max_length=100, description="The team's new name")


class LockdownOut(BaseModel):
    """The lockdown switch; ``changed`` is false when it already was in the asked state."""

    on: bool
    lockdown: bool
    changed: bool
    set_by: str | None = Field(description="Who last turned it on or off: a member id, or 'cli'")
    set_by_name: str | None = Field(description="That member's current name (null for the CLI)")
    set_at: datetime | None
