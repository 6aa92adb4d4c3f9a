"""``vaultgate key create --privacy`` stores the policy; a bad one exits 2 with a one-line reason."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def _vg(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VAULTGATE_DATABASE_URL": f"sqlite:///{data / 'vg.db'}"}
    env.pop("VAULTGATE_MASTER_KEY", None)
    return subprocess.run(
        [sys.executable, "-m", "vaultgate", "--data-dir", str(data), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_key_create_with_privacy_policy(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert _vg(data, "init").returncode == 0
    assert _vg(data, "member", "add", "alice").returncode == 0
    policy = {"pii": {"email": "mask", "card": "block"}, "secrets": "redact", "response_pii": "mask"}
    made = _vg(data, "key", "create", "--member", "alice", "--privacy", json.dumps(policy), "--json")
    assert made.returncode == 0, made.stderr
    shown = json.loads(made.stdout)
    stored = shown["policy"]["privacy"]
    assert stored["pii"] == {"email": "mask", "card": "block"}
    assert stored["secrets"] == "redact" and stored["response_pii"] == "mask"

    bad = _vg(data, "key", "create", "--member", "alice", "--privacy", '{"pii": {"email": "shred"}}')
    assert bad.returncode == 2 and "privacy.pii.email" in bad.stderr
    assert _vg(data, "key", "create", "--member", "alice", "--privacy", "{nope").returncode == 2
