"""Writing usage records, and spend and usage reports (metadata only).

A report groups the usage rows in the reader's scope (:func:`access.usage_scope`, part of the
query) over ``[since, until)`` by any of member, team, key, model and day (UTC), and sums
requests, errors, tokens and list-price cost. docs/USAGE.md describes every choice.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import ColumnElement, String, and_, case, func, insert, literal_column, or_, select
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

from vaultgate.services import access
from vaultgate.services.context import Actor, ControlPlane
from vaultgate.services.errors import InvalidInput
from vaultgate.services.keys import parse_duration
from vaultgate.store.models import Member, MemberKey, Team, UsageEvent
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


DIMENSIONS = ("member", "team", "key", "model", "day")
DEFAULT_BY = ("member", "model")
MEASURES = ("requests", "errors", "prompt_tokens", "completion_tokens", "cost_usd", "unpriced")
# Endpoints billed by other units than tokens (images, audio seconds or characters): a successful
# request there without a known price is counted as unpriced even though it reported no tokens.
_BILLED_WITHOUT_TOKENS = ("images", "audio")
# Costs are summed as floats; rounded to a nano-dollar so a sum reads the same on every database.
_COST_DIGITS = 9
_RELATIVE = re.compile(r"^[0-9]{1,12}[smhdw]$")


@dataclass(frozen=True, slots=True)
class UsageLine:
    """Totals for one combination of the chosen dimensions over the period.

    ``dimensions``: the chosen dimensions' values, in the order asked for (``key`` adds ``key_id``,
    since key names need not be unique). ``unpriced``: requests that used something billable but
    whose model has no list price; their cost counts as 0 in ``cost_usd``.
    """

    dimensions: dict[str, str | None]
    requests: int
    errors: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    unpriced: int

    def as_dict(self) -> dict[str, Any]:
        """The dimensions, then the measures: one flat object (a JSON object, a CSV row)."""
        return {**self.dimensions, **{name: getattr(self, name) for name in MEASURES}}


def columns(by: Sequence[str]) -> tuple[str, ...]:
    """The fields of each line for dimensions ``by``, in order (for tables and CSV headers)."""
    names: list[str] = []
    for dimension in by:
        names += ["key", "key_id"] if dimension == "key" else [dimension]
    return (*names, *MEASURES)


def totals(lines: Iterable[UsageLine]) -> UsageLine:
    """The sum of ``lines`` (no dimensions)."""
    items = list(lines)
    return UsageLine(
        {},
        sum(x.requests for x in items),
        sum(x.errors for x in items),
        sum(x.prompt_tokens for x in items),
        sum(x.completion_tokens for x in items),
        round(sum(x.cost_usd for x in items), _COST_DIGITS),
        sum(x.unpriced for x in items),
    )


def csv_text(lines: Iterable[UsageLine], by: Sequence[str]) -> str:
    """The lines as CSV (RFC 4180: a header row, CRLF line ends, quoting where needed); empty values for None."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns(by), lineterminator="\r\n")
    writer.writeheader()
    for line in lines:
        row = line.as_dict()
        row["cost_usd"] = usd_text(row["cost_usd"])
        writer.writerow(row)
    return out.getvalue()


def usd_text(value: float | None) -> str | None:
    """A cost in plain decimal notation (``0.00000135``, never ``1.35e-06``: spreadsheets and people read it)."""
    if value is None:
        return None
    return format(value, ".10f").rstrip("0").rstrip(".") or "0"


def parse_by(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """Dimensions from ``member,team`` (or a list of names); InvalidInput naming an unknown one."""
    if value is None:
        return DEFAULT_BY
    parts = value.split(",") if isinstance(value, str) else [p for item in value for p in item.split(",")]
    names = [p.strip().lower() for p in parts if p.strip()]
    if not names:
        raise InvalidInput(f"'by' names no dimension: use any of {', '.join(DIMENSIONS)}")
    for name in names:
        if name not in DIMENSIONS:
            raise InvalidInput(f"unknown dimension {name[:40]!r} for 'by': use any of {', '.join(DIMENSIONS)}")
    return tuple(dict.fromkeys(names))


def parse_instant(text: str, now: datetime, *, name: str) -> datetime:
    """``2026-07-01`` (midnight UTC), an ISO datetime (UTC unless it names an offset), or ``7d`` ago."""
    value = text.strip()
    if _RELATIVE.match(value):
        try:
            return now - parse_duration(value)
        except InvalidInput as exc:
            raise InvalidInput(f"'{name}': {exc}") from None
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(), UTC)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            f"'{name}' {text[:40]!r} is not a date: use 2026-07-01, 2026-07-01T12:00:00Z or a duration ago (7d)"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_range(since: str | None, until: str | None, now: datetime) -> tuple[datetime | None, datetime | None]:
    """The period ``[since, until)`` from what a reader typed; InvalidInput naming both when it is empty."""
    start = parse_instant(since, now, name="since") if since else None
    end = parse_instant(until, now, name="until") if until else None
    if start is not None and end is not None and start >= end:
        raise InvalidInput(
            f"empty period: 'since' {since!r} ({start.isoformat()}) is not before "
            f"'until' {until!r} ({end.isoformat()}); 'until' is exclusive"
        )
    return start, end


