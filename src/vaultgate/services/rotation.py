"""Key age: the team's max-age policy (default 90 days) marks keys due for rotation."""

from __future__ import annotations

from datetime import datetime

from vaultgate.store.models import MemberKey, Team

DEFAULT_MAX_KEY_AGE_DAYS = 90


def max_age_days(team: Team | None) -> int:
    """The team's max key age, or the default."""
    if team is not None and team.max_key_age_days:
        return team.max_key_age_days
    return DEFAULT_MAX_KEY_AGE_DAYS


def rotation_status(key: MemberKey, team: Team | None, now: datetime) -> tuple[bool, int]:
    """(due for rotation, age in days since creation or the last rotation)."""
    since = key.rotated_at or key.created_at
    age = max(0, (now - since).days)
    return age >= max_age_days(team), age


def overdue_and_expiring(key: MemberKey, team: Team | None, now: datetime) -> bool:
    """Whether the key is past its team's max age and the team expires such keys."""
    return bool(team is not None and team.expire_overdue_keys and rotation_status(key, team, now)[0])
