"""An initialised installation whose audit table the tests tamper with directly in SQL (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tests.conftest import make_settings
from tests.support import cli as commands
from vaultgate.audit import log as audit_log
from vaultgate.audit.chain import KEYED_ALG, LEGACY_ALG, AuditRecord, record_hash, record_mac
from vaultgate.config import Settings
from vaultgate.services import audit_trail, bootstrap
from vaultgate.services.context import LOCAL_OPERATOR, ControlPlane


@dataclasses.dataclass
class Trail:
    """An installation (``init`` done) and ways to write, read and tamper with its audit table."""

    settings: Settings
    cp: ControlPlane

    def append(self, n: int, action: str = "test.event") -> None:
        """``n`` more records, each in its own transaction, as the services write them."""
        for i in range(n):
            with self.cp.store.session() as session:
                self.cp.audit(session, LOCAL_OPERATOR, action, f"key_{i:016x}", n=i)

    def sql(self, statement: str, **params: Any) -> None:
        with self.cp.store.engine.begin() as conn:
            conn.execute(text(statement), params)

    def scalar(self, statement: str, **params: Any) -> Any:
        with self.cp.store.engine.connect() as conn:
            return conn.execute(text(statement), params).scalar()

    def rows(self) -> list[tuple[Any, ...]]:
        """Every audit row and checkpoint as raw text (to show that verify changes nothing)."""
        with self.cp.store.engine.connect() as conn:
            events = conn.execute(
                text("SELECT seq, CAST(details AS TEXT), prev_hash, hash, alg FROM audit_events ORDER BY seq")
            ).all()
            checkpoints = conn.execute(text("SELECT seq, head, signature FROM audit_checkpoints ORDER BY seq")).all()
        return [tuple(r) for r in events] + [tuple(r) for r in checkpoints]

    def records(self) -> list[AuditRecord]:
        with self.cp.store.session() as session:
            found = list(audit_log.records(session))
        assert all(isinstance(r, AuditRecord) for r in found)
        return found  # type: ignore[return-value]

    @property
    def last(self) -> int:
        return int(self.scalar("SELECT MAX(seq) FROM audit_events"))

    def recompute_from(self, seq: int, how: Callable[[AuditRecord], tuple[str, str]]) -> None:
        """Rewrite the prev link, hash and alg of every record from ``seq`` on, as an attacker holding only
        the database would: ``how`` gives each (relinked) record's new (hash, alg)."""
        records = self.records()
        prev = next((r.hash for r in records if r.seq == seq - 1), "0" * 64)
        with self.cp.store.engine.begin() as conn:
            for record in records:
                if record.seq < seq:
                    continue
                relinked = dataclasses.replace(record, prev_hash=prev)
                digest, alg = how(relinked)
                conn.execute(
                    text("UPDATE audit_events SET prev_hash = :p, hash = :h, alg = :a WHERE seq = :s"),
                    {"p": prev, "h": digest, "a": alg, "s": record.seq},
                )
                prev = digest

    def verify(self) -> audit_trail.Verification:
        return audit_trail.check(self.cp, LOCAL_OPERATOR)


def plain_sha256(record: AuditRecord) -> tuple[str, str]:
    """The attack of the issue: recompute with plain SHA-256 (and call it the legacy algorithm)."""
    return record_hash(dataclasses.replace(record, alg=LEGACY_ALG)), LEGACY_ALG


def plain_sha256_keeping_alg(record: AuditRecord) -> tuple[str, str]:
    """Plain SHA-256, leaving the rows labelled as keyed."""
    return record_hash(record), KEYED_ALG


def wrong_key(record: AuditRecord) -> tuple[str, str]:
    """HMAC, but under a key the attacker made up (the vault's key cannot be read from the database)."""
    return record_mac(dataclasses.replace(record, alg=KEYED_ALG), b"not the vault's key" * 2), KEYED_ALG


@pytest.fixture
def trail(tmp_path: Path, database_url: str) -> Iterator[Trail]:
    """``init`` on SQLite or PostgreSQL, with checkpoints every 5 records."""
    settings = make_settings(tmp_path, database_url).evolve(audit_checkpoint_records=5)
    bootstrap.init(settings)
    cp = bootstrap.open_control_plane(settings)
    yield Trail(settings, cp)
    cp.store.dispose()


@dataclasses.dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str


@pytest.fixture
def vaultgate() -> Callable[..., Ran]:
    """``vaultgate`` run in this process against an installation's settings: (exit code, stdout, stderr)."""

    def run(settings: Settings, *args: str) -> Ran:
        env = {"VAULTGATE_AUDIT_CHECKPOINT_RECORDS": str(settings.audit_checkpoint_records)}
        result = commands.run_for(settings, *args, env=env)
        return Ran(result.returncode, result.stdout, result.stderr)

    return run
