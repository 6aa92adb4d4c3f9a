"""A vaultgate database as its first release (schema revision 0001) left it, with rows in every table.

Written through the 0001 tables as the database reflects them (the models describe head, not
0001), in vaultgate's own formats: secrets sealed by the vault, keys stored as keyed hashes,
0001's key policy form, usage rows without cost, a valid audit hash chain.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from alembic import command
from sqlalchemy import MetaData, update

from vaultgate.audit.chain import GENESIS, AuditRecord, record_hash
from vaultgate.config import Settings
from vaultgate.keys import tokens
from vaultgate.keys.hashing import TokenHasher, fingerprint
from vaultgate.services.bootstrap import TOKEN_HASH_KEY, master_key_source
from vaultgate.store import migrate
from vaultgate.store.db import Store
from vaultgate.vault import Keyring, MasterKey, Vault
from vaultgate.vault.masterkey import write_key_file

# 0001's key policy form: the four fields of the first release.
POLICY_0001 = {
    "models": ["gpt-4o*"],
    "scopes": {"embeddings": "none"},
    "ip_allow": ["127.0.0.0/8"],
    "allow_store": False,
}


@dataclass(frozen=True)
class Legacy:
    """The secrets and counts a test checks after the upgrade."""

    member_key: str
    revoked_key: str
    admin_token: str
    provider_key: str
    usage_rows: int
    audit_records: int


def create_0001(settings: Settings, upstream_url: str) -> Legacy:
    """A data dir with a master key file and a database at revision 0001 holding realistic rows."""
    write_key_file(settings.resolved_master_key_file, Keyring((MasterKey.generate(),)))
    vault = Vault(master_key_source(settings))
    store = Store(settings.resolved_database_url)
    cfg = migrate.alembic_config(store)
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    hash_key = secrets.token_bytes(32)
    hasher = TokenHasher(hash_key)
    member_key, revoked_key = tokens.mint(tokens.TokenKind.MEMBER_KEY), tokens.mint(tokens.TokenKind.MEMBER_KEY)
    admin_token = tokens.mint(tokens.TokenKind.ADMIN_TOKEN)
    provider_key = "sk-upstream-" + secrets.token_urlsafe(24)
    start = datetime.now(UTC).replace(microsecond=123456) - timedelta(days=30)

    def at(minutes: int) -> datetime:
        return start + timedelta(minutes=minutes)

    def key_row(key_id: str, token: str, name: str, **extra: Any) -> dict[str, Any]:
        row = {"id": key_id, "member_id": "mem_alice", "name": name, "key_hash": hasher.token_hash(token)}
        row |= {"fingerprint": fingerprint(token), "display": tokens.display(token), "policy": POLICY_0001}
        return row | {"created_at": at(3), "expires_at": None, "revoked_at": None, "revoked_reason": None} | extra

    rows: dict[str, list[dict[str, Any]]] = {
        "vault_secrets": [{"name": TOKEN_HASH_KEY, "sealed": vault.seal(TOKEN_HASH_KEY, hash_key)}],
        "teams": [{"id": "team_research", "name": "research", "suspended": False, "created_at": at(1)}],
        "members": [
            {"id": "mem_admin", "name": "admin", "email": None, "team_id": None, "role": "owner"}
            | {"status": "active", "created_at": at(0)},
            {"id": "mem_alice", "name": "alice", "email": "alice@example.com", "team_id": "team_research"}
            | {"role": "member", "status": "active", "created_at": at(1)},
        ],
        "admin_tokens": [
            {"id": "adm_first", "member_id": "mem_admin", "token_hash": hasher.token_hash(admin_token)}
            | {"display": tokens.display(admin_token), "created_at": at(0), "expires_at": at(60 * 24 * 365)}
            | {"revoked_at": None}
        ],
        "providers": [
            {"id": "prov_capture", "name": "capture", "kind": "compatible", "base_url": upstream_url + "/v1"}
            | {"api_version": None, "deployments": {}, "allow_insecure_http": True, "is_default": True}
            | {"created_at": at(2)}
        ],
        "provider_credentials": [
            {
                "id": "cred_first",
                "provider_id": "prov_capture",
                "sealed": vault.seal("cred_first", provider_key.encode()),
            }
            | {"state": "active", "created_at": at(2)}
        ],
        "member_keys": [
            key_row("key_alice", member_key, "laptop"),
            key_row("key_old", revoked_key, "old", revoked_at=at(5), revoked_reason="revoked"),
        ],
        "usage_events": [
            {"at": at(10 + i), "request_id": f"req_{i}", "member_id": "mem_alice", "key_id": "key_alice"}
            | {"provider": "capture", "endpoint": "chat/completions", "model": "gpt-4o-mini", "status": 200}
            | {"error_code": None, "stream": i % 2 == 1, "prompt_tokens": 11, "completion_tokens": 7}
            | {"latency_ms": 12.5}
            for i in range(3)
        ],
    }
    actions = [
        ("vaultgate.init", "admin"),
        ("member.create", "alice"),
        ("provider.create", "capture"),
        ("key.create", "key_alice"),
        ("key.create", "key_old"),
        ("key.revoke", "key_old"),
    ]
    rows["audit_events"] = _chain(actions, at)
    tables = MetaData()
    with store.engine.begin() as conn:
        tables.reflect(conn)
        for name, values in rows.items():
            conn.execute(tables.tables[name].insert(), values)
        conn.execute(update(tables.tables["revision"]).where(tables.tables["revision"].c.id == 1).values(value=6))
    store.dispose()
    return Legacy(member_key, revoked_key, admin_token, provider_key, len(rows["usage_events"]), len(actions))


def _chain(actions: list[tuple[str, str]], at: Any) -> list[dict[str, Any]]:
    """Audit rows hash-chained exactly as vaultgate chains them."""
    chained: list[dict[str, Any]] = []
    prev = GENESIS
    for seq, (action, target) in enumerate(actions, start=1):
        record = AuditRecord(seq, at(seq), "cli", action, target, "ok", {"via": "0001"}, prev)
        digest = record_hash(record)
        chained.append(
            {"seq": seq, "at": record.at, "actor": "cli", "action": action, "target": target, "outcome": "ok"}
            | {"details": record.details, "prev_hash": prev, "hash": digest}
        )
        prev = digest
    return chained
