"""Bodies of the identity routes (``/admin/identity/...``)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from vaultgate.admin.schemas import Strict


class MappingIn(Strict):
    """A group's team (omitted or null: the role alone) and role."""

    team: str | None = Field(default=None, max_length=100)
    role: str = Field(max_length=20)


class MappingOut(BaseModel):
    group: str
    team: str | None
    role: str
    created_at: datetime
