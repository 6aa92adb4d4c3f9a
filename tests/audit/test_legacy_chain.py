"""A pre-0005 (unkeyed SHA-256) chain, upgraded by ``vaultgate migrate`` and extended: it verifies, every new
record is keyed, and rewriting the legacy prefix (even recomputed) breaks the first keyed record."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from tests.audit.conftest import Trail, plain_sha256
from tests.conftest import make_settings
from tests.support.schema_0001 import create_0001
from vaultgate.audit.chain import KEYED_ALG, LEGACY_ALG, record_hash
from vaultgate.services import bootstrap, migration


def upgraded(tmp_path: Path, database_url: str) -> Trail:
    settings = make_settings(tmp_path, database_url).evolve(audit_checkpoint_records=5)
    legacy = create_0001(settings, "http://127.0.0.1:9")
    assert legacy.audit_records == 6
    assert migration.migrate(settings).applied
    return Trail(settings, bootstrap.open_control_plane(settings))


def test_a_legacy_chain_upgraded_and_extended_verifies(tmp_path: Path, database_url: str) -> None:
    trail = upgraded(tmp_path, database_url)
    try:
        trail.append(4)
        records = trail.records()
        assert [r.alg for r in records] == [LEGACY_ALG] * 6 + [KEYED_ALG] * 5
        assert records[6].action == "vaultgate.migrate" and records[6].prev_hash == records[5].hash
        found = trail.verify()
        assert found.ok and found.records == 11
        assert found.checkpoints >= 1  # the migration's record, long after the first: a checkpoint at once

        before = trail.rows()
        trail.sql("UPDATE audit_events SET outcome = 'refused' WHERE seq = 3")
        broken = trail.verify().broken
        assert broken is not None and (broken.seq, broken.reason) == (3, "record content does not match its hash")

        trail.recompute_from(3, plain_sha256)  # the whole chain recomputed unkeyed from the edit on
        broken = trail.verify().broken
        assert broken is not None and broken.seq == 7
        assert trail.rows() != before
    finally:
        trail.cp.store.dispose()


def test_rewriting_only_the_legacy_prefix_breaks_the_first_keyed_record(tmp_path: Path, database_url: str) -> None:
    trail = upgraded(tmp_path, database_url)
    try:
        trail.append(1)
        trail.sql("UPDATE audit_events SET actor = 'mem_0000000000000000' WHERE seq = 2")
        records = trail.records()
        # Recompute records 2..6 with SHA-256 (what anyone can do), leaving the keyed records alone.
        prev = records[0].hash
        for record in records[1:6]:
            digest = record_hash(dataclasses.replace(record, prev_hash=prev))
            trail.sql(
                "UPDATE audit_events SET prev_hash = :p, hash = :h WHERE seq = :s", p=prev, h=digest, s=record.seq
            )
            prev = digest
        broken = trail.verify().broken
        assert broken is not None and broken.seq == 7
        assert broken.reason.startswith("link to the previous record is broken")
    finally:
        trail.cp.store.dispose()
