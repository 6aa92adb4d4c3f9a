"""Reading the audit log: verification (chain, checkpoints, an anchor), SIEM export, and anchoring its head.

The chain can only be verified whole, so reading it is all or nothing: owners, organisation
admins and auditors (``access.require_audit_reader``); team admins and members read none of it.
Nothing here changes the log: verification reads, and an anchor is handed to the caller.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from vaultgate.audit import chain, signed_head
from vaultgate.audit import log as audit_log
from vaultgate.audit.anchor import Anchor
from vaultgate.audit.chain import AuditRecord, ChainBreak, CorruptRecord
from vaultgate.audit.log import RecordFilter
from vaultgate.services import access
from vaultgate.services.context import Actor, ControlPlane
from vaultgate.services.errors import Conflict, InvalidInput
from vaultgate.services.notify import Notifier
from vaultgate.upstream.config import UnsafeURLError, check_base_url
from vaultgate.vault import VerifyKey


@dataclass(frozen=True, slots=True)
class Verification:
    """What ``verify`` found: records and checkpoints checked, the anchor checked, and the first break."""

    records: int
    checkpoints: int
    last_seq: int
    broken: ChainBreak | None
    anchor_seq: int | None = None

    @property
    def ok(self) -> bool:
        """Whether nothing was found broken."""
        return self.broken is None


def verify(cp: ControlPlane, actor: Actor) -> tuple[int, ChainBreak | None]:
    """(records checked, first break or None): the chain and its checkpoints."""
    found = check(cp, actor)
    return found.records, found.broken


def check(
    cp: ControlPlane, actor: Actor, *, anchor: Anchor | None = None, trusted_key: VerifyKey | None = None
) -> Verification:
    """Verify the chain, every checkpoint and (given) an anchor; the break with the lowest seq wins.

    The anchor's signature is checked against ``trusted_key`` (a key pinned out of band), else
    against this installation's signing key; checkpoints always against the installation's key.
    """
    access.require_audit_reader(actor)
    install_key = cp.audit_keys.signing_key.verify_key
    with cp.store.session() as session:
        stored = audit_log.checkpoints(session)
        wanted = {c.seq for c in stored} | ({anchor.head.seq} if anchor else set())
        heads: dict[int, str] = {}
        count = 0

        def read() -> Iterator[AuditRecord | CorruptRecord]:
            nonlocal count
            for record in audit_log.records(session):
                count += 1
                if isinstance(record, AuditRecord) and record.seq in wanted:
                    heads[record.seq] = record.hash
                yield record

        chain_break = chain.verify(read(), cp.audit_keys.mac_key, seq_of_hash=audit_log.seq_of_hash(session))
        last = audit_log.last_seq(session)
    inferred = chain_break is not None and chain_break.reason.startswith(chain.UNKEYED_TAIL)
    checkable = chain_break.seq if chain_break and not inferred else last
    breaks: list[ChainBreak] = []
    if anchor is not None:
        breaks.extend(_anchor_break(anchor, trusted_key or install_key, heads, last, checkable))
    for checkpoint in stored:
        breaks.extend(_checkpoint_break(checkpoint, install_key, heads, last, checkable))
    if chain_break is not None and not (inferred and breaks):
        breaks.append(chain_break)
    return Verification(count, len(stored), last, _first(breaks), anchor.head.seq if anchor else None)


def _first(breaks: list[ChainBreak]) -> ChainBreak | None:
    """The break at the lowest seq; several at that seq are named together (the anchor's first)."""
    if not breaks:
        return None
    seq = min(b.seq for b in breaks)
    reasons = dict.fromkeys(b.reason for b in breaks if b.seq == seq)
    return ChainBreak(seq, "; ".join(reasons))


def _checkpoint_break(
    checkpoint: signed_head.SignedHead, key: VerifyKey, heads: dict[int, str], last: int, checkable: int
) -> list[ChainBreak]:
    seq = checkpoint.seq
    if checkpoint.key_id != key.key_id:
        return [ChainBreak(seq, f"checkpoint at {seq} is signed by another key ({checkpoint.key_id[:16]}…)")]
    if not signed_head.signature_ok(checkpoint, key):
        return [ChainBreak(seq, f"checkpoint at {seq}: the signature does not verify (altered or forged)")]
    if seq > last:
        return [ChainBreak(last + 1, f"records after {last} are missing: checkpoint at {seq}")]
    if seq <= checkable and heads.get(seq) != checkpoint.head:
        return [ChainBreak(seq, f"record {seq} altered or replaced since its checkpoint")]
    return []


def _anchor_break(anchor: Anchor, key: VerifyKey, heads: dict[int, str], last: int, checkable: int) -> list[ChainBreak]:
    seq = anchor.head.seq
    if anchor.head.key_id != key.key_id:
        return [
            ChainBreak(
                seq,
                f"the anchor is signed by another key ({anchor.head.key_id[:16]}…), not the trusted one "
                f"({key.key_id[:16]}…)",
            )
        ]
    if not signed_head.signature_ok(anchor.head, key):
        return [ChainBreak(seq, "the anchor's signature does not verify (the anchor was altered or forged)")]
    if seq > last:
        return [ChainBreak(last + 1, f"truncated: records {last + 1}.. are missing since the anchor (at {seq})")]
    if seq <= checkable and heads.get(seq) != anchor.head.head:
        return [ChainBreak(seq, f"record {seq} altered or replaced since the anchor")]
    return []


def make_anchor(cp: ControlPlane, actor: Actor) -> Anchor:
    """The signed head of the chain as it is now; Conflict for an empty log."""
    access.require_audit_reader(actor)
    with cp.store.session() as session:
        head = audit_log.head(session)
    if head is None:
        raise Conflict("the audit log is empty: there is no head to anchor")
    seq, digest, _ = head
    key = cp.audit_keys.signing_key
    return Anchor(signed_head.sign(seq, digest, cp.clock(), key), key.verify_key.text)


def send_anchor(cp: ControlPlane, anchor: Anchor, url: str) -> None:
    """POST the anchor to ``url`` through the notifier (address rules of the webhook); Conflict if not delivered."""
    try:
        check_base_url(url, allow_insecure_http=True, allow_link_local=cp.allow_link_local_upstreams)
    except UnsafeURLError as exc:
        raise InvalidInput(f"'webhook': {exc}") from None
    delivered = Notifier(url, allow_link_local=cp.allow_link_local_upstreams).deliver(
        {"event": "audit.anchor", **anchor.to_json()}
    )
    if not delivered:
        raise Conflict("the anchor was not delivered: the webhook did not answer with a 2xx status")


def record_filter(
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    actor: str | None = None,
    actions: Sequence[str] = (),
    target: str | None = None,
    after: int = 0,
) -> RecordFilter:
    """The export filter; InvalidInput for a reversed or empty time range."""
    if since is not None and until is not None and since >= until:
        raise InvalidInput(
            f"the time range is reversed or empty: since {since.isoformat()} is not before until {until.isoformat()}"
        )
    return RecordFilter(since, until, actor, tuple(actions), target, after)


def export(cp: ControlPlane, actor: Actor, where: RecordFilter | None = None) -> Iterator[dict[str, Any]]:
    """The records ``where`` selects, in chain order, as SIEM lines (a corrupt row as its seq and ``error``)."""
    access.require_audit_reader(actor)
    with cp.store.session() as session:
        for record in audit_log.records(session, where=where):
            yield siem_line(record)


def siem_line(record: AuditRecord | CorruptRecord) -> dict[str, Any]:
    """One exported record: seq, at, actor, action, target, outcome, details, hash, alg."""
    if isinstance(record, CorruptRecord):
        return {"seq": record.seq, "error": record.reason}
    return {
        "seq": record.seq,
        "at": record.at.isoformat(),
        "actor": record.actor,
        "action": record.action,
        "target": record.target,
        "outcome": record.outcome,
        "details": record.details,
        "prev_hash": record.prev_hash,
        "hash": record.hash,
        "alg": record.alg,
    }
