"""Writing usage records, and usage reports (metadata only)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime

from sqlalchemy import case, func, insert, select
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

from vaultgate.services import access
from vaultgate.services.context import Actor, ControlPlane
from vaultgate.store.models import Member, UsageEvent
from vaultgate.usage.events import UsageRecord


def write(cp: ControlPlane, records: Sequence[UsageRecord]) -> None:
    """Insert a batch of usage records in one transaction."""
    if not records:
        return
    # A Core executemany on a plain connection: no ORM unit of work, no deep copies per row.
    rows = [{name: getattr(r, name) for name in _FIELDS} for r in records]
    with cp.store.engine.begin() as conn:
        conn.execute(insert(UsageEvent), rows)


_FIELDS = tuple(f.name for f in fields(UsageRecord))


def is_malformed(exc: BaseException) -> bool:
    """Whether the store refused usage records for their values, not for being unavailable.

    Only a value the database rejects (too long, out of range, a constraint) is the records'
    fault; every other database error (connection refused or lost, the server starting up or
    shutting down, a read-only or full disk, a pool timeout) means "try again later", so the
    recorder keeps the events instead of setting them aside.
    """
    if isinstance(exc, (DataError, IntegrityError)):
        return not exc.connection_invalidated
    if isinstance(exc, (SQLAlchemyError, OSError)):
        return False
    return isinstance(exc, (TypeError, ValueError))  # building rows from a record


@dataclass(frozen=True, slots=True)
class UsageLine:
    """Totals for one member and model over a period."""

    member: str | None
    model: str | None
    requests: int
    errors: int
    prompt_tokens: int
    completion_tokens: int


def report(cp: ControlPlane, actor: Actor, since: datetime | None = None) -> list[UsageLine]:
    """Requests and tokens per member and model, over the usage rows in the actor's scope.

    Team admins see their team's members, members themselves; owners, organisation admins and
    auditors everyone. The scope is part of the query, so nothing outside it is ever read.
    """
    with cp.store.session() as session:
        query = (
            select(
                Member.name,
                UsageEvent.model,
                func.count(),
                func.sum(case((UsageEvent.status >= 400, 1), else_=0)),
                func.coalesce(func.sum(UsageEvent.prompt_tokens), 0),
                func.coalesce(func.sum(UsageEvent.completion_tokens), 0),
            )
            .select_from(UsageEvent)
            .outerjoin(Member, UsageEvent.member_id == Member.id)
            .group_by(Member.name, UsageEvent.model)
            .where(access.usage_scope(actor))
            .order_by(Member.name, UsageEvent.model)
        )
        if since is not None:
            query = query.where(UsageEvent.at >= since)
        return [
            UsageLine(row[0], row[1], int(row[2]), int(row[3] or 0), int(row[4]), int(row[5]))
            for row in session.execute(query)
        ]
