"""Who owns each stored upstream object (files, batches, responses...): the store side of ownership.

The data plane reads and writes this through callables wired in ``server.py`` (it never imports
the store), each run in a thread: :func:`lookup` when a request names ids, :func:`record` when
an answer creates an object, :func:`forget` when one is deleted. :func:`claim` is the admin's
way to assign an object vaultgate never saw created (docs/ACCESS.md, "Object ownership").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite

from vaultgate.gateway.templates import IDENTIFIER, OBJECT_KINDS
from vaultgate.policy.ownership import ObjectOwner
from vaultgate.services import access
from vaultgate.services.context import Actor, ControlPlane
from vaultgate.services.errors import Conflict, InvalidInput
from vaultgate.services.members import find
from vaultgate.services.refusals import refusals_audited
from vaultgate.store.models import OwnedObject


def _owner(row: OwnedObject) -> ObjectOwner:
    return ObjectOwner(row.id, row.kind, row.member_id, row.team_id, row.key_id, row.provider)


def lookup(cp: ControlPlane, ids: Iterable[str]) -> dict[str, ObjectOwner]:
    """The recorded owners of ``ids`` (ids nobody recorded are absent)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    with cp.store.session() as session:
        rows = session.scalars(select(OwnedObject).where(OwnedObject.id.in_(wanted))).all()
        return {row.id: _owner(row) for row in rows}


def record(cp: ControlPlane, owners: Sequence[ObjectOwner]) -> None:
    """Record new objects in one transaction; an id already recorded keeps its first owner (an object
    never changes hands through the data plane)."""
    if not owners:
        return
    now = cp.clock()
    rows = [
        {
            "id": o.id,
            "kind": o.kind,
            "member_id": o.member_id,
            "team_id": o.team_id,
            "key_id": o.key_id,
            "provider": o.provider,
            "created_at": now,
        }
        for o in {o.id: o for o in owners}.values()
    ]
    dialect = postgresql if cp.store.is_postgres else sqlite
    statement = dialect.insert(OwnedObject).values(rows).on_conflict_do_nothing(index_elements=["id"])
    with cp.store.engine.begin() as conn:
        conn.execute(statement)


def forget(cp: ControlPlane, object_id: str) -> None:
    """Forget a deleted object (its id names nothing any more: a later request for it is 404)."""
    with cp.store.engine.begin() as conn:
        conn.execute(delete(OwnedObject).where(OwnedObject.id == object_id))


@refusals_audited("object.claim")
def claim(
    cp: ControlPlane, actor: Actor, object_id: str, kind: str, member_name: str, provider: str | None = None
) -> ObjectOwner:
    """Assign an object vaultgate did not see created (made before vaultgate, or directly at the
    provider) to a member; organisation managers only, audited. An id already owned is a Conflict:
    ownership is never moved by claiming."""
    access.require_org_manager(actor, "assign stored objects to members")
    if kind not in OBJECT_KINDS:
        raise InvalidInput(f"unknown object kind {kind!r}: use one of {', '.join(sorted(OBJECT_KINDS))}")
    if IDENTIFIER.fullmatch(object_id) is None or ".." in object_id:
        raise InvalidInput("an object id is a plain identifier (letters, digits, '.', '_', ':', '-')")
    with cp.store.session() as session:
        if session.get(OwnedObject, object_id) is not None:
            raise Conflict(f"object {object_id} already belongs to a member")
        member = find(session, member_name)
        row = OwnedObject(
            id=object_id,
            kind=kind,
            member_id=member.id,
            team_id=member.team_id,
            key_id=None,
            provider=provider,
            created_at=cp.clock(),
        )
        session.add(row)
        cp.audit(session, actor, "object.claim", object_id, kind=kind, member=member.id)
        return _owner(row)
