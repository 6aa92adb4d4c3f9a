"""The usage retention purge on SQLite and PostgreSQL: exactly the old rows go, in audited batches;
``--dry-run`` changes nothing; the audit trail is never touched; ``serve``'s daily run does the same."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from sqlalchemy import func, select
from tests.conftest import make_settings
from tests.support import cli as commands

from vaultgate.config import Settings
from vaultgate.server import build
from vaultgate.services import audit_trail, bootstrap, retention, usage
from vaultgate.services.context import LOCAL_OPERATOR, Actor, ControlPlane, Role
from vaultgate.services.errors import InvalidInput, NotAuthorised
from vaultgate.store.models import AuditEvent, UsageEvent
from vaultgate.usage.events import UsageRecord

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
# Ages in days; 30 exactly is at the cutoff of a 30-day purge, so it is kept ("older than" is strict).
AGES = [400, 200, 45, 31, 30.5, 30, 29, 1, 0]


def record(i: int, age_days: float) -> UsageRecord:
    return UsageRecord(
        at=NOW - timedelta(days=age_days),
        request_id=f"req_{i}",
        member_id=None,
        key_id=None,
        provider=None,
        endpoint="chat/completions",
        model="gpt-4o-mini",
        status=200,
        error_code=None,
        stream=False,
        prompt_tokens=1,
        completion_tokens=1,
        latency_ms=1.0,
    )


@pytest.fixture
def installed(tmp_path: Path, database_url: str) -> Iterator[tuple[Settings, ControlPlane]]:
    settings = make_settings(tmp_path, database_url)
    bootstrap.init(settings)
    cp = bootstrap.open_control_plane(settings)
    cp.clock = lambda: NOW
    usage.write(cp, [record(i, age) for i, age in enumerate(AGES)])
    yield settings, cp
    cp.store.dispose()


def request_ids(cp: ControlPlane) -> list[str]:
    with cp.store.session() as session:
        return list(session.scalars(select(UsageEvent.request_id).order_by(UsageEvent.id)))


def purges(cp: ControlPlane) -> list[tuple[str, dict[str, object]]]:
    with cp.store.session() as session:
        rows = session.execute(
            select(AuditEvent.actor, AuditEvent.details)
            .where(AuditEvent.action == "usage.purge")
            .order_by(AuditEvent.seq)
        )
        return [(actor, details) for actor, details in rows]


def audit_count(cp: ControlPlane) -> int:
    with cp.store.session() as session:
        return int(session.scalar(select(func.count()).select_from(AuditEvent)) or 0)


def kept(older_than: float) -> list[str]:
    return [f"req_{i}" for i, age in enumerate(AGES) if age <= older_than]


def test_purge_deletes_exactly_the_old_rows_in_audited_batches(installed: tuple[Settings, ControlPlane]) -> None:
    _, cp = installed
    before = audit_count(cp)
    done = retention.purge(cp, LOCAL_OPERATOR, 30, batch_rows=2)
    assert request_ids(cp) == kept(30)
    assert (done.rows, done.batches, done.dry_run) == (5, 3, False)
    cutoff = (NOW - timedelta(days=30)).isoformat()
    assert done.cutoff == NOW - timedelta(days=30)
    assert purges(cp) == [("cli", {"cutoff": cutoff, "rows": n}) for n in (2, 2, 1)]
    assert audit_count(cp) == before + 3  # nothing of the trail deleted
    count, broken = audit_trail.verify(cp, LOCAL_OPERATOR)
    assert broken is None and count == before + 3

    again = retention.purge(cp, LOCAL_OPERATOR, 30)
    assert (again.rows, again.batches) == (0, 1)  # an operator's run that found nothing is still recorded
    assert purges(cp)[-1] == ("cli", {"cutoff": cutoff, "rows": 0})
    assert request_ids(cp) == kept(30)


def test_a_dry_run_changes_nothing(installed: tuple[Settings, ControlPlane]) -> None:
    _, cp = installed
    before, ids = audit_count(cp), request_ids(cp)
    done = retention.purge(cp, LOCAL_OPERATOR, 30, dry_run=True)
    assert (done.rows, done.batches, done.dry_run) == (5, 0, True)
    assert request_ids(cp) == ids and audit_count(cp) == before


@pytest.mark.parametrize("days", [0, -1, retention.MAX_DAYS + 1])
def test_a_number_of_days_out_of_range_is_refused(installed: tuple[Settings, ControlPlane], days: int) -> None:
    _, cp = installed
    before, ids = audit_count(cp), request_ids(cp)
    with pytest.raises(InvalidInput, match="whole number of days"):
        retention.purge(cp, LOCAL_OPERATOR, days)
    assert request_ids(cp) == ids and audit_count(cp) == before


@pytest.mark.parametrize("role", [Role.MEMBER, Role.AUDITOR])
def test_only_an_organisation_manager_purges(installed: tuple[Settings, ControlPlane], role: Role) -> None:
    _, cp = installed
    ids = request_ids(cp)
    with pytest.raises(NotAuthorised):
        retention.purge(cp, Actor("someone", role, "mem_0000000000000000"), 30)
    assert request_ids(cp) == ids


@pytest.fixture
def vg() -> Callable[..., tuple[int, str, str]]:
    def run(settings: Settings, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
        result = commands.run_for(settings, *args, env=env)
        return result.returncode, result.stdout, result.stderr

    return run


def test_the_cli_purges_with_dry_run_and_the_setting(
    installed: tuple[Settings, ControlPlane], vg: Callable[..., tuple[int, str, str]]
) -> None:
    settings, cp = installed
    ids = request_ids(cp)
    # The CLI's clock is the real one: rows are hundreds of days old relative to NOW, and NOW is in 2026.
    age = (datetime.now(UTC) - NOW).days
    code, out, _ = vg(settings, "usage", "purge", "--older-than", str(age + 100), "--dry-run", "--json")
    assert code == 0 and orjson.loads(out)["rows"] == 2 and orjson.loads(out)["dry_run"] is True
    assert request_ids(cp) == ids and purges(cp) == []

    code, _, err = vg(settings, "usage", "purge", "--dry-run", env={"VAULTGATE_USAGE_RETENTION_DAYS": "0"})
    assert code == 2 and "keep forever" in err and len(err.strip().splitlines()) == 1

    code, _, err = vg(settings, "usage", "purge", env={"VAULTGATE_USAGE_RETENTION_DAYS": str(age + 100)})
    assert code == 0 and "deleted 2 usage records" in err
    assert request_ids(cp) == ids[2:]
    assert [details["rows"] for _, details in purges(cp)] == [2]

    code, _, err = vg(settings, "usage", "purge", "--older-than", "0")
    assert code == 2 and "whole number of days" in err


def test_serve_runs_the_purge_daily_from_the_setting(installed: tuple[Settings, ControlPlane]) -> None:
    settings, cp = installed
    gateway = build(settings.evolve(usage_retention_days=30))
    assert gateway.retention is not None and gateway.retention.days == 30
    assert (gateway.retention.first_delay, gateway.retention.interval) == (60.0, 86400.0)
    assert build(settings.evolve(usage_retention_days=0)).retention.days == 0  # type: ignore[union-attr]

    schedule = retention.RetentionSchedule(cp, 30, first_delay=0.0, interval=3600.0)

    async def first_run() -> None:
        task = asyncio.create_task(schedule.run())
        while not purges(cp):  # the first purge's audit record: polled, not slept on
            assert not task.done()
            await asyncio.sleep(0.01)
        task.cancel()

    asyncio.run(asyncio.wait_for(first_run(), 30))
    assert request_ids(cp) == kept(30)
    assert purges(cp) == [("retention", {"cutoff": (NOW - timedelta(days=30)).isoformat(), "rows": 5})]


def test_retention_zero_keeps_everything(installed: tuple[Settings, ControlPlane]) -> None:
    _, cp = installed
    ids = request_ids(cp)
    asyncio.run(asyncio.wait_for(retention.RetentionSchedule(cp, 0, first_delay=0.0).run(), 5))  # returns at once
    assert request_ids(cp) == ids and purges(cp) == []
