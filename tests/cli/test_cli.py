"""The ``vaultgate`` command as a user runs it: exit codes, stdout/stderr (tests/support/cli.py runs it in\nthis process, and in a child process where it may serve; one test runs every step in a child process)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import MetaData, select, text
from tests.support import cli

from vaultgate.config import Settings
from vaultgate.keys import tokens
from vaultgate.services import bootstrap
from vaultgate.services.snapshot_loader import load


def vg(
    data_dir: Path,
    *args: str,
    database_url: str | None = None,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``vaultgate --data-dir DATA ARGS`` (in this process unless it may serve: tests/support/cli.py)."""
    extra = {**(env or {}), **({"VAULTGATE_DATABASE_URL": database_url} if database_url else {})}
    return cli.run(["--data-dir", str(data_dir), *args], env=extra, stdin=stdin)


def test_init_creates_private_files_and_prints_the_admin_token_once(tmp_path: Path, database_url: str) -> None:
    data = tmp_path / "data"
    first = vg(data, "init", database_url=database_url)
    assert first.returncode == 0, first.stderr
    token = first.stdout.strip()
    assert tokens.parse(token) is not None and token.startswith("vga_")
    assert stat.S_IMODE((data / "master.key").stat().st_mode) == 0o600
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    second = vg(data, "init", database_url=database_url)
    assert second.returncode == 0 and second.stdout == ""
    assert "Already initialised" in second.stderr


def test_usage_errors_exit_2_with_one_line(tmp_path: Path) -> None:
    vg(tmp_path, "init")
    vg(tmp_path, "member", "add", "x")
    for args in (
        ["frobnicate"],
        ["key", "create"],
        ["key", "create", "--member", "x", "--scope", "chat"],
        ["member", "add", "bob", "--role", "emperor"],
        ["serve", "--workers", "0"],
    ):
        result = vg(tmp_path, *args)
        assert result.returncode == 2, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert result.stderr.startswith("vaultgate: error: ")


def test_refuses_a_group_readable_master_key(tmp_path: Path) -> None:
    assert vg(tmp_path, "init").returncode == 0
    os.chmod(tmp_path / "master.key", 0o640)
    result = vg(tmp_path, "key", "list")
    assert result.returncode == 1
    assert "chmod 600" in result.stderr
    result = vg(tmp_path, "serve", "--port", "1")
    assert result.returncode == 1 and "readable by group or others" in result.stderr


def test_step_by_step_cli_and_json_listing(tmp_path: Path, database_url: str) -> None:
    data = tmp_path / "data"
    assert vg(data, "init", database_url=database_url).returncode == 0
    secret = "sk-test-" + os.urandom(16).hex()
    added = vg(
        data,
        "provider",
        "add",
        "openai",
        "--kind",
        "openai",
        "--api-key-env",
        "UPSTREAM_KEY",
        database_url=database_url,
        env={"UPSTREAM_KEY": secret},
    )
    assert added.returncode == 0, added.stderr
    stdin_added = vg(
        data,
        "provider",
        "add",
        "local",
        "--kind",
        "compatible",
        "--base-url",
        "http://127.0.0.1:9/v1",
        "--allow-insecure-http",
        "--api-key-stdin",
        database_url=database_url,
        stdin=secret + "\n",
    )
    assert stdin_added.returncode == 0, stdin_added.stderr
    assert (
        vg(
            data,
            "member",
            "add",
            "alice",
            "--email",
            "alice@example.com",
            "--team",
            "research",
            "--create-team",
            database_url=database_url,
        ).returncode
        == 0
    )
    created = vg(
        data,
        "key",
        "create",
        "--member",
        "alice",
        "--models",
        "gpt-4o,gpt-4o-mini",
        "--scope",
        "embeddings=none",
        "--ip",
        "127.0.0.1/32",
        "--expires",
        "90d",
        "--json",
        database_url=database_url,
    )
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)
    assert tokens.parse(key["key"]) is not None
    listed = vg(data, "key", "list", "--json", database_url=database_url)
    rows = json.loads(listed.stdout)
    assert [r["id"] for r in rows] == [key["id"]]
    assert "key" not in rows[0] and key["key"] not in listed.stdout
    assert rows[0]["policy"]["scopes"] == {"embeddings": "none"}

    # The provider key is stored only sealed: the plaintext is in no table.
    settings = Settings(data_dir=data, database_url=database_url)
    cp = bootstrap.open_control_plane(settings)
    metadata = MetaData()
    metadata.reflect(cp.store.engine)
    with cp.store.engine.connect() as conn:
        dump = "".join(repr(tuple(r)) for t in metadata.sorted_tables for r in conn.execute(select(t)))
    assert secret not in dump and key["key"] not in dump
    assert load(cp).providers["openai"].api_key == secret

    revoked = vg(data, "key", "revoke", key["id"], database_url=database_url)
    assert revoked.returncode == 0
    again = vg(data, "key", "revoke", key["id"], database_url=database_url)
    assert again.returncode == 1 and "already revoked" in again.stderr
    cp.store.dispose()


