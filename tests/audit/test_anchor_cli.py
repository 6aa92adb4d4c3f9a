"""``vaultgate audit anchor|verify --anchor|export|ref`` in-process, on SQLite and PostgreSQL: the anchor round trip,
truncation and alteration after it, bad anchor files, SIEM export filters, and a webhook through the notifier."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from tests.audit.conftest import Ran, Trail, wrong_key
from tests.support.webhook import WebhookSink
from vaultgate.audit import signed_head
from vaultgate.audit.anchor import Anchor, parse
from vaultgate.vault import SigningKey

Vaultgate = Callable[..., Ran]


def anchored(trail: Trail, vaultgate: Vaultgate, tmp_path: Path) -> Path:
    out = tmp_path / "anchors" / "head.json"
    out.parent.mkdir()
    ran = vaultgate(trail.settings, "audit", "anchor", "--out", str(out))
    assert ran.code == 0, ran.err
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    return out


def verify_json(trail: Trail, vaultgate: Vaultgate, *args: str) -> tuple[int, dict[str, object]]:
    ran = vaultgate(trail.settings, "audit", "verify", "--json", *args)
    return ran.code, json.loads(ran.out)


def test_anchor_round_trip_then_truncation_then_alteration(trail: Trail, vaultgate: Vaultgate, tmp_path: Path) -> None:
    trail.append(6)  # records 1..7
    out = anchored(trail, vaultgate, tmp_path)
    anchor = json.loads(out.read_text())
    assert set(anchor) == {"seq", "head", "at", "key_id", "public_key", "signature"}
    assert anchor["seq"] == 7 and anchor["key_id"] == trail.cp.audit_keys.signing_key.verify_key.key_id

    trail.append(3)  # the chain goes on after the anchor
    code, result = verify_json(trail, vaultgate, "--anchor", str(out))
    assert (code, result["ok"], result["anchor_seq"], result["records"]) == (0, True, 7, 10)

    # Pinned out of band: the same check against a key the verifier holds.
    pinned = verify_json(trail, vaultgate, "--anchor", str(out), "--public-key", anchor["public_key"])
    assert pinned[0] == 0

    # The tail since record 6 deleted, and the checkpoint that would betray it: only the anchor is left.
    trail.sql("DELETE FROM audit_events WHERE seq > 5")
    trail.sql("DELETE FROM audit_checkpoints WHERE seq > 5")
    assert trail.verify().ok  # the database alone cannot tell
    code, result = verify_json(trail, vaultgate, "--anchor", str(out))
    assert code == 1 and result["break"] == {
        "seq": 6,
        "reason": "truncated: records 6.. are missing since the anchor (at 7)",
    }
    text = vaultgate(trail.settings, "audit", "verify", "--anchor", str(out))
    assert text.code == 1
    assert "Audit chain BROKEN at record 6: truncated: records 6.. are missing since the anchor" in text.err


def test_an_anchored_record_altered_is_named(trail: Trail, vaultgate: Vaultgate, tmp_path: Path) -> None:
    trail.append(2)  # records 1..3, no checkpoint: only the anchor has seen record 3
    out = anchored(trail, vaultgate, tmp_path)
    trail.append(1)
    trail.sql("UPDATE audit_events SET outcome = 'refused' WHERE seq = 3")
    trail.recompute_from(3, wrong_key)
    code, result = verify_json(trail, vaultgate, "--anchor", str(out))
    assert code == 1
    broken = result["break"]
    assert isinstance(broken, dict) and broken["seq"] == 3
    assert broken["reason"].startswith("record 3 altered or replaced since the anchor")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not json at all", "not an anchor: the file is not JSON"),
        (b"[1, 2]", "not an anchor: expected a JSON object"),
        (b'{"seq": 1}', "not an anchor: missing head, at, key_id, public_key, signature"),
    ],
)
def test_a_file_that_is_not_an_anchor_is_a_usage_error(
    trail: Trail, vaultgate: Vaultgate, tmp_path: Path, content: bytes, message: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    ran = vaultgate(trail.settings, "audit", "verify", "--anchor", str(bad))
    assert ran.code == 2
    assert ran.err.strip() == f"vaultgate: error: --anchor {bad}: {message}"
    missing = vaultgate(trail.settings, "audit", "verify", "--anchor", str(tmp_path / "nope.json"))
    assert missing.code == 2 and "No such file" in missing.err


def test_an_anchor_with_a_wrong_signature_or_another_installs_key_fails(
    trail: Trail, vaultgate: Vaultgate, tmp_path: Path
) -> None:
    trail.append(2)
    out = anchored(trail, vaultgate, tmp_path)
    anchor = orjson.loads(out.read_bytes())

    altered = tmp_path / "altered.json"  # the head moved to make a changed record look anchored
    altered.write_bytes(orjson.dumps({**anchor, "head": "a" * 64}))
    code, result = verify_json(trail, vaultgate, "--anchor", str(altered))
    assert code == 1 and result["break"] == {
        "seq": 3,
        "reason": "the anchor's signature does not verify (the anchor was altered or forged)",
    }

    other = SigningKey.generate()  # another installation's anchor, self-consistent
    theirs = parse(out.read_bytes()).head
    forged = Anchor(signed_head.sign(theirs.seq, theirs.head, theirs.at, other), other.verify_key.text)
    foreign = tmp_path / "foreign.json"
    foreign.write_bytes(forged.to_bytes())
    code, result = verify_json(trail, vaultgate, "--anchor", str(foreign))
    assert code == 1
    assert str(result["break"]["reason"]).startswith("the anchor is signed by another key")  # type: ignore[index]

    # Pinning that other key does not help: the install's anchor is then the foreign one.
    code, result = verify_json(trail, vaultgate, "--anchor", str(out), "--public-key", other.verify_key.text)
    assert code == 1 and "signed by another key" in str(result["break"])

    bad_key = vaultgate(trail.settings, "audit", "verify", "--anchor", str(out), "--public-key", "xyz")
    assert bad_key.code == 2 and "--public-key: not a base64 Ed25519 public key" in bad_key.err


def test_anchor_printed_and_posted_through_the_notifier(trail: Trail, vaultgate: Vaultgate, tmp_path: Path) -> None:
    printed = vaultgate(trail.settings, "audit", "anchor")
    assert printed.code == 0 and json.loads(printed.out)["seq"] == 1

    sink = WebhookSink()
    try:
        sent = vaultgate(trail.settings, "audit", "anchor", "--webhook", sink.url)
        assert sent.code == 0, sent.err
        [event] = sink.events
        assert event["event"] == "audit.anchor" and event["seq"] == 1
        posted = tmp_path / "posted.json"  # what the webhook received is an anchor that verifies
        posted.write_bytes(orjson.dumps({k: v for k, v in event.items() if k != "event"}))
        assert verify_json(trail, vaultgate, "--anchor", str(posted))[0] == 0
    finally:
        sink.close()
    refused = vaultgate(trail.settings, "audit", "anchor", "--webhook", "http://example.com/hook")
    assert refused.code == 2 and refused.err.startswith(
        "vaultgate: error: --webhook: plain http:// is only for loopback"
    )
    metadata = vaultgate(trail.settings, "audit", "anchor", "--webhook", "https://169.254.169.254/x")
    assert metadata.code == 2 and "host refused" in metadata.err


def test_export_filters_and_reversed_range(trail: Trail, vaultgate: Vaultgate) -> None:
    trail.append(3, action="key.create")
    trail.append(2, action="key.revoke")
    every = vaultgate(trail.settings, "audit", "export")
    lines = [json.loads(line) for line in every.out.splitlines()]
    assert [line["seq"] for line in lines] == [1, 2, 3, 4, 5, 6]
    assert set(lines[0]) == {"seq", "at", "actor", "action", "target", "outcome", "details", "prev_hash", "hash", "alg"}

    revokes = vaultgate(trail.settings, "audit", "export", "--action", "key.revoke", "--action", "vaultgate.init")
    assert [json.loads(x)["action"] for x in revokes.out.splitlines()] == ["vaultgate.init", "key.revoke", "key.revoke"]
    one = vaultgate(trail.settings, "audit", "export", "--target", "key_0000000000000001", "--actor", "cli")
    assert [json.loads(x)["seq"] for x in one.out.splitlines()] == [3, 6]
    at = lines[2]["at"]
    since = vaultgate(trail.settings, "audit", "export", "--since", at, "--until", lines[4]["at"])
    assert [json.loads(x)["seq"] for x in since.out.splitlines()] == [3, 4]

    reversed_ = vaultgate(trail.settings, "audit", "export", "--since", "2026-05-01", "--until", "2026-04-01")
    assert reversed_.code == 2 and reversed_.out == ""
    assert reversed_.err.strip() == (
        "vaultgate: error: the time range is reversed or empty: since 2026-05-01T00:00:00+00:00 "
        "is not before until 2026-04-01T00:00:00+00:00"
    )
    garbage = vaultgate(trail.settings, "audit", "export", "--since", "last tuesday")
    assert garbage.code == 2 and "--since: not an ISO 8601 date or time" in garbage.err


def test_ref_prints_the_keyed_reference(trail: Trail, vaultgate: Vaultgate) -> None:
    ran = vaultgate(trail.settings, "audit", "ref", "Alice Example")
    assert ran.code == 0 and ran.out.strip() == trail.cp.audit_ref("Alice Example")
    assert ran.out.startswith("ref:") and "Alice" not in ran.out
