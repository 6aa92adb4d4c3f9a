"""The SOC 2 evidence bundle from a seeded installation, field by field; its signature holds, and fails when
one byte changes or the key is swapped; bad periods and non-bundles are usage errors."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select
from tests.compliance.conftest import Seeded

from vaultgate.services import evidence_period
from vaultgate.services.errors import InvalidInput
from vaultgate.store.models import AuditEvent, UsageEvent
from vaultgate.vault import SigningKey

Cli = Callable[..., tuple[int, str, str]]


def make_bundle(seeded: Seeded, cli: Cli, tmp_path: Path, *extra: str) -> tuple[Path, dict[str, Any]]:
    out = tmp_path / "evidence.json"
    since = seeded.started.isoformat()
    until = (seeded.cp.clock() + timedelta(hours=1)).isoformat()
    code, _, err = cli(
        seeded.stack.settings, "compliance", "evidence", "--since", since, "--until", until, "--out", str(out), *extra
    )
    assert code == 0, err
    return out, orjson.loads(out.read_bytes())


def test_the_bundle_holds_the_access_review_changes_and_monitoring(seeded: Seeded, cli: Cli, tmp_path: Path) -> None:
    _, doc = make_bundle(seeded, cli, tmp_path)
    cp, ids, key_ids = seeded.cp, seeded.ids, seeded.key_ids
    assert set(doc) == {"bundle", "signature", "key_id", "public_key"}
    assert doc["key_id"] == cp.audit_keys.signing_key.verify_key.key_id
    bundle = doc["bundle"]
    assert bundle["kind"] == "vaultgate.evidence" and bundle["format"] == 1
    assert bundle["period"]["since"] == seeded.started.isoformat()
    assert bundle["install"] == {"database": cp.store.dialect, "version": "0.1.0"}

    # Access review: every member, their role, team and status; each key with scopes, use and grantor.
    review = bundle["access_review"]
    assert review["controls"] == ["CC6.1", "CC6.2", "CC6.3"] and review["stale_days"] == 90
    people = {m["name"]: m for m in review["members"]}
    assert set(people) == {"admin", *ids}
    facts = {n: (p["role"], p["team"], p["status"]) for n, p in people.items()}
    assert facts["tina"] == ("admin", "research", "active")
    assert facts["leo"] == ("member", "support", "suspended")
    assert facts["audrey"] == ("auditor", None, "active")
    assert facts["olga"] == ("owner", None, "active")
    erin_key = people["erin"]["keys"][0]
    with cp.store.session() as session:
        last_used = session.scalar(select(func.max(UsageEvent.at)).where(UsageEvent.key_id == key_ids["erin"]))
    assert last_used is not None
    assert erin_key["id"] == key_ids["erin"]
    assert erin_key["models"] == ["gpt-4o-mini"] and erin_key["scopes"] == {"images": "none"}
    assert erin_key["last_used"] == last_used.isoformat()
    assert erin_key["granted_by"] == {"id": ids["olga"], "name": "olga"}
    assert erin_key["status"] == "active" and erin_key["flagged_unused"] is False
    sam_key = people["sam"]["keys"][0]
    assert sam_key["id"] == key_ids["sam-old"]
    assert sam_key["last_used"] is None and sam_key["granted_by"] == {"id": "cli", "name": None}
    assert sam_key["unused_days"] >= 200 and sam_key["flagged_unused"] is True
    nora_keys = {k["id"]: k for k in people["nora"]["keys"]}
    assert nora_keys[key_ids["nora"]]["flagged_unused"] is False  # new, not yet unused for 90 days
    assert nora_keys[key_ids["leaked"]]["status"] == "revoked"
    assert nora_keys[key_ids["leaked"]]["revoked_reason"] == "leaked"
    assert people["adam"]["keys"][0]["canary"] is True and people["adam"]["keys"][0]["flagged_unused"] is False
    assert people["leo"]["keys"][0]["status"] == "revoked"
    flagged = [k["id"] for m in review["members"] for k in m["keys"] if k["flagged_unused"]]
    assert flagged == [key_ids["sam-old"]]

    # Joiners and leavers: every member created in the period, and leo's suspension with the time to refusal.
    moves = bundle["joiners_leavers"]
    joined = {m["member"]["name"] for m in moves if m["action"] == "member.create"}
    assert joined == set(ids)
    (left,) = [m for m in moves if m["action"] == "member.suspend"]
    assert left["member"] == {"id": ids["leo"], "name": "leo"}
    assert left["keys_refused_at"] == left["at"] and left["seconds_to_key_refusal"] == 0
    (revocation,) = left["later_key_revocations"]
    assert revocation["key"] == key_ids["leo"] and revocation["action"] == "key.revoke"
    assert revocation["seconds_after"] >= 0

    # Changes to policies, providers and routes in the period.
    changes = [(c["action"], c["target"]) for c in bundle["changes"]]
    assert [a for a, _ in changes if a == "team.policy"] == ["team.policy", "team.policy"]
    assert {t for a, t in changes if a == "provider.create"} >= {"openai-us", "azure-eu", "offline"}
    assert ("route.create", "gpt-4.1") in changes
    assert not any(a.startswith(("member.", "key.")) for a, _ in changes)

    # Monitoring (CC7.2): the canary hit, the leaked-key revocation, the suspension, the lockdown on and off.
    monitoring = bundle["monitoring"]
    assert monitoring["controls"] == ["CC7.2"]
    assert monitoring["counts"] == {"canary.used": 1, "key.leaked": 1, "member.suspend": 1, "org.lockdown": 2}
    canary = next(e for e in monitoring["events"] if e["action"] == "canary.used")
    assert canary["target"] == key_ids["canary"] and canary["outcome"] == "alert"
    lockdowns = [e["target"] for e in monitoring["events"] if e["action"] == "org.lockdown"]
    assert lockdowns == ["on", "off"]

    with cp.store.session() as session:
        records = session.scalar(select(func.count()).select_from(AuditEvent))
    assert bundle["audit_chain"] == {"records": records, "intact": True, "first_break": None}


def test_security_events_of_other_parts_are_monitored(seeded: Seeded, cli: Cli, tmp_path: Path) -> None:
    """Actions named auth.* and gateway.* (written by the data plane's summaries) join the monitoring record."""
    from vaultgate.services.context import Actor, Role

    gateway = Actor(name="gateway", role=Role.OWNER)
    with seeded.cp.store.session() as session:
        seeded.cp.audit(session, gateway, "auth.failures", "key_0123456789abcdef", outcome="alert", count=12)
        seeded.cp.audit(session, gateway, "gateway.refusals", None, outcome="alert", count=3)
    _, doc = make_bundle(seeded, cli, tmp_path)
    counts = doc["bundle"]["monitoring"]["counts"]
    assert counts["auth.failures"] == 1 and counts["gateway.refusals"] == 1


def test_verify_passes_then_fails_on_one_changed_byte_or_a_swapped_key(
    seeded: Seeded, cli: Cli, tmp_path: Path
) -> None:
    settings = seeded.stack.settings
    path, doc = make_bundle(seeded, cli, tmp_path)
    code, _, err = cli(settings, "compliance", "verify", str(path))
    assert code == 0, err
    assert "intact" in err and "the key the bundle carries" in err
    code, _, err = cli(settings, "compliance", "verify", str(path), "--public-key", doc["public_key"])
    assert code == 0 and "the pinned key" in err

    # One byte of the bundle changed (a stale-days value 90 -> 91): the signature no longer matches.
    raw = path.read_bytes()
    assert raw.count(b'"stale_days": 90') == 1
    altered = tmp_path / "altered.json"
    altered.write_bytes(raw.replace(b'"stale_days": 90', b'"stale_days": 91'))
    code, _, err = cli(settings, "compliance", "verify", str(altered))
    assert code == 1
    assert "altered after signing" in err

    # The key swapped for another one (key_id left as it was): named as a swap.
    other = SigningKey.generate().verify_key
    swapped = dict(doc, public_key=other.text)
    (tmp_path / "swapped.json").write_bytes(orjson.dumps(swapped))
    code, _, err = cli(settings, "compliance", "verify", str(tmp_path / "swapped.json"))
    assert code == 1 and "key_id does not match its public_key" in err

    # A forger re-signs the altered bundle with a key of their own: it checks with the key it carries,
    # and fails against the pinned one.
    forger = SigningKey.generate()
    bundle = orjson.loads(altered.read_bytes())["bundle"]
    from vaultgate.services.evidence_bundle import sign

    forged = tmp_path / "forged.json"
    forged.write_bytes(orjson.dumps(sign(bundle, forger)))
    code, _, _ = cli(settings, "compliance", "verify", str(forged))
    assert code == 0
    code, _, err = cli(settings, "compliance", "verify", str(forged), "--public-key", doc["public_key"])
    assert code == 1 and "not by the pinned key" in err


def test_not_a_bundle_and_bad_periods_are_usage_errors(seeded: Seeded, cli: Cli, tmp_path: Path) -> None:
    settings = seeded.stack.settings
    (tmp_path / "text.json").write_text("hello")
    (tmp_path / "object.json").write_text('{"bundle": {}}')
    for name, reason in (("text.json", "not JSON"), ("object.json", "expected exactly bundle")):
        code, out, err = cli(settings, "compliance", "verify", str(tmp_path / name))
        assert (code, out) == (2, "") and reason in err
    code, _, err = cli(settings, "compliance", "verify", str(tmp_path / "object.json"), "--public-key", "nope")
    assert code == 2
    for args, reason in (
        (["--period", "2026-Q5"], "a quarter is Q1 to Q4"),
        (["--period", "2026-13"], "a month is 01 to 12"),
        (["--period", "last year"], "use a quarter"),
        (["--since", "2026-09-01", "--until", "2026-08-01"], "must be later than --since"),
        (["--since", "2026-09-01"], "both --since and --until"),
        (["--period", "2026-Q3", "--since", "2026-09-01"], "not both"),
    ):
        out_file = tmp_path / "never.json"
        code, out, err = cli(settings, "compliance", "evidence", *args, "--out", str(out_file))
        assert (code, out) == (2, ""), args
        assert reason in err, (args, err)
        assert not out_file.exists()


@pytest.mark.parametrize(
    ("text", "since", "until"),
    [
        ("2026-Q3", datetime(2026, 7, 1, tzinfo=UTC), datetime(2026, 10, 1, tzinfo=UTC)),
        ("2026-Q4", datetime(2026, 10, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)),
        ("2026-09", datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 10, 1, tzinfo=UTC)),
        ("2026-12", datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)),
    ],
)
def test_periods(text: str, since: datetime, until: datetime) -> None:
    period = evidence_period.parse(text)
    assert (period.label, period.since, period.until) == (text, since, until)


def test_since_and_until_take_dates_and_times() -> None:
    period = evidence_period.parse(None, "2026-07-01", "2026-07-02T12:00:00+02:00")
    assert period.since == datetime(2026, 7, 1, tzinfo=UTC)
    assert period.until == datetime(2026, 7, 2, 10, tzinfo=UTC)
    with pytest.raises(InvalidInput, match="invalid --since"):
        evidence_period.parse(None, "yesterday", "2026-07-02")
