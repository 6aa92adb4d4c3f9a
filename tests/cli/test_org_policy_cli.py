"""``vaultgate org policy``: set, show and clear the organisation's ceiling; keys created under it are held by it."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_cli import vg

from vaultgate.config import Settings
from vaultgate.services import bootstrap
from vaultgate.services.snapshot_loader import load


def test_org_policy_set_show_clear_and_it_narrows_every_key(tmp_path: Path) -> None:
    assert vg(tmp_path, "init").returncode == 0
    assert vg(tmp_path, "member", "add", "alice").returncode == 0
    assert vg(tmp_path, "key", "create", "--member", "alice", "--models", "gpt-4o,o3").returncode == 0
    nothing = vg(tmp_path, "org", "policy")
    assert nothing.returncode == 2 and "nothing to set" in nothing.stderr
    set_ = vg(tmp_path, "org", "policy", "--models", "gpt-4o*", "--scope", "files=none", "--json")
    assert set_.returncode == 0, set_.stderr
    assert json.loads(set_.stdout)["policy"]["models"] == ["gpt-4o*"]
    shown = json.loads(vg(tmp_path, "org", "policy", "--show", "--json").stdout)
    assert shown["policy"]["scopes"] == {"files": "none"}

    listed = json.loads(vg(tmp_path, "key", "list", "--json").stdout)
    assert listed[0]["narrowed"] == ["models"]
    assert listed[0]["effective_policy"]["model_ceilings"] == [["gpt-4o*"]]
    cp = bootstrap.open_control_plane(Settings(data_dir=tmp_path))
    grant = next(iter(load(cp).grants.values()))
    assert grant.policy.allows_model("gpt-4o") and not grant.policy.allows_model("o3")
    assert grant.policy.level("files") == 0
    cp.store.dispose()

    cleared = vg(tmp_path, "org", "policy", "--clear", "--json")
    assert cleared.returncode == 0 and json.loads(cleared.stdout) == {"policy": None}
    audit = vg(tmp_path, "audit", "export")
    assert audit.stdout.count('"org.policy"') == 2


def test_zero_retention_is_set_for_the_org_a_team_and_a_key_and_reaches_the_effective_policy(tmp_path: Path) -> None:
    assert vg(tmp_path, "init").returncode == 0
    assert vg(tmp_path, "team", "create", "research").returncode == 0
    assert vg(tmp_path, "member", "add", "alice", "--team", "research").returncode == 0
    assert vg(tmp_path, "member", "add", "bob").returncode == 0
    team = vg(tmp_path, "team", "policy", "research", "--zero-retention", "--json")
    assert team.returncode == 0, team.stderr
    assert vg(tmp_path, "key", "create", "--member", "alice").returncode == 0
    key = vg(tmp_path, "key", "create", "--member", "bob", "--zero-retention", "--json")
    assert key.returncode == 0, key.stderr
    cp = bootstrap.open_control_plane(Settings(data_dir=tmp_path))
    assert [g.policy.zero_retention for g in load(cp).grants.values()] == [True, True]
    cp.store.dispose()
    org = vg(tmp_path, "org", "policy", "--zero-retention", "--json")
    assert org.returncode == 0 and json.loads(org.stdout)["policy"]["zero_retention"] is True
