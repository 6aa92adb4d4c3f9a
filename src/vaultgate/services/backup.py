"""``vaultgate backup FILE`` and ``vaultgate restore FILE``: the whole database in one archive, and back.

Backup chains an audit record first (so the archive holds it), then copies the database while
the gateway keeps serving, and writes the archive (0600) with a manifest: no master key is ever
in it (services/backup_archive.py). Restore checks all it can before it changes anything (an
intact archive, the same database kind, a schema this vaultgate knows, the master key that
sealed it, an empty database or ``--force``), loads the archive whole or not at all, migrates it
to this vaultgate's schema and chains its own audit record. The CLI only: both need local files.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from vaultgate import __version__
from vaultgate.audit import log as audit_log
from vaultgate.config import Settings
from vaultgate.services import backup_archive as archive
from vaultgate.services.backup_archive import PAYLOADS, Manifest, SealingKey
from vaultgate.services.bootstrap import (
    TOKEN_HASH_KEY,
    checkpoint_policy,
    master_key_source,
    open_control_plane,
    open_store,
)
from vaultgate.services.context import LOCAL_OPERATOR, ControlPlane
from vaultgate.services.errors import ArchiveRefused, Conflict, InvalidInput, ServiceError
from vaultgate.services.migration import audited
from vaultgate.store import backup as copying
from vaultgate.store import migrate as schema
from vaultgate.store.db import Store
from vaultgate.store.errors import StoreError, describe_unavailable
from vaultgate.store.models import Base, ProviderCredential, VaultSecret
from vaultgate.vault import MasterKeyError, SealError, Vault

# Everything restore replaces: this vaultgate's tables and Alembic's record of the schema revision.
TABLES = (*Base.metadata.tables, schema.VERSION_TABLE)


@dataclass(frozen=True, slots=True)
class BackupResult:
    """What ``backup`` wrote."""

    path: str
    database: str
    schema_revision: str
    created_at: datetime
    bytes: int
    master_key_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RestoreResult:
    """What ``restore`` did: the archive's origin and the schema the database is at now."""

    path: str
    database: str
    created_at: datetime
    archive_revision: str
    schema_revision: str
    replaced: bool


def backup(settings: Settings, destination: Path, *, replace: bool = False) -> BackupResult:
    """Write the configured database, a manifest and the master keys' fingerprints to ``destination`` (0600)."""
    if destination.is_dir():
        raise InvalidInput(f"{destination} is a directory: name the archive file")
    if not destination.parent.is_dir():
        raise InvalidInput(f"{destination.parent} is not a directory")
    if destination.exists() and not replace:
        raise Conflict(f"{destination} exists: choose another file name, or --force to replace it")
    cp = open_control_plane(settings, any_schema=True)  # an older schema is backed up before it is migrated
    try:
        found = schema.state(cp.store)
        if found.current is None or found.ahead:
            raise schema.mismatch(found)
        keys = _sealing_keys(cp)
        kind = cp.store.dialect
        created = cp.clock()
        _audit_backup(cp, destination.name, database=kind, schema=found.current)
        try:
            # Beside the archive (0700): the rename into place stays on one file system.
            with tempfile.TemporaryDirectory(dir=destination.parent, prefix=".vaultgate-backup-") as work:
                payload = Path(work) / PAYLOADS[kind]
                _copy_out(cp.store, payload)
                digest, size = archive.digest_of(payload)
                manifest = Manifest(__version__, found.current, kind, created, keys, digest, size)
                archive.write(destination, manifest, payload, Path(work), replace=replace)
        except (StoreError, ServiceError, OSError) as exc:
            reason = str(exc.strerror or exc) if isinstance(exc, OSError) else str(exc)
            _audit_backup(cp, destination.name, "failed", reason=reason)
            raise
        return BackupResult(str(destination), kind, found.current, created, size, tuple(k.key_id for k in keys))
    finally:
        cp.store.dispose()


def _audit_backup(cp: ControlPlane, target: str, outcome: str = "ok", **details: Any) -> None:
    """The backup's audit record; on a database not yet migrated to the keyed chain, a plain one its table can hold."""
    with cp.store.session() as session:
        if audit_log.has_keyed_schema(session):
            cp.audit(session, LOCAL_OPERATOR, "vaultgate.backup", target, outcome, **details)
        else:
            audit_log.append_unkeyed(
                session,
                at=cp.clock(),
                actor=LOCAL_OPERATOR.audit_id,
                action="vaultgate.backup",
                target=target,
                outcome=outcome,
                details=details,
            )


def _sealing_keys(cp: ControlPlane) -> tuple[SealingKey, ...]:
    with cp.store.session() as session:
        sealed = [*session.scalars(select(ProviderCredential.sealed)), *session.scalars(select(VaultSecret.sealed))]
    try:
        found = cp.vault.sealing_keys(sealed)
    except SealError:
        raise Conflict(
            "the database holds secrets sealed with a master key the configured keyring lacks: a backup of it "
            "could not be restored; configure that key (then `vaultgate vault rewrap`) first"
        ) from None
    return tuple(SealingKey(key_id, fingerprint) for key_id, fingerprint in sorted(found.items()))