def test_rotate_master_rewraps_without_losing_anything(tmp_path: Path, database_url: str) -> None:
    data = tmp_path / "data"
    vg(data, "init", database_url=database_url)
    secret = "sk-test-" + os.urandom(16).hex()
    vg(
        data,
        "provider",
        "add",
        "openai",
        "--kind",
        "openai",
        "--api-key-env",
        "K",
        database_url=database_url,
        env={"K": secret},
    )
    vg(data, "member", "add", "alice", database_url=database_url)
    member_key = json.loads(vg(data, "key", "create", "--member", "alice", "--json", database_url=database_url).stdout)[
        "key"
    ]
    old_file = (data / "master.key").read_text()

    rotated = vg(data, "vault", "rotate-master", "--json", database_url=database_url)
    assert rotated.returncode == 0, rotated.stderr
    result = json.loads(rotated.stdout)
    assert result["rewrapped"] >= 2 and result["old_key_id"] != result["new_key_id"]
    assert (data / "master.key").read_text() != old_file
    assert stat.S_IMODE((data / "master.key").stat().st_mode) == 0o600

    cp = bootstrap.open_control_plane(Settings(data_dir=data, database_url=database_url))
    snapshot = load(cp)
    assert snapshot.providers["openai"].api_key == secret
    assert cp.hasher.token_hash(member_key) in snapshot.grants, "member keys survive a master-key rotation"
    with cp.store.engine.connect() as conn:
        sealed = conn.execute(text("SELECT sealed FROM provider_credentials")).scalars().all()
    assert all(s.split(".")[1] == result["new_key_id"] for s in sealed)
    verify = vg(data, "audit", "verify", "--json", database_url=database_url)
    assert json.loads(verify.stdout)["ok"] is True
    cp.store.dispose()


def test_audit_verify_detects_tampering(tmp_path: Path) -> None:
    vg(tmp_path, "init")
    vg(tmp_path, "member", "add", "alice")
    vg(tmp_path, "member", "add", "bob")
    assert vg(tmp_path, "audit", "verify").returncode == 0
    cp = bootstrap.open_control_plane(Settings(data_dir=tmp_path))
    with cp.store.session() as session:
        session.execute(text("UPDATE audit_events SET outcome = 'refused' WHERE action = 'member.create'"))
    cp.store.dispose()
    result = vg(tmp_path, "audit", "verify")
    assert result.returncode == 1 and "BROKEN" in result.stderr
    exported = vg(tmp_path, "audit", "export")
    assert [json.loads(line)["action"] for line in exported.stdout.splitlines()][:2] == [
        "vaultgate.init",
        "member.create",
    ]


