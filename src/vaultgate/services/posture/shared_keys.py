"""Shared keys: one key used, in one UTC day, from more client networks or user agents than one person has.

The gateway records keyed pseudonyms of each request's client network (its /24) and user
agent (``usage_events.client_hash`` and ``agent_hash``); this counts the distinct values per key
and day over the last ``posture_window_days``. More than ``posture_shared_key_networks`` networks
or ``posture_shared_key_agents`` agents in a day is high: the terms of use forbid sharing a key,
and a shared key cannot be revoked from one person without cutting off the others.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import distinct, func, or_, select

from vaultgate.services.posture.finding import Fact, Finding, Severity, command
from vaultgate.services.posture.inspection import Check, Inspection
from vaultgate.store.models import MemberKey, UsageEvent


def _day(dialect: str) -> Any:
    """The UTC calendar day of a usage event, as the database computes it."""
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", UsageEvent.at), "YYYY-MM-DD")
    return func.date(UsageEvent.at)  # SQLite keeps instants as UTC text


def shared(inspection: Inspection) -> Iterator[Finding | Fact]:
    """Each (key, day) over either threshold, with the counts."""
    settings = inspection.settings
    cp = inspection.plane
    day = _day(cp.store.dialect).label("day")
    networks = func.count(distinct(UsageEvent.client_hash))
    agents = func.count(distinct(UsageEvent.agent_hash))
    since = inspection.now - timedelta(days=settings.posture_window_days)
    query = (
        select(UsageEvent.key_id, MemberKey.member_id, day, networks, agents)
        .join(MemberKey, MemberKey.id == UsageEvent.key_id)
        .where(UsageEvent.at >= since, MemberKey.revoked_at.is_(None))
        .group_by(UsageEvent.key_id, MemberKey.member_id, day)
        .having(or_(networks > settings.posture_shared_key_networks, agents > settings.posture_shared_key_agents))
        .order_by(UsageEvent.key_id, day)
    )
    with cp.store.session() as session:
        rows = session.execute(query).all()
    for key_id, member_id, on, network_count, agent_count in rows:
        yield Finding(
            "key.shared",
            Severity.HIGH,
            f"key used from {network_count} networks and {agent_count} user agents in one day: it looks shared",
            str(key_id),
            {
                "key_id": key_id,
                "member_id": member_id,
                "day": str(on),
                "networks": cast(int, network_count),
                "agents": cast(int, agent_count),
                "max_networks": settings.posture_shared_key_networks,
                "max_agents": settings.posture_shared_key_agents,
            },
            command("key", "rotate", str(key_id), "--grace", "0s"),
        )


CHECKS = (Check("key.shared", shared),)