def _copy_out(store: Store, payload: Path) -> None:
    if store.dialect == "sqlite":
        copying.sqlite_copy(copying.sqlite_path(store), payload)
    else:
        copying.pg_dump(store, payload)


def restore(settings: Settings, source: Path, *, replace: bool = False) -> RestoreResult:
    """Load the archive ``source`` into the configured database and migrate it to this vaultgate's schema.

    ArchiveRefused or Conflict, with the database unchanged, when it cannot or may not.
    """
    kind = copying.database_kind(settings.resolved_database_url)
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    # In the data dir: private, and on the SQLite database's file system.
    with tempfile.TemporaryDirectory(dir=settings.data_dir, prefix=".vaultgate-restore-") as tmp:
        work = Path(tmp)
        manifest, payload = archive.read(source, work)
        _check_archive(source, manifest, kind)
        vault = _vault_for(settings, source, manifest)
        store = open_store(settings)
        try:
            present = copying.vaultgate_tables(store, TABLES)
            if present:
                _check_target(store, replace)
            record = audited(
                store,
                vault,
                checkpoint_policy(settings),
                "vaultgate.restore",
                source.name,
                database=kind,
                archive_created_at=manifest.created_at.isoformat(),
                archive_revision=manifest.schema_revision,
                replaced=bool(present),
            )
            if kind == "sqlite":
                _restore_sqlite(store, payload, vault, record)
            else:
                copying.pg_load(store, payload, TABLES, work)
                schema.upgrade(store, then=record)
            now_at = schema.current_revision(store) or manifest.schema_revision
        finally:
            store.dispose()
    return RestoreResult(
        str(source), kind, manifest.created_at, manifest.schema_revision, now_at, replaced=bool(present)
    )


def _check_archive(source: Path, manifest: Manifest, kind: str) -> None:
    if manifest.database != kind:
        raise ArchiveRefused(
            f"{source} is a {manifest.database} backup and the configured database is {kind}: restore it into a "
            f"{manifest.database} database (vaultgate does not convert between database kinds)"
        )
    if manifest.schema_revision not in schema.known_revisions():
        raise ArchiveRefused(
            f"{source} holds schema revision {manifest.schema_revision}, which this vaultgate ({__version__}, schema "
            f"{schema.head()}) does not know: restore it with vaultgate {manifest.vaultgate_version} or newer"
        )


def _vault_for(settings: Settings, source: Path, manifest: Manifest) -> Vault:
    """The configured vault, if it holds every master key that sealed the archive's secrets."""
    ids = ", ".join(k.key_id for k in manifest.master_keys)
    needed = f"the master key in use when it was made (key id {ids})"
    try:
        vault = Vault(master_key_source(settings))
    except MasterKeyError as exc:
        raise ArchiveRefused(
            f"restoring {source} needs {needed}: {str(exc).split(' (run ')[0]}; put that key in "
            "VAULTGATE_MASTER_KEY or the master key file (it is never in an archive)"
        ) from None
    if not all(vault.keyring.holds(k.fingerprint) for k in manifest.master_keys):
        raise ArchiveRefused(
            f"{source} was sealed with another master key than the configured one: restoring it needs {needed}; "
            "nothing was restored (set VAULTGATE_MASTER_KEY or VAULTGATE_MASTER_KEY_FILE to that key)"
        )
    return vault


def _check_target(store: Store, replace: bool) -> None:
    """The configured database holds vaultgate tables: replaced only with --force, and never a newer schema."""
    found = schema.state(store)
    if found.ahead:
        raise schema.mismatch(found)
    if not replace:
        at = f"schema {found.current}" if found.current else "no schema revision"
        raise Conflict(
            f"the configured {store.dialect} database already holds vaultgate data ({at}): restore replaces it "
            "only with --force (back it up first with `vaultgate backup FILE`)"
        )


def _restore_sqlite(store: Store, payload: Path, vault: Vault, record: schema.Step) -> None:
    """Open, migrate and audit the archive's copy beside the target, then write it over the target at once."""
    target = copying.sqlite_path(store)
    store.dispose()
    staged = Store(f"sqlite:///{payload}")
    try:
        with staged.session() as session:
            sealed = session.get(VaultSecret, TOKEN_HASH_KEY)
        try:
            if sealed is None:
                raise SealError("no token hashing key")
            vault.open(TOKEN_HASH_KEY, sealed.sealed)
        except SealError:
            raise ArchiveRefused(
                "the archive's secrets do not open with the configured master key: nothing was restored"
            ) from None
        schema.upgrade(staged, then=record)
    except DBAPIError as exc:  # not a database, or not vaultgate's: the target was not touched
        raise ArchiveRefused(
            f"the archive's database cannot be used: {describe_unavailable(exc)}; nothing was restored"
        ) from None
    finally:
        staged.dispose()
    copying.sqlite_replace(payload, target)
