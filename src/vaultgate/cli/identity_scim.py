"""``vaultgate identity scim-token create|list|revoke``: the bearer tokens identity providers provision with."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer

from vaultgate.cli.context import control_plane
from vaultgate.cli.identity import app
from vaultgate.cli.output import emit_json, emit_table, say
from vaultgate.services import scim_tokens
from vaultgate.services.context import LOCAL_OPERATOR

scim_token_app = typer.Typer(
    help="SCIM tokens (vgs_): what an identity provider presents at /scim/v2.", no_args_is_help=True
)
app.add_typer(scim_token_app, name="scim-token")

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document")]


@scim_token_app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Option("--name", help="What the token is for (e.g. entra-id)")] = None,
    as_json: JsonOption = False,
) -> None:
    """Create a SCIM token (owners; shown once): give it to the identity provider as its bearer token."""
    info, token = scim_tokens.create(control_plane(ctx), LOCAL_OPERATOR, name)
    if as_json:
        emit_json({**asdict(info), "token": token})
        return
    say(f"SCIM token {info.id}{f' ({info.name})' if info.name else ''}. Shown once:")
    typer.echo(token)


@scim_token_app.command("list")
def list_(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List SCIM tokens (metadata only)."""
    rows = scim_tokens.list_tokens(control_plane(ctx), LOCAL_OPERATOR)
    if as_json:
        emit_json(rows)
    else:
        emit_table(rows, ("id", "name", "display", "created_at", "revoked_at"))


@scim_token_app.command("revoke")
def revoke(ctx: typer.Context, token_id: Annotated[str, typer.Argument(help="SCIM token id")]) -> None:
    """Revoke a SCIM token: refused from its next request on."""
    scim_tokens.revoke(control_plane(ctx), LOCAL_OPERATOR, token_id)
    say(f"Revoked SCIM token {token_id}.")
