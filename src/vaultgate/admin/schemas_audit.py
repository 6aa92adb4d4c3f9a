"""Response bodies of the audit routes (``GET /admin/audit``, ``GET /admin/audit/verify``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class AuditRecordOut(BaseModel):
    """One audit record as exported (a row that cannot be read carries only ``seq`` and ``error``)."""

    seq: int
    at: str | None = None
    actor: str | None = None
    action: str | None = None
    target: str | None = None
    outcome: str | None = None
    details: dict[str, Any] | None = None
    prev_hash: str | None = None
    hash: str | None = None
    alg: str | None = None
    error: str | None = None


class AuditBreakOut(BaseModel):
    """The first broken or missing record, and why."""

    seq: int
    reason: str


class AuditVerifyOut(BaseModel):
    """The result of verifying the chain and its signed checkpoints."""

    records: int
    checkpoints: int
    last_seq: int
    ok: bool
    # null when the chain is intact ("break" in JSON).
    break_: AuditBreakOut | None = Field(default=None, alias="break")

    model_config = ConfigDict(populate_by_name=True)
