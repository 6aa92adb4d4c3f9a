"""``services.usage.report`` on SQLite and PostgreSQL: every dimension, totals and cost field by field,
the period (UTC days, ``until`` exclusive), role scoping in the query, and names resolved at read time.

The seeded rows are written through ``usage.write`` (what the gateway's recorder calls), and the
expected lines are computed here from the seed with the rules of docs/USAGE.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from tests.conftest import make_settings

from vaultgate.config import Settings
from vaultgate.services import bootstrap, keys, members, teams, usage
from vaultgate.services.context import LOCAL_OPERATOR, Actor, ControlPlane, Role
from vaultgate.services.errors import InvalidInput
from vaultgate.store.models import Member
from vaultgate.usage.events import UsageRecord

SINCE = datetime(2026, 3, 1, tzinfo=UTC)
UNTIL = datetime(2026, 3, 3, tzinfo=UTC)


@dataclass(frozen=True)
class Row:
    """One seeded usage row, by names (resolved to ids when written)."""

    member: str
    key: str | None
    team: str | None  # the team on the record (None: an old row, before records carried one)
    model: str | None
    at: datetime
    status: int = 200
    prompt: int | None = None
    completion: int | None = None
    cost: float | None = None
    endpoint: str = "chat/completions"


def at(day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, second, tzinfo=UTC) if day > 0 else datetime(2026, 2, 27, tzinfo=UTC)


ROWS = [
    Row("alice", "laptop", "red", "gpt-4o-mini", at(1, 10), prompt=100, completion=50, cost=0.25),
    Row("alice", "laptop", "red", "gpt-4o-mini", at(1, 23, 59, 59), prompt=10, completion=5, cost=0.5),
    Row("alice", "ci", "red", "local-llama", at(2), prompt=7, completion=3),  # no price: unpriced
    Row("alice", "ci", None, "gpt-4o-mini", at(2, 1), status=500),  # old row: the member's team now (red)
    Row("alice", "ci", "blue", "gpt-4o-mini", at(2, 2), prompt=1, completion=1, cost=0.125),  # while in blue
    Row("bob", "bobkey", "blue", "gpt-4o-mini", at(1, 12), status=429),  # refused: no tokens, costs 0
    Row("bob", "bobkey", "blue", "gpt-4o-mini", at(2, 12), prompt=20, completion=30, cost=1.0),
    Row("bob", "bobkey", "blue", None, at(2, 13), endpoint="images"),  # billed without tokens, no price
    Row("rita", "ritakey", "red", "gpt-4o-mini", at(1, 8), prompt=2, completion=2, cost=0.0625),
    Row("alice", "laptop", "red", "gpt-4o-mini", at(0), prompt=1000, completion=1000, cost=100.0),  # before
    Row("bob", "bobkey", "blue", "gpt-4o-mini", at(3), prompt=1000, completion=1000, cost=100.0),  # at until
]
IN_RANGE = [r for r in ROWS if SINCE <= r.at < UNTIL]
CURRENT_TEAM = {"alice": "red", "bob": "blue", "rita": "red", "olga": None, "audrey": None}


@dataclass
class World:
    """A seeded installation: ids by name, and an actor for each role."""

    cp: ControlPlane
    member_ids: dict[str, str]
    team_ids: dict[str, str]
    key_ids: dict[str, str]
    key_display: dict[str, str]
    settings: Settings | None = None

    def actor(self, name: str, role: Role) -> Actor:
        return Actor(name, role, self.member_ids[name], self.team_ids.get(CURRENT_TEAM[name] or ""))


def seed(cp: ControlPlane) -> World:
    """Teams red and blue; alice (red, keys laptop and ci), bob (blue, an unnamed key), rita (red's admin),
    olga (owner), audrey (auditor); and ROWS."""
    team_ids = {name: teams.create(cp, LOCAL_OPERATOR, name).id for name in ("red", "blue")}
    member_ids = {}
    for name, role in (
        ("alice", "member"),
        ("bob", "member"),
        ("rita", "admin"),
        ("olga", "owner"),
        ("audrey", "auditor"),
    ):
        member_ids[name] = members.add(cp, LOCAL_OPERATOR, name, team=CURRENT_TEAM[name], role=role).id
    key_ids, key_display = {}, {}
    for member, key in (("alice", "laptop"), ("alice", "ci"), ("bob", "bobkey"), ("rita", "ritakey")):
        created = keys.create(cp, LOCAL_OPERATOR, member, name=None if key == "bobkey" else key).info
        key_ids[key], key_display[key] = created.id, created.display
    records = [
        UsageRecord(
            at=r.at,
            request_id=f"req_{i}",
            member_id=member_ids[r.member],
            key_id=key_ids[r.key] if r.key else None,
            provider="capture",
            endpoint=r.endpoint,
            model=r.model,
            status=r.status,
            error_code=None if r.status < 400 else "some_error",
            stream=False,
            prompt_tokens=r.prompt,
            completion_tokens=r.completion,
            latency_ms=1.0,
            cost_usd=r.cost,
            team_id=team_ids[r.team] if r.team else None,
        )
        for i, r in enumerate(ROWS)
    ]
    usage.write(cp, records)
    return World(cp, member_ids, team_ids, key_ids, key_display)


@pytest.fixture
def world(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    # A session time zone far from UTC: days must still be UTC days (PostgreSQL reads PGTZ).
    monkeypatch.setenv("PGTZ", "Pacific/Kiritimati")
    settings = make_settings(tmp_path, database_url)
    bootstrap.init(settings)
    cp = bootstrap.open_control_plane(settings)
    seeded = seed(cp)
    seeded.settings = settings
    yield seeded
    cp.store.dispose()


# ---- the expected lines, from the seed -------------------------------------------------------


def dimension_values(world: World, row: Row) -> dict[str, str | None]:
    team = row.team if row.team is not None else CURRENT_TEAM[row.member]
    key = row.key or ""
    return {
        "member": row.member,
        "team": team,
        "key": world.key_display[key] if key == "bobkey" else key,
        "key_id": world.key_ids[key],
        "model": row.model,
        "day": row.at.date().isoformat(),
    }


def expected(world: World, rows: list[Row], by: tuple[str, ...]) -> list[dict[str, Any]]:
    fields = [f for d in by for f in (("key", "key_id") if d == "key" else (d,))]
    lines: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        values = dimension_values(world, row)
        group = tuple(values[f] for f in fields)
        line = lines.setdefault(
            group,
            {
                **{f: values[f] for f in fields},
                "requests": 0,
                "errors": 0,
                "prompt_tokens": 0,
                "completion_tokens": 0,
                "cost_usd": 0.0,
                "unpriced": 0,
            },
        )
        line["requests"] += 1
        line["errors"] += row.status >= 400
        line["prompt_tokens"] += row.prompt or 0
        line["completion_tokens"] += row.completion or 0
        line["cost_usd"] += row.cost or 0.0
        used = row.prompt is not None or row.completion is not None or (row.status < 400 and row.endpoint == "images")
        line["unpriced"] += row.cost is None and used
    return sorted(lines.values(), key=lambda line: [(line[f] is None, line[f] or "") for f in fields])


def report(world: World, actor: Actor = LOCAL_OPERATOR, **kw: Any) -> list[dict[str, Any]]:
    kw.setdefault("since", SINCE)
    kw.setdefault("until", UNTIL)
    return [line.as_dict() for line in usage.report(world.cp, actor, **kw)]


# ---- dimensions, totals, cost --------------------------------------------------------------

BY = [
    ("member",),
    ("team",),
    ("key",),
    ("model",),
    ("day",),
    ("member", "model"),
    ("team", "day"),
    ("day", "key", "model"),
    ("member", "team", "key", "model", "day"),
]


@pytest.mark.parametrize("by", BY, ids=",".join)
def test_every_dimension_field_by_field(world: World, by: tuple[str, ...]) -> None:
    assert report(world, by=by) == expected(world, IN_RANGE, by)


def test_the_lines_by_team_and_day_literally(world: World) -> None:
    """The same rules written out once by hand: old rows count to the member's team now, a row written
    while the member was in another team counts there, days are UTC, costs sum, unknown prices count 0."""
    lines = report(world, by=("team", "day"))
    assert lines == [
        {"team": "blue", "day": "2026-03-01", "requests": 1, "errors": 1, "prompt_tokens": 0,
         "completion_tokens": 0, "cost_usd": 0.0, "unpriced": 0},
        {"team": "blue", "day": "2026-03-02", "requests": 3, "errors": 0, "prompt_tokens": 21,
         "completion_tokens": 31, "cost_usd": 1.125, "unpriced": 1},
        {"team": "red", "day": "2026-03-01", "requests": 3, "errors": 0, "prompt_tokens": 112,
         "completion_tokens": 57, "cost_usd": 0.8125, "unpriced": 0},
        {"team": "red", "day": "2026-03-02", "requests": 2, "errors": 1, "prompt_tokens": 7,
         "completion_tokens": 3, "cost_usd": 0.0, "unpriced": 1},
    ]  # fmt: skip
    total = usage.totals(usage.report(world.cp, LOCAL_OPERATOR, since=SINCE, until=UNTIL, by=("team", "day")))
    assert total.as_dict() == {
        "requests": 9, "errors": 2, "prompt_tokens": 140, "completion_tokens": 91, "cost_usd": 1.9375, "unpriced": 2,
    }  # fmt: skip


def test_the_default_is_member_and_model_over_everything(world: World) -> None:
    lines = [line.as_dict() for line in usage.report(world.cp, LOCAL_OPERATOR)]
    assert lines == expected(world, ROWS, ("member", "model"))
    assert sum(line["cost_usd"] for line in lines) == pytest.approx(201.9375)


def test_until_is_exclusive_and_since_inclusive(world: World) -> None:
    day_two = datetime(2026, 3, 2, tzinfo=UTC)
    before = report(world, by=("day",), since=None, until=day_two)
    assert [(line["day"], line["requests"]) for line in before] == [("2026-02-27", 1), ("2026-03-01", 4)]
    after = report(world, by=("day",), since=day_two, until=None)
    assert [(line["day"], line["requests"]) for line in after] == [("2026-03-02", 5), ("2026-03-03", 1)]


def test_names_are_resolved_when_read(world: World) -> None:
    """An erased member's lines show the pseudonym their record now holds, never the old name."""
    with world.cp.store.session() as session:
        session.execute(update(Member).where(Member.name == "alice").values(name="erased-3f9a0c1d"))
    members_seen = {line["member"] for line in report(world, by=("member",))}
    assert members_seen == {"erased-3f9a0c1d", "bob", "rita"}


# ---- role scoping ---------------------------------------------------------------------------

SEES = {
    "olga": IN_RANGE,
    "audrey": IN_RANGE,
    # red's rows by the record's team, red's old rows without a team, and her own: not alice's blue row
    "rita": [r for r in IN_RANGE if (r.team or CURRENT_TEAM[r.member]) == "red" or r.member == "rita"],
    "alice": [r for r in IN_RANGE if r.member == "alice"],
    "bob": [r for r in IN_RANGE if r.member == "bob"],
}
ROLES = {"olga": Role.OWNER, "audrey": Role.AUDITOR, "rita": Role.ADMIN, "alice": Role.MEMBER, "bob": Role.MEMBER}


@pytest.mark.parametrize("name", list(SEES))
def test_each_role_sees_its_scope(world: World, name: str) -> None:
    by = ("member", "team", "key", "model", "day")
    assert report(world, world.actor(name, ROLES[name]), by=by) == expected(world, SEES[name], by)


def test_a_team_admin_does_not_see_a_members_rows_from_another_team(world: World) -> None:
    rita = world.actor("rita", Role.ADMIN)
    lines = report(world, rita, by=("member", "team"))
    assert {(line["member"], line["team"]) for line in lines} == {("alice", "red"), ("rita", "red")}
    assert sum(line["requests"] for line in lines if line["member"] == "alice") == 4  # not the blue one


# ---- the period as typed ----------------------------------------------------------------------

NOW = datetime(2026, 3, 10, 15, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        ("2026-03-01", datetime(2026, 3, 1, tzinfo=UTC)),
        ("2026-03-01T12:00:00", datetime(2026, 3, 1, 12, tzinfo=UTC)),
        ("2026-03-01T12:00:00Z", datetime(2026, 3, 1, 12, tzinfo=UTC)),
        ("2026-03-01T12:00:00+02:00", datetime(2026, 3, 1, 10, tzinfo=UTC)),
        ("7d", datetime(2026, 3, 3, 15, 30, tzinfo=UTC)),
        ("12h", datetime(2026, 3, 10, 3, 30, tzinfo=UTC)),
    ],
)
def test_since_and_until_forms(text: str, instant: datetime) -> None:
    assert usage.parse_range(text, None, NOW) == (instant, None)
    assert usage.parse_range(None, text, NOW) == (None, instant)


