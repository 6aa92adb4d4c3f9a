"""Tampering with the audit table directly in SQL, on SQLite and PostgreSQL: verify names the first broken
record and why, and changes nothing. The attacker holds the database, not the vault."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import DBAPIError

from tests.audit.conftest import Trail, plain_sha256, plain_sha256_keeping_alg, wrong_key
from vaultgate.audit.chain import KEYED_ALG
from vaultgate.vault import SigningKey


def broken_at(trail: Trail) -> tuple[int, str]:
    before = trail.rows()
    found = trail.verify()
    assert trail.rows() == before, "verify changed the table"
    assert found.broken is not None, "tampering went unnoticed"
    return found.broken.seq, found.broken.reason


def test_new_records_are_keyed_and_verify(trail: Trail) -> None:
    trail.append(11)
    records = trail.records()
    assert len(records) == 12 and {r.alg for r in records} == {KEYED_ALG}
    found = trail.verify()
    assert found.ok and found.records == 12 and found.checkpoints == 2  # at records 5 and 10


@pytest.mark.parametrize(
    ("column", "value"),
    [("actor", "'mem_0123456789abcdef'"), ("outcome", "'refused'"), ("target", "NULL"), ("action", "'x'")],
)
def test_an_edited_column_is_named(trail: Trail, column: str, value: str) -> None:
    trail.append(8)
    trail.sql(f"UPDATE audit_events SET {column} = {value} WHERE seq = 4")
    seq, reason = broken_at(trail)
    assert (seq, reason) == (4, "record content does not match its keyed hash (MAC)")


@pytest.mark.parametrize("recompute", [plain_sha256, plain_sha256_keeping_alg, wrong_key])
def test_recomputing_the_chain_without_the_key_is_caught_at_the_edited_record(trail: Trail, recompute: object) -> None:
    trail.append(3)  # records 1..4, no checkpoint yet: only the MAC stands in the way
    trail.sql("UPDATE audit_events SET outcome = 'refused' WHERE seq = 3")
    trail.recompute_from(3, recompute)  # type: ignore[arg-type]
    seq, reason = broken_at(trail)
    assert seq == 3
    if recompute is plain_sha256:
        assert reason == "unkeyed record after the chain was keyed (at record 1)"
    else:
        assert reason == "record content does not match its keyed hash (MAC)"


def test_recomputing_the_whole_chain_unkeyed_is_caught(trail: Trail) -> None:
    trail.append(3)
    trail.sql("UPDATE audit_events SET actor = 'someone' WHERE seq = 2")
    trail.recompute_from(1, plain_sha256)  # every record now looks like a pre-upgrade one
    seq, reason = broken_at(trail)
    assert seq == 1 and reason.startswith("the chain ends in unkeyed records")


def test_a_recomputed_chain_contradicts_its_signed_checkpoints(trail: Trail) -> None:
    trail.append(9)  # checkpoints at 5 and 10
    trail.sql("UPDATE audit_events SET outcome = 'refused' WHERE seq = 7")
    trail.recompute_from(7, wrong_key)
    seq, reason = broken_at(trail)
    assert seq == 7 and "does not match its keyed hash" in reason


def test_a_deleted_record_is_named(trail: Trail) -> None:
    trail.append(6)
    trail.sql("DELETE FROM audit_events WHERE seq = 4")
    assert broken_at(trail) == (5, "sequence gap: record 4 missing (expected 4)")


def test_deleted_records_renumbered_and_relinked_are_caught(trail: Trail) -> None:
    trail.append(3)
    trail.sql("DELETE FROM audit_events WHERE seq = 2")
    trail.sql("UPDATE audit_events SET seq = seq - 1 WHERE seq > 2")
    trail.recompute_from(2, wrong_key)
    assert broken_at(trail)[0] == 2


def test_a_reordered_pair_is_named(trail: Trail) -> None:
    trail.append(6)
    # Swap every column but the key between records 3 and 4.
    trail.sql("UPDATE audit_events SET seq = -3 WHERE seq = 3")
    trail.sql("UPDATE audit_events SET seq = 3 WHERE seq = 4")
    trail.sql("UPDATE audit_events SET seq = 4 WHERE seq = -3")
    seq, reason = broken_at(trail)
    assert seq == 3
    assert "records reordered" in reason and "record 3 links to record 3" not in reason


def test_a_fork_is_named(trail: Trail) -> None:
    trail.append(6)
    # Record 5 claims record 3 as its predecessor, as record 4 does: two branches from one record.
    trail.sql("UPDATE audit_events SET prev_hash = (SELECT prev_hash FROM audit_events WHERE seq = 4) WHERE seq = 5")
    seq, reason = broken_at(trail)
    assert seq == 5
    assert "a fork, record 5 claims record 3 as its predecessor, which record 4 already does" in reason


def test_a_truncated_tail_is_named_by_the_checkpoint_beyond_it(trail: Trail) -> None:
    trail.append(11)  # checkpoints at 5 and 10
    trail.sql("DELETE FROM audit_events WHERE seq > 7")
    seq, reason = broken_at(trail)
    assert (seq, reason) == (8, "records after 7 are missing: checkpoint at 10")


def test_an_emptied_table_is_named_by_its_checkpoints(trail: Trail) -> None:
    trail.append(5)
    trail.sql("DELETE FROM audit_events")
    assert broken_at(trail) == (1, "records after 0 are missing: checkpoint at 5")


def test_details_that_are_not_json_are_named(trail: Trail) -> None:
    trail.append(4)
    if trail.cp.store.is_postgres:  # a json column refuses text that does not parse; a scalar gets in
        trail.sql("""UPDATE audit_events SET details = '"just text"' WHERE seq = 3""")
        expected = "details are not a JSON object"
    else:
        trail.sql("UPDATE audit_events SET details = '{not json' WHERE seq = 3")
        expected = "details are not valid JSON"
    assert broken_at(trail) == (3, expected)


def test_a_null_hash_is_named(trail: Trail) -> None:
    trail.append(4)
    if trail.cp.store.is_postgres:
        trail.sql("ALTER TABLE audit_events ALTER COLUMN hash DROP NOT NULL")
    else:  # SQLite cannot drop a constraint: the attacker rebuilds the table without it
        trail.sql("CREATE TABLE loose AS SELECT * FROM audit_events")
        trail.sql("DROP TABLE audit_events")
        trail.sql("ALTER TABLE loose RENAME TO audit_events")
    trail.sql("UPDATE audit_events SET hash = NULL WHERE seq = 2")
    assert broken_at(trail) == (2, "hash is missing (NULL)")


def test_a_time_that_is_not_a_time_is_named_or_cannot_be_written(trail: Trail) -> None:
    trail.append(4)
    if trail.cp.store.is_postgres:  # a timestamptz column holds only times: the attempt fails, the chain holds
        with pytest.raises(DBAPIError):
            trail.sql("UPDATE audit_events SET at = 'not a time' WHERE seq = 2")
        assert trail.verify().broken is None
        return
    trail.sql("UPDATE audit_events SET at = 'yesterday' WHERE seq = 2")
    assert broken_at(trail) == (2, "time 'yesterday' is not a timestamp")


def test_a_tampered_checkpoint_is_named(trail: Trail) -> None:
    trail.append(11)
    other = trail.scalar("SELECT hash FROM audit_events WHERE seq = 4")
    trail.sql("UPDATE audit_checkpoints SET head = :h WHERE seq = 10", h=other)
    assert broken_at(trail) == (10, "checkpoint at 10: the signature does not verify (altered or forged)")


def test_a_checkpoint_signed_with_another_key_is_named(trail: Trail) -> None:
    trail.append(6)
    forger = SigningKey.generate()
    trail.sql(
        "UPDATE audit_checkpoints SET key_id = :k, signature = :s WHERE seq = 5",
        k=forger.verify_key.key_id,
        s=forger.sign(b"anything"),
    )
    seq, reason = broken_at(trail)
    assert seq == 5 and reason.startswith("checkpoint at 5 is signed by another key")


def test_a_checkpoint_whose_record_was_replaced_is_named(trail: Trail) -> None:
    trail.append(6)
    # The record at the checkpoint replaced, and everything from it recomputed with a made-up key.
    trail.sql("UPDATE audit_events SET outcome = 'refused' WHERE seq = 5")
    trail.recompute_from(5, wrong_key)
    seq, reason = broken_at(trail)
    assert seq == 5
    assert "record 5 altered or replaced since its checkpoint" in reason
    assert "does not match its keyed hash" in reason
