"""``vaultgate vault``: the master key and sealed secrets."""

from __future__ import annotations

from typing import Annotated

import typer

from vaultgate.cli.context import control_plane
from vaultgate.cli.output import emit_json, say
from vaultgate.services import vault_ops

vault_app = typer.Typer(help="The master key and sealed secrets.", no_args_is_help=True)


@vault_app.command("rotate-master")
def rotate_master(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document")] = False,
) -> None:
    """Generate a new master key and re-wrap every data key under it (no downtime)."""
    result = vault_ops.rotate_master(control_plane(ctx))
    if as_json:
        emit_json(result)
    else:
        say(
            f"Master key rotated ({result.old_key_id} → {result.new_key_id}); "
            f"{result.rewrapped} sealed values re-wrapped."
        )


@vault_app.command("rewrap")
def rewrap(ctx: typer.Context) -> None:
    """Re-wrap every sealed value under the primary key (after changing VAULTGATE_MASTER_KEY)."""
    count = vault_ops.rewrap_all(control_plane(ctx))
    say(f"{count} sealed values re-wrapped.")


def register(app: typer.Typer) -> None:
    """Add the operations commands to the root app."""
    app.add_typer(vault_app, name="vault")
