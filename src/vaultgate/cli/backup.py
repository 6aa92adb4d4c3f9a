"""``vaultgate backup|restore|migrate``: the database into an archive and back, and schema upgrades."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vaultgate.cli.context import settings
from vaultgate.cli.output import emit_json, say
from vaultgate.services import backup as backups
from vaultgate.services import migration

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document")]


def backup(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="The archive to write (created with mode 0600)")],
    force: Annotated[bool, typer.Option("--force", help="Replace FILE if it exists")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Write the database and a manifest to one archive, while the gateway serves. Not the master key."""
    result = backups.backup(settings(ctx), file, replace=force)
    if as_json:
        emit_json(result)
        return
    say(
        f"Backed up the {result.database} database (schema {result.schema_revision}) to {result.path} "
        f"({result.bytes} bytes of database, mode 0600)."
    )
    say(
        f"The master key (id {', '.join(result.master_key_ids)}) is not in the archive: "
        "keep a copy of it apart from your backups; restoring needs it."
    )


def restore(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="An archive written by `vaultgate backup`")],
    force: Annotated[bool, typer.Option("--force", help="Replace a database holding vaultgate data")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Restore an archive into the configured database (stop the gateway first), then migrate it."""
    result = backups.restore(settings(ctx), file, replace=force)
    if as_json:
        emit_json(result)
        return
    say(
        f"Restored {result.path} (a {result.database} backup of {result.created_at.isoformat()}, schema "
        f"{result.archive_revision}); the database schema is at {result.schema_revision}. Start the gateway."
    )


def migrate(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would be applied; change nothing")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Bring the database schema to this vaultgate's (back up first); `serve` never changes it."""
    plan = migration.migrate(settings(ctx), dry_run=dry_run)
    if as_json:
        emit_json(plan)
        return
    current = plan.current or "none"
    if not plan.pending:
        say(f"The {plan.database} database schema is at {current}, this vaultgate's: nothing to do.")
        return
    steps = f"{len(plan.pending)} migration{'s' if len(plan.pending) > 1 else ''}: {', '.join(plan.pending)}"
    verb = "applied" if plan.applied else "would apply"
    say(f"The {plan.database} database schema: {current} -> {plan.head} ({verb} {steps}).")


def register(app: typer.Typer) -> None:
    """Add backup, restore and migrate to the root app."""
    app.command("backup")(backup)
    app.command("restore")(restore)
    app.command("migrate")(migrate)