@pytest.mark.parametrize(("since", "until"), [("2026-03-02", "2026-03-01"), ("2026-03-01", "2026-03-01"), ("1d", "7d")])
def test_a_reversed_or_empty_period_names_both_values(since: str, until: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        usage.parse_range(since, until, NOW)
    assert repr(since) in str(refused.value) and repr(until) in str(refused.value)


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01", "7x", "-7d", "99999999999999d", "2026-03-01T25:00"])
def test_a_bad_instant_is_refused_naming_it(text: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        usage.parse_range(text, None, NOW)
    assert "'since'" in str(refused.value)


def test_the_service_refuses_a_reversed_period_too(world: World) -> None:
    with pytest.raises(InvalidInput, match="not before"):
        usage.report(world.cp, LOCAL_OPERATOR, since=UNTIL, until=SINCE)


@pytest.mark.parametrize("by", ["", "member,cost", "team,,nope"])
def test_unknown_dimensions_are_refused(by: str) -> None:
    with pytest.raises(InvalidInput, match="member, team, key, model, day"):
        usage.parse_by(by)


def test_dimensions_are_case_insensitive_and_kept_in_order() -> None:
    assert usage.parse_by(" Day,member,day ") == ("day", "member")
    assert usage.parse_by(None) == ("member", "model")
