"""The hash chain: verification, and detection of every kind of tampering at the right seq."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, datetime, timedelta, timezone

import pytest

from vaultgate.audit.chain import GENESIS, KEYED_ALG, AuditRecord, ChainBreak, record_mac, seal
from vaultgate.audit.chain import verify as verify_chain

T0 = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
MAC_KEY = b"k" * 32


def verify(records: list[AuditRecord]) -> ChainBreak | None:
    return verify_chain(records, MAC_KEY)


def record_hash(record: AuditRecord) -> str:
    return record_mac(record, MAC_KEY)


def build_chain(n: int) -> list[AuditRecord]:
    records: list[AuditRecord] = []
    prev = GENESIS
    for seq in range(1, n + 1):
        record = AuditRecord(
            seq=seq,
            at=T0 + timedelta(seconds=seq),
            actor=f"admin:{seq % 3}",
            action=["key.create", "key.revoke", "member.suspend"][seq % 3],
            target=None if seq % 4 == 0 else f"key:{seq}",
            outcome="ok" if seq % 5 else "denied",
            details={"n": seq, "models": ["gpt-4o"], "nested": {"ip": "10.0.0.1"}},
            prev_hash=prev,
        )
        record = seal(record, MAC_KEY)
        records.append(record)
        prev = record.hash
    return records


def test_intact_chain_verifies() -> None:
    assert verify(build_chain(8)) is None
    assert verify([]) is None


def test_first_record_links_to_genesis() -> None:
    chain = build_chain(3)
    assert all(r.alg == KEYED_ALG for r in chain)
    assert chain[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(chain))


ALTERATIONS = {
    "at": lambda r: r.at + timedelta(microseconds=1),
    "actor": lambda r: r.actor + "x",
    "action": lambda r: "key.delete",
    "target": lambda r: "key:other",
    "outcome": lambda r: "error",
    "details": lambda r: {**r.details, "n": -1},
    "prev_hash": lambda r: "f" * 64,
    "hash": lambda r: "e" * 64,
}


@pytest.mark.parametrize("field", list(ALTERATIONS))
@pytest.mark.parametrize("index", [0, 3, 7])
def test_altering_any_field_of_any_record_is_reported_at_its_seq(field: str, index: int) -> None:
    chain = build_chain(8)
    record = chain[index]
    chain[index] = dataclasses.replace(record, **{field: ALTERATIONS[field](record)})
    broken = verify(chain)
    assert broken is not None
    assert broken.seq == record.seq


def test_altering_a_nested_detail_is_detected() -> None:
    chain = build_chain(5)
    details = {**chain[2].details, "nested": {"ip": "10.0.0.2"}}
    chain[2] = dataclasses.replace(chain[2], details=details)
    broken = verify(chain)
    assert broken is not None and broken.seq == 3


def test_renumbering_a_record_is_detected() -> None:
    chain = build_chain(5)
    chain[0] = dataclasses.replace(chain[0], seq=7)
    broken = verify(chain)
    assert broken is not None and broken.seq == 7


def test_rehashing_an_altered_record_breaks_the_next_link() -> None:
    chain = build_chain(5)
    forged = dataclasses.replace(chain[2], actor="someone-else")
    chain[2] = seal(forged, MAC_KEY)  # someone holding the MAC key
    broken = verify(chain)
    assert broken is not None
    assert broken.seq == 4
    assert "link" in broken.reason


@pytest.mark.parametrize("index", [1, 2, 5])
def test_deleting_a_record_is_reported(index: int) -> None:
    chain = build_chain(7)
    deleted = chain.pop(index)
    broken = verify(chain)
    assert broken is not None
    # Reported at the first record after the hole, naming the missing seq.
    assert broken.seq == deleted.seq + 1
    assert str(deleted.seq) in broken.reason


def test_deleting_the_first_record_is_reported() -> None:
    chain = build_chain(4)[1:]
    broken = verify(chain)
    assert broken is not None and broken.seq == 2


def test_deleting_and_renumbering_is_reported_at_the_hole() -> None:
    chain = build_chain(5)
    del chain[2]
    chain[2:] = [dataclasses.replace(r, seq=r.seq - 1) for r in chain[2:]]
    broken = verify(chain)
    assert broken is not None and broken.seq == 3


def test_swapping_two_records_is_reported() -> None:
    chain = build_chain(6)
    chain[2], chain[3] = chain[3], chain[2]
    broken = verify(chain)
    assert broken is not None
    assert broken.seq == 4  # the record found where seq 3 should be
    assert "3" in broken.reason


def test_swapping_contents_but_keeping_seq_order_is_reported_at_first_position() -> None:
    chain = build_chain(6)
    a, b = chain[2], chain[3]
    chain[2] = dataclasses.replace(b, seq=a.seq)
    chain[3] = dataclasses.replace(a, seq=b.seq)
    broken = verify(chain)
    assert broken is not None and broken.seq == 3


TIMEZONES = [timezone(timedelta(hours=2)), timezone(timedelta(hours=-7, minutes=-30)), UTC]


@pytest.mark.parametrize("tz", TIMEZONES)
def test_same_instant_in_another_timezone_hashes_the_same(tz: timezone) -> None:
    chain = build_chain(4)
    record = chain[1]
    moved = dataclasses.replace(record, at=record.at.astimezone(tz))
    assert moved.at == record.at
    assert record_hash(moved) == record.hash
    chain[1] = moved
    assert verify(chain) is None


def test_zoneinfo_timezone_hashes_the_same() -> None:
    zoneinfo = pytest.importorskip("zoneinfo")
    try:
        berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    except zoneinfo.ZoneInfoNotFoundError:
        pytest.skip("no tz database")
    record = build_chain(1)[0]
    assert record_hash(dataclasses.replace(record, at=record.at.astimezone(berlin))) == record.hash


def test_different_instant_hashes_differently() -> None:
    record = build_chain(1)[0]
    shifted = record.at.replace(tzinfo=timezone(timedelta(hours=2)))  # same wall clock, other instant
    assert record_hash(dataclasses.replace(record, at=shifted)) != record.hash


def test_hash_does_not_depend_on_details_key_order() -> None:
    record = build_chain(1)[0]
    reordered = dict(reversed(list(record.details.items())))
    assert list(reordered) != list(record.details)
    assert record_hash(dataclasses.replace(record, details=reordered)) == record.hash
