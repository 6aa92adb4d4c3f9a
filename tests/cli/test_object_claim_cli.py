"""``vaultgate object claim``: an organisation's way to assign an object vaultgate never saw created."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_cli import vg


def test_object_claim_assigns_once_and_is_audited(tmp_path: Path) -> None:
    assert vg(tmp_path, "init").returncode == 0
    assert vg(tmp_path, "member", "add", "alice", "--team", "red", "--create-team").returncode == 0
    claimed = vg(tmp_path, "object", "claim", "file-legacy1", "--kind", "file", "--member", "alice", "--json")
    assert claimed.returncode == 0, claimed.stderr
    document = json.loads(claimed.stdout)
    assert document["id"] == "file-legacy1" and document["kind"] == "file"
    again = vg(tmp_path, "object", "claim", "file-legacy1", "--kind", "file", "--member", "alice")
    assert again.returncode != 0 and "already belongs" in again.stderr
    unknown_kind = vg(tmp_path, "object", "claim", "x-1", "--kind", "thing", "--member", "alice")
    assert unknown_kind.returncode != 0 and "unknown object kind" in unknown_kind.stderr
    audit = vg(tmp_path, "audit", "export").stdout
    assert audit.count('"object.claim"') == 3  # one done, two refused
