"""Retention of per-request usage records: the purge, and its daily run inside ``vaultgate serve``.

Usage rows older than the cutoff are deleted in batches; **each batch is its own transaction and
holds its own ``usage.purge`` audit record** (details: cutoff, rows), so whatever was deleted is
audited even if the purge stops half-way, and nothing is deleted that the trail does not record
(fail closed). The audit trail itself is never purged. docs/USAGE.md describes the choices.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select

from vaultgate.services import access
from vaultgate.services.context import Actor, ControlPlane, Role
from vaultgate.services.errors import InvalidInput
from vaultgate.store.models import UsageEvent

log = logging.getLogger("vaultgate.retention")

ACTION = "usage.purge"
BATCH_ROWS = 5000
# A century: longer than any retention anyone means, and keeps the cutoff's date arithmetic in range.
MAX_DAYS = 36500
# The actor of the purge ``serve`` runs (how the audit trail names it).
RETENTION = Actor(name="retention", role=Role.OWNER)
DAY = 86400.0


@dataclass(frozen=True, slots=True)
class PurgeResult:
    """What a purge deleted (or, in a dry run, would delete): usage rows older than ``cutoff``."""

    cutoff: datetime
    older_than_days: int
    rows: int
    batches: int
    dry_run: bool


def cutoff_for(older_than_days: int, now: datetime) -> datetime:
    """The instant before which usage rows are purged; InvalidInput for a number of days out of range."""
    if isinstance(older_than_days, bool) or not 1 <= older_than_days <= MAX_DAYS:
        raise InvalidInput(f"older than {older_than_days!r} days: use a whole number of days from 1 to {MAX_DAYS}")
    return now - timedelta(days=older_than_days)


def purge(
    cp: ControlPlane,
    actor: Actor,
    older_than_days: int,
    *,
    dry_run: bool = False,
    batch_rows: int = BATCH_ROWS,
    audit_nothing: bool = True,
) -> PurgeResult:
    """Delete the usage rows older than ``older_than_days`` days, ``batch_rows`` per audited transaction.

    ``dry_run``: count them, change nothing, audit nothing. ``audit_nothing``: also audit a purge
    that found nothing to delete (an operator's run; the daily run in ``serve`` does not, so many
    replicas do not fill the trail with empty records).
    """
    access.require_org_manager(actor, "purge usage records")
    cutoff = cutoff_for(older_than_days, cp.clock())
    old = UsageEvent.at < cutoff
    if dry_run:
        with cp.store.session() as session:
            count = int(session.scalar(select(func.count()).select_from(UsageEvent).where(old)) or 0)
        return PurgeResult(cutoff, older_than_days, count, 0, True)
    rows = batches = 0
    while True:
        with cp.store.session() as session:
            ids = list(session.scalars(select(UsageEvent.id).where(old).order_by(UsageEvent.id).limit(batch_rows)))
            deleted = 0
            if ids:
                result = session.execute(delete(UsageEvent).where(UsageEvent.id.in_(ids)))
                deleted = int(getattr(result, "rowcount", 0) or 0)
            # Another replica's purge may have taken these rows first: only rows deleted here are recorded.
            if deleted or (audit_nothing and batches == 0):
                cp.audit(session, actor, ACTION, None, cutoff=cutoff.isoformat(), rows=deleted)
                batches += 1
        rows += deleted
        if len(ids) < batch_rows:
            return PurgeResult(cutoff, older_than_days, rows, batches, False)


class RetentionSchedule:
    """The daily purge ``vaultgate serve`` runs: first ``first_delay`` seconds after start, then every ``interval``."""

    def __init__(self, cp: ControlPlane, days: int, *, first_delay: float = 60.0, interval: float = DAY) -> None:
        self._cp = cp
        self.days = days
        self.first_delay = first_delay
        self.interval = interval

    async def run(self) -> None:
        """Purge once per interval until cancelled (retention 0: keep forever, nothing runs)."""
        if self.days <= 0:
            return
        delay = self.first_delay
        while True:
            await asyncio.sleep(delay)
            delay = self.interval
            try:
                done = await asyncio.to_thread(purge, self._cp, RETENTION, self.days, audit_nothing=False)
            except Exception:  # a failed purge is retried at the next interval; serving goes on
                log.exception("the usage retention purge failed")
                continue
            if done.rows:
                log.info("retention: purged %d usage records older than %s", done.rows, done.cutoff.isoformat())
