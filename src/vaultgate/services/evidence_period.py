"""The period an evidence bundle covers: a quarter (``2026-Q3``), a month (``2026-09``), or two instants."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from vaultgate.services.errors import InvalidInput

_QUARTER = re.compile(r"([0-9]{4})-Q([0-9])")
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")


@dataclass(frozen=True, slots=True)
class Period:
    """A half-open interval ``[since, until)`` in UTC and the label it was given as."""

    label: str
    since: datetime
    until: datetime

    def to_json(self) -> dict[str, str]:
        """The JSON form in a bundle."""
        return {"label": self.label, "since": self.since.isoformat(), "until": self.until.isoformat()}


def _start(year: int, month: int) -> datetime:
    return datetime(year, month, 1, tzinfo=UTC)


def _next_month(year: int, month: int) -> datetime:
    return _start(year + 1, 1) if month == 12 else _start(year, month + 1)


def _instant(text: str, flag: str) -> datetime:
    """A date (midnight UTC) or an ISO 8601 instant (UTC when it names no offset)."""
    try:
        if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
            return datetime.combine(date.fromisoformat(text), time(), tzinfo=UTC)
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"invalid {flag} {text[:40]!r}: use a date (2026-07-01) or an ISO 8601 time") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def parse(period: str | None = None, since: str | None = None, until: str | None = None) -> Period:
    """The period from ``--period`` or from ``--since``/``--until``; InvalidInput naming the bad value otherwise."""
    if period is not None:
        if since is not None or until is not None:
            raise InvalidInput("give either --period or --since and --until, not both")
        text = period.strip()
        if match := _QUARTER.fullmatch(text):
            year, quarter = int(match.group(1)), int(match.group(2))
            if not 1 <= quarter <= 4:
                raise InvalidInput(f"invalid period {text[:40]!r}: a quarter is Q1 to Q4")
            first = 3 * (quarter - 1) + 1
            return Period(text, _start(year, first), _next_month(year, first + 2))
        if match := _MONTH.fullmatch(text):
            year, month = int(match.group(1)), int(match.group(2))
            if not 1 <= month <= 12:
                raise InvalidInput(f"invalid period {text[:40]!r}: a month is 01 to 12")
            return Period(text, _start(year, month), _next_month(year, month))
        raise InvalidInput(f"invalid period {text[:40]!r}: use a quarter (2026-Q3) or a month (2026-09)")
    if since is None or until is None:
        raise InvalidInput("give --period (2026-Q3, 2026-09) or both --since and --until")
    start, end = _instant(since, "--since"), _instant(until, "--until")
    if end <= start:
        raise InvalidInput(f"--until ({until[:40]}) must be later than --since ({since[:40]})")
    return Period(f"{start.isoformat()}/{end.isoformat()}", start, end)