def report(
    cp: ControlPlane,
    actor: Actor,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    by: Sequence[str] = DEFAULT_BY,
) -> list[UsageLine]:
    """Requests, errors, tokens and cost per combination of ``by`` over ``[since, until)``, in the actor's scope.

    Team admins see their team's rows (the team on the record; for rows written before records
    carried one, the member's team), members their own; owners, organisation admins and auditors
    everyone. The scope is part of the query, so nothing outside it is ever read.
    """
    by = parse_by(by)
    if since is not None and until is not None and since >= until:
        raise InvalidInput(f"empty period: 'since' {since.isoformat()} is not before 'until' {until.isoformat()}")
    team_id = func.coalesce(UsageEvent.team_id, Member.team_id)
    picked: dict[str, list[Any]] = {
        "member": [UsageEvent.member_id, func.coalesce(Member.name, UsageEvent.member_id)],
        "team": [team_id, Team.name],
        "key": [UsageEvent.key_id, func.coalesce(MemberKey.name, MemberKey.display, UsageEvent.key_id)],
        "model": [UsageEvent.model],
        "day": [_utc_day(cp)],
    }
    groups = [column for name in by for column in picked[name]]
    billable = or_(
        UsageEvent.prompt_tokens.is_not(None),
        UsageEvent.completion_tokens.is_not(None),
        and_(UsageEvent.status < 400, UsageEvent.endpoint.in_(_BILLED_WITHOUT_TOKENS)),
    )
    query = (
        select(
            *groups,
            func.count(),
            func.sum(case((UsageEvent.status >= 400, 1), else_=0)),
            func.coalesce(func.sum(UsageEvent.prompt_tokens), 0),
            func.coalesce(func.sum(UsageEvent.completion_tokens), 0),
            func.coalesce(func.sum(UsageEvent.cost_usd), 0.0),
            func.sum(case((and_(UsageEvent.cost_usd.is_(None), billable), 1), else_=0)),
        )
        .select_from(UsageEvent)
        .outerjoin(Member, UsageEvent.member_id == Member.id)
        .where(access.usage_scope(actor))
        .group_by(*groups)
    )
    if "team" in by:
        query = query.outerjoin(Team, Team.id == team_id)
    if "key" in by:
        query = query.outerjoin(MemberKey, MemberKey.id == UsageEvent.key_id)
    if since is not None:
        query = query.where(UsageEvent.at >= since)
    if until is not None:
        query = query.where(UsageEvent.at < until)
    with cp.store.session() as session:
        rows = session.execute(query).all()
    lines = [_line(by, tuple(row)) for row in rows]
    return sorted(lines, key=lambda line: [(v is None, v or "") for v in line.dimensions.values()])


def _line(by: Sequence[str], row: tuple[Any, ...]) -> UsageLine:
    dimensions: dict[str, str | None] = {}
    at = 0
    for name in by:
        if name == "member":
            dimensions["member"] = row[at + 1]
            at += 2
        elif name == "team":
            dimensions["team"] = row[at + 1] if row[at + 1] is not None else row[at]
            at += 2
        elif name == "key":
            dimensions["key"], dimensions["key_id"] = row[at + 1], row[at]
            at += 2
        else:
            dimensions[name] = None if row[at] is None else str(row[at])
            at += 1
    requests, errors, prompt, completion, cost, unpriced = row[at:]
    return UsageLine(
        dimensions,
        int(requests),
        int(errors or 0),
        int(prompt),
        int(completion),
        round(float(cost or 0.0), _COST_DIGITS),
        int(unpriced or 0),
    )


def _utc_day(cp: ControlPlane) -> ColumnElement[Any]:
    """The UTC calendar day of a row, as ``YYYY-MM-DD`` text, on either database."""
    if cp.store.is_postgres:
        # Literals, not bound parameters: PostgreSQL matches the grouped expression to the selected one.
        return func.to_char(func.timezone(literal_column("'UTC'"), UsageEvent.at), literal_column("'YYYY-MM-DD'"))
    # SQLite keeps every instant as UTC text (store/models.py, UTCDateTime): the date is its first ten characters.
    return func.substr(UsageEvent.at, literal_column("1"), literal_column("10"), type_=String)