def test_quickstart_twice_reuses_the_data_dir(tmp_path: Path) -> None:
    env = {"OPENAI_API_KEY": ""}
    first = vg(tmp_path, "quickstart", "--no-serve", env=env)
    assert first.returncode == 0, first.stderr
    assert "vga_" in first.stderr and "Provider: echo" in first.stderr
    assert "Console: http://127.0.0.1:8080/console" in first.stderr
    second = vg(tmp_path, "quickstart", "--no-serve", env=env)
    assert second.returncode == 0, second.stderr
    assert "vga_" not in second.stderr, "no second admin token"
    assert "Revoked the previous quickstart key" in second.stderr
    providers = json.loads(vg(tmp_path, "provider", "list", "--json").stdout)
    assert [p["name"] for p in providers] == ["echo"]
    keys = json.loads(vg(tmp_path, "key", "list", "--json").stdout)
    assert [k["status"] for k in keys] == ["revoked", "active"]
    printed = {w.strip("'") for w in second.stderr.split() if tokens.parse(w.strip("'")) is not None}
    assert len(printed) == 1 and tokens.display(printed.pop()) == keys[-1]["display"]


@pytest.mark.parametrize("url", ["mysql://root@localhost/x", "not a url"])
def test_unsupported_database_url_is_a_clear_error(tmp_path: Path, url: str) -> None:
    result = vg(tmp_path, "init", database_url=url)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "VAULTGATE_DATABASE_URL" in result.stderr or "unsupported database" in result.stderr


def test_lifecycle_commands(tmp_path: Path) -> None:
    assert vg(tmp_path, "init").returncode == 0
    assert vg(tmp_path, "team", "create", "research").returncode == 0
    policy = vg(
        tmp_path,
        "team",
        "policy",
        "research",
        "--models",
        "gpt-4o*",
        "--scope",
        "embeddings=none",
        "--max-key-age",
        "30",
        "--json",
    )
    assert policy.returncode == 0, policy.stderr
    assert json.loads(policy.stdout)["policy"]["models"] == ["gpt-4o*"]
    assert vg(tmp_path, "team", "policy", "research", "--ip", "300.0.0.0/8").returncode == 2
    assert vg(tmp_path, "member", "add", "alice", "--team", "research").returncode == 0
    key = json.loads(vg(tmp_path, "key", "create", "--member", "alice", "--json").stdout)
    rotated = vg(tmp_path, "key", "rotate", key["id"], "--grace", "1h", "--json")
    assert rotated.returncode == 0, rotated.stderr
    assert json.loads(rotated.stdout)["id"] == key["id"] and json.loads(rotated.stdout)["key"] != key["key"]
    assert vg(tmp_path, "key", "rotate", key["id"], "--grace", "soon").returncode == 2
    assert vg(tmp_path, "member", "suspend", "alice").returncode == 0
    again = vg(tmp_path, "member", "suspend", "alice")
    assert again.returncode == 0 and "already suspended" in again.stderr  # kill switches are idempotent
    assert vg(tmp_path, "member", "resume", "alice").returncode == 0
    assert vg(tmp_path, "lockdown", "on").returncode == 0
    assert vg(tmp_path, "lockdown", "maybe").returncode == 2
    assert vg(tmp_path, "lockdown", "off").returncode == 0
    token = vg(tmp_path, "admin-token", "create", "--member", "alice", "--expires", "7d", "--json")
    assert token.returncode == 0, token.stderr
    assert json.loads(token.stdout)["role"] == "member"
    assert json.loads(token.stdout)["token"].startswith("vga_")
    canary = vg(tmp_path, "key", "create", "--member", "alice", "--canary", "--json")
    assert json.loads(canary.stdout)["canary"] is True
    verify = vg(tmp_path, "audit", "verify", "--json")
    assert json.loads(verify.stdout)["ok"] is True


