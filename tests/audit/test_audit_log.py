"""The audit log on a real SQLite store: appends chain, reads verify, tampering in the database is found."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text

from vaultgate.audit import log
from vaultgate.audit.chain import GENESIS, AuditRecord, CorruptRecord, verify
from vaultgate.store.db import Store
from vaultgate.store.migrate import upgrade

T0 = datetime(2025, 3, 1, 12, 0, 0, 250000, tzinfo=UTC)
MAC_KEY = b"m" * 32


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store("sqlite:///" + str(tmp_path / "audit.db"))
    upgrade(store)
    yield store
    store.engine.dispose()


def append_many(store: Store, n: int, *, tz: timezone = UTC) -> None:
    for i in range(1, n + 1):
        with store.session() as session:
            log.append(
                session,
                MAC_KEY,
                at=(T0 + timedelta(minutes=i)).astimezone(tz),
                actor=f"admin:{i}",
                action="key.create",
                target=f"key:{i}" if i % 2 else None,
                details={"i": i, "ratio": 0.1 * i, "tags": ["a", "b"], "name": "Zoë"},
            )


def read_all(store: Store) -> list[AuditRecord | CorruptRecord]:
    with store.session() as session:
        return list(log.records(session, batch=3))


def test_appended_records_chain_and_verify(store: Store) -> None:
    append_many(store, 7)
    records = read_all(store)
    assert [r.seq for r in records] == list(range(1, 8))
    assert records[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(records))
    assert records[2].details == {"i": 3, "ratio": 0.1 * 3, "tags": ["a", "b"], "name": "Zoë"}
    assert records[1].target is None
    assert verify(records, MAC_KEY) is None


def test_append_returns_the_stored_record(store: Store) -> None:
    with store.session() as session:
        returned = log.append(session, MAC_KEY, at=T0, actor="cli", action="init")
    [stored] = read_all(store)
    assert returned == stored
    assert returned.outcome == "ok" and returned.details == {}


def test_records_written_in_another_timezone_still_verify(store: Store) -> None:
    # A caller (or a PostgreSQL session) may hand over aware datetimes in any zone.
    append_many(store, 3, tz=timezone(timedelta(hours=2)))
    append_many(store, 2, tz=timezone(timedelta(hours=-5)))
    records = read_all(store)
    assert verify(records, MAC_KEY) is None
    assert records[0].at == T0 + timedelta(minutes=1)


def test_rolled_back_append_leaves_no_trace(store: Store) -> None:
    append_many(store, 2)
    with pytest.raises(RuntimeError), store.session() as session:
        log.append(session, MAC_KEY, at=T0, actor="a", action="x")
        raise RuntimeError("the change failed")
    append_many(store, 1)
    records = read_all(store)
    assert [r.seq for r in records] == [1, 2, 3]
    assert verify(records, MAC_KEY) is None


def _sql(store: Store, statement: str, **params: object) -> None:
    with store.engine.begin() as conn:
        conn.execute(text(statement), params)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("actor", "'intruder'"),
        ("action", "'key.delete'"),
        ("target", "'key:other'"),
        ("outcome", "'denied'"),
        ("details", "'{\"i\": 99}'"),
        ("at", "'2020-01-01 00:00:00.000000'"),
    ],
)
def test_editing_a_row_in_the_database_is_reported_at_its_seq(store: Store, column: str, value: str) -> None:
    append_many(store, 6)
    _sql(store, f"UPDATE audit_events SET {column} = {value} WHERE seq = 4")
    broken = verify(read_all(store), MAC_KEY)
    assert broken is not None
    assert broken.seq == 4


def test_deleting_a_row_is_reported(store: Store) -> None:
    append_many(store, 6)
    _sql(store, "DELETE FROM audit_events WHERE seq = 3")
    broken = verify(read_all(store), MAC_KEY)
    assert broken is not None
    assert broken.seq == 4
    assert "3" in broken.reason


def test_swapping_two_rows_is_reported(store: Store) -> None:
    append_many(store, 6)
    # Swap every column but the primary key between rows 2 and 5.
    _sql(store, "UPDATE audit_events SET seq = -2 WHERE seq = 2")
    _sql(store, "UPDATE audit_events SET seq = 2 WHERE seq = 5")
    _sql(store, "UPDATE audit_events SET seq = 5 WHERE seq = -2")
    broken = verify(read_all(store), MAC_KEY)
    assert broken is not None
    assert broken.seq == 2


def test_chain_continues_from_the_stored_tail(store: Store) -> None:
    append_many(store, 2)
    tail = read_all(store)[-1]
    with store.session() as session:
        record = log.append(session, MAC_KEY, at=T0, actor="a", action="b")
    assert record.seq == 3
    assert record.prev_hash == tail.hash
