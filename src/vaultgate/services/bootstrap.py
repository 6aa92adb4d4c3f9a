"""Initialising a data dir and opening the control plane for a process."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import inspect, select
from sqlalchemy.exc import ArgumentError, OperationalError

from vaultgate.audit.signed_head import CheckpointPolicy
from vaultgate.config import Settings
from vaultgate.keys import tokens
from vaultgate.keys.hashing import TokenHasher
from vaultgate.services import audit_keys
from vaultgate.services.context import LOCAL_OPERATOR, ControlPlane, Role, new_id
from vaultgate.services.errors import InvalidInput, NotInitialised
from vaultgate.services.notify import Notifier
from vaultgate.store import migrate
from vaultgate.store.db import Store
from vaultgate.store.errors import StoreError, describe_unavailable
from vaultgate.store.models import AdminToken, Member, VaultSecret
from vaultgate.usage import pricing
from vaultgate.vault import Keyring, MasterKey, Vault
from vaultgate.vault.masterkey import MasterKeySource, write_key_file

TOKEN_HASH_KEY = "token_hash_key"  # noqa: S105 - the name of a sealed secret
FIRST_OWNER = "admin"
# Admin tokens always expire; the local operator issues a new one with 'vaultgate admin-token create'.
FIRST_TOKEN_LIFETIME = timedelta(days=90)


def checkpoint_policy(settings: Settings) -> CheckpointPolicy:
    """When the audit chain gets a signed checkpoint (docs/AUDIT.md)."""
    return CheckpointPolicy(records=settings.audit_checkpoint_records, minutes=settings.audit_checkpoint_minutes)


def master_key_source(settings: Settings) -> MasterKeySource:
    """Environment first, then the configured or data-dir key file."""
    return MasterKeySource(env_value=settings.master_key, file=settings.resolved_master_key_file)


@dataclass(frozen=True, slots=True)
class InitResult:
    """What ``init`` did; ``admin_token`` is set only the first time, and shown only once."""

    created: bool
    database_url: str
    master_key_file: str | None
    admin_token: str | None = None


def open_store(settings: Settings) -> Store:
    """The configured database (StoreError, one line, for a URL vaultgate cannot use)."""
    try:
        return Store(settings.resolved_database_url)
    except (ArgumentError, ValueError) as exc:
        raise StoreError(f"cannot use VAULTGATE_DATABASE_URL: {exc}") from exc


def init(settings: Settings) -> InitResult:
    """Create the data dir, master key file (0600), schema, hashing key and first admin token."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(settings.data_dir, 0o700)
    source = master_key_source(settings)
    key_file = None
    if source.env_value is None:
        key_file = source.file
        assert key_file is not None
        if not key_file.exists():
            write_key_file(key_file, Keyring((MasterKey.generate(),)))
    vault = Vault(source)
    store = open_store(settings)
    try:
        migrate.upgrade(store)
        with store.session() as session:
            if session.get(VaultSecret, TOKEN_HASH_KEY) is not None:
                return InitResult(False, store.url, str(key_file) if key_file else None)
            session.add(VaultSecret(name=TOKEN_HASH_KEY, sealed=vault.seal(TOKEN_HASH_KEY, secrets.token_bytes(32))))
        cp = open_control_plane(settings, store=store, vault=vault)
        token = tokens.mint(tokens.TokenKind.ADMIN_TOKEN)
        with store.session() as session:
            now = cp.clock()
            owner = Member(
                id=new_id("mem"), name=FIRST_OWNER, role=Role.OWNER.value, status="active", created_at=now, limits={}
            )
            session.add(owner)
            session.flush()
            session.add(
                AdminToken(
                    id=new_id("adm"),
                    member_id=owner.id,
                    token_hash=cp.hasher.token_hash(token),
                    display=tokens.display(token),
                    created_at=now,
                    expires_at=now + FIRST_TOKEN_LIFETIME,
                    revoked_at=None,
                    role=Role.OWNER.value,
                )
            )
            cp.audit(session, LOCAL_OPERATOR, "vaultgate.init", owner.id)
        return InitResult(True, store.url, str(key_file) if key_file else None, admin_token=token)
    finally:
        store.dispose()


def is_initialised(store: Store) -> bool:
    """Whether the schema exists and holds the token hashing key."""
    try:
        if not inspect(store.engine).has_table("vault_secrets"):
            return False
        with store.session() as session:
            return session.scalar(select(VaultSecret.name).where(VaultSecret.name == TOKEN_HASH_KEY)) is not None
    except OperationalError as exc:
        raise StoreError(f"cannot use the database: {describe_unavailable(exc)}") from exc


def open_control_plane(
    settings: Settings, *, store: Store | None = None, vault: Vault | None = None, any_schema: bool = False
) -> ControlPlane:
    """The control plane for an initialised data dir; NotInitialised when it is not, SchemaMismatch when its
    schema is not this vaultgate's (unless ``any_schema``: backup reads an older one before it is migrated)."""
    vault = vault or Vault(master_key_source(settings))
    store = store or open_store(settings)
    if not is_initialised(store):
        raise NotInitialised("vaultgate is not initialised here: run 'vaultgate init' first")
    if not any_schema:
        migrate.require_head(store)  # nothing but init and migrate changes the schema
    with store.session() as session:
        sealed = session.get(VaultSecret, TOKEN_HASH_KEY)
        assert sealed is not None
        hash_key = vault.open(TOKEN_HASH_KEY, sealed.sealed)
    try:
        notifier = Notifier(settings.webhook_url, allow_link_local=settings.allow_link_local_upstreams)
        prices = pricing.load(settings.prices_file)
    except ValueError as exc:  # PriceTableError is a ValueError too
        raise InvalidInput(str(exc)) from None
    return ControlPlane(
        store=store,
        vault=vault,
        hasher=TokenHasher(hash_key),
        audit_keys=audit_keys.load_or_create(store, vault),
        notifier=notifier,
        prices=prices,
        allow_link_local_upstreams=settings.allow_link_local_upstreams,
        audit_checkpoints=checkpoint_policy(settings),
    )