def test_provider_credential_commands(tmp_path: Path) -> None:
    vg(tmp_path, "init")
    env = {"OLD": "sk-old-" + os.urandom(8).hex(), "NEW": "sk-new-" + os.urandom(8).hex()}
    assert (
        vg(tmp_path, "provider", "add", "openai", "--kind", "openai", "--api-key-env", "OLD", env=env).returncode == 0
    )
    old = json.loads(vg(tmp_path, "provider", "key", "list", "openai", "--json").stdout)[0]["id"]
    refused = vg(tmp_path, "provider", "key", "drain", "openai", old)
    assert refused.returncode == 1 and "only active one" in refused.stderr
    assert vg(tmp_path, "provider", "key", "add", "openai", "--api-key-env", "NEW", env=env).returncode == 0
    assert vg(tmp_path, "provider", "key", "drain", "openai", old).returncode == 0
    assert vg(tmp_path, "provider", "key", "remove", "openai", old).returncode == 0
    states = [c["state"] for c in json.loads(vg(tmp_path, "provider", "key", "list", "openai", "--json").stdout)]
    assert states == ["active"]


def test_quickstart_and_serve_refuse_a_taken_port_before_changing_anything(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = vg(tmp_path, "quickstart", "--port", port, env={"OPENAI_API_KEY": ""})
        assert result.returncode == 1, result.stderr
        assert result.stderr.strip().splitlines() == [
            f"vaultgate: error: 127.0.0.1:{port} is already in use: choose another port with --port (make run PORT=...)"
        ]
        assert not (tmp_path / "vaultgate.db").exists(), "quickstart changed the data dir before checking the port"
        assert vg(tmp_path, "init").returncode == 0
        served = vg(tmp_path, "serve", "--port", port)
        assert served.returncode == 1 and "already in use" in served.stderr


def test_serve_with_workers_and_no_redis_warns_or_refuses(tmp_path: Path) -> None:
    assert vg(tmp_path, "init").returncode == 0
    refused = vg(tmp_path, "serve", "--workers", "2", "--port", "1", env={"VAULTGATE_REQUIRE_SHARED_LIMITS": "true"})
    assert refused.returncode == 1
    assert "each worker counts rate limits, budgets and concurrency on its own" in refused.stderr
    assert "VAULTGATE_REQUIRE_SHARED_LIMITS" in refused.stderr


def test_doctor_reports_tls(tmp_path: Path) -> None:
    assert vg(tmp_path, "init").returncode == 0
    local = json.loads(vg(tmp_path, "doctor", "--json").stdout)
    assert local["tls"] == "off (listening on 127.0.0.1 only)" and local["audit_chain_ok"] is True
    exposed = json.loads(vg(tmp_path, "doctor", "--json", env={"VAULTGATE_HOST": "0.0.0.0"}).stdout)
    assert exposed["tls"].startswith("WARNING: off while listening on 0.0.0.0")
    with_tls = vg(tmp_path, "doctor", "--json", env={"VAULTGATE_TLS_CERT": "c.pem", "VAULTGATE_TLS_KEY": "k.pem"})
    assert json.loads(with_tls.stdout)["tls"] == "on"


def test_config_check_prints_the_effective_settings_with_secrets_masked(tmp_path: Path) -> None:
    env = {
        "VAULTGATE_MASTER_KEY": "master-key-value-0123456789",
        "VAULTGATE_METRICS_TOKEN": "metrics-token-value",
        "VAULTGATE_DATABASE_URL": "postgresql://vg:db-password-value@db.internal:5433/vaultgate",
        "VAULTGATE_MAX_STALENESS": "12",
    }
    result = subprocess.run(
        [sys.executable, "-m", "vaultgate", "--data-dir", str(tmp_path), "config", "check", "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["master_key"] == "***" and shown["metrics_token"] == "***"
    assert shown["database_url"] == "postgresql://vg:***@db.internal:5433/vaultgate"
    assert shown["max_staleness"] == 12.0 and shown["data_dir"] == str(tmp_path)
    for secret in ("master-key-value", "metrics-token-value", "db-password-value"):
        assert secret not in result.stdout + result.stderr
    bad = vg(tmp_path, "config", "check", env={"VAULTGATE_LOG_LEVEL": "loud"})
    assert bad.returncode == 1 and bad.stderr.strip().splitlines() == [
        "vaultgate: error: VAULTGATE_LOG_LEVEL: use one of debug, info, warning, error, critical, not 'loud'"
    ]
