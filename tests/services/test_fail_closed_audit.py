"""Fail closed: a control-plane change whose audit record cannot be written does not happen.

A trigger makes every INSERT into audit_events fail (PL/pgSQL ``RAISE EXCEPTION`` on PostgreSQL,
``RAISE(ABORT)`` on SQLite). Then ``member add``, ``key create``, ``key revoke`` and provider
changes, through the CLI and the admin API, each answer one clear error and leave nothing
changed; once the trigger is dropped the same request works.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from vaultgate.admin.api import build_admin_app
from vaultgate.cli.main import run
from vaultgate.config import Settings
from vaultgate.services import bootstrap, keys, members, providers
from vaultgate.services.context import LOCAL_OPERATOR, ControlPlane
from vaultgate.store import Store
from vaultgate.store.models import AuditEvent, Member, MemberKey, Provider

_REFUSAL = "audit writes refused by the test"


def refuse_audit_writes(store: Store) -> None:
    """Make every INSERT into audit_events fail, as an audit sink that is down or full would."""
    with store.engine.begin() as conn:
        if store.dialect == "postgresql":
            conn.execute(
                text(
                    "CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS "
                    f"$$ BEGIN RAISE EXCEPTION '{_REFUSAL}'; END $$"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events "
                    "FOR EACH ROW EXECUTE FUNCTION refuse_audit()"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events "
                    f"BEGIN SELECT RAISE(ABORT, '{_REFUSAL}'); END"
                )
            )


def allow_audit_writes(store: Store) -> None:
    """Drop the trigger :func:`refuse_audit_writes` made."""
    with store.engine.begin() as conn:
        conn.execute(text("DROP TRIGGER refuse_audit" + (" ON audit_events" if store.dialect == "postgresql" else "")))
        if store.dialect == "postgresql":
            conn.execute(text("DROP FUNCTION refuse_audit()"))


@dataclass
class Installation:
    cp: ControlPlane
    admin_token: str


@pytest.fixture
def installation(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Installation]:
    """An initialised vaultgate whose CLI (run in-process) and admin API use ``database_url``."""
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url)
    admin_token = bootstrap.init(settings).admin_token
    assert admin_token is not None
    monkeypatch.setenv("VAULTGATE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("VAULTGATE_DATABASE_URL", database_url)
    cp = bootstrap.open_control_plane(settings)
    yield Installation(cp, admin_token)
    cp.store.dispose()


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the CLI in-process: (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exited:
        run(list(argv))
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def counts(cp: ControlPlane) -> tuple[int, int, int, int, int]:
    """(members, keys, revoked keys, providers, audit records): what a refused change must leave alone."""
    with cp.store.session() as session:
        return (
            session.scalar(select(func.count()).select_from(Member)) or 0,
            session.scalar(select(func.count()).select_from(MemberKey)) or 0,
            session.scalar(select(func.count()).select_from(MemberKey).where(MemberKey.revoked_at.is_not(None))) or 0,
            session.scalar(select(func.count()).select_from(Provider)) or 0,
            session.scalar(select(func.count()).select_from(AuditEvent)) or 0,
        )


AUDIT_ERROR = "vaultgate: error: the change could not be recorded in the audit trail, so it was not made"


def test_cli_changes_that_cannot_be_audited_are_refused(
    installation: Installation, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cp = installation.cp
    members.add(cp, LOCAL_OPERATOR, "alice")
    key = keys.create(cp, LOCAL_OPERATOR, "alice")
    monkeypatch.setenv("UPSTREAM_KEY", "sk-test-upstream-key-0123456789")
    provider_add = ("provider", "add", "second", "--kind", "openai", "--base-url", "https://api.example.com/v1")
    provider_add += ("--api-key-env", "UPSTREAM_KEY")
    changes: list[tuple[str, ...]] = [
        ("member", "add", "bob"),
        ("key", "create", "--member", "alice", "--json"),
        ("key", "revoke", key.info.id),
        provider_add,
    ]
    before = counts(cp)
    refuse_audit_writes(cp.store)
    for argv in changes:
        code, out, err = cli(capsys, *argv)
        assert code == 1, argv
        assert out == "", argv
        assert err.count("\n") == 1 and err.startswith(AUDIT_ERROR), (argv, err)
        assert "Traceback" not in err and "INSERT" not in err
        assert counts(cp) == before, f"{argv}: the change happened without its audit record"
    allow_audit_writes(cp.store)
    for argv in changes:
        code, _, err = cli(capsys, *argv)
        assert code == 0, (argv, err)
    members_, keys_, revoked, providers_, audited = counts(cp)
    assert (members_, keys_, revoked, providers_) == (before[0] + 1, before[1] + 1, before[2] + 1, before[3] + 1)
    assert audited > before[4]


def test_admin_api_changes_that_cannot_be_audited_are_refused(installation: Installation) -> None:
    cp = installation.cp
    members.add(cp, LOCAL_OPERATOR, "alice")
    key = keys.create(cp, LOCAL_OPERATOR, "alice")
    providers.add(cp, LOCAL_OPERATOR, "first", kind="echo")
    providers.add(cp, LOCAL_OPERATOR, "default", kind="echo", make_default=True)
    client = TestClient(build_admin_app(cp), headers={"authorization": f"Bearer {installation.admin_token}"})
    changes: list[tuple[str, str, dict[str, Any] | None]] = [
        ("POST", "/admin/members", {"name": "bob"}),
        ("POST", "/admin/keys", {"member": "alice"}),
        ("POST", f"/admin/keys/{key.info.id}/revoke", None),
        ("POST", "/admin/providers", {"name": "second", "kind": "echo"}),
        ("DELETE", "/admin/providers/first", None),
    ]
    before = counts(cp)
    refuse_audit_writes(cp.store)
    for method, path, body in changes:
        resp = client.request(method, path, json=body)
        assert resp.status_code == 503, (path, resp.text)
        error = resp.json()["error"]
        assert error["code"] == "audit_unavailable", error
        assert error["message"].startswith("The change could not be recorded in the audit trail"), error
        assert counts(cp) == before, f"{path}: the change happened without its audit record"
    allow_audit_writes(cp.store)
    for method, path, body in changes:
        resp = client.request(method, path, json=body)
        assert resp.status_code < 300, (path, resp.text)
    assert counts(cp)[:2] == (before[0] + 1, before[1] + 1)
