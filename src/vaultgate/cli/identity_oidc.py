"""``vaultgate identity oidc-secret`` and ``vaultgate identity map set|list|remove`` (docs/IDENTITY.md)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from vaultgate.cli.context import control_plane
from vaultgate.cli.identity import app
from vaultgate.cli.output import emit_json, emit_table, say
from vaultgate.services import identity, identity_signin
from vaultgate.services.context import LOCAL_OPERATOR
from vaultgate.services.errors import InvalidInput

map_app = typer.Typer(
    help="Group mappings: the team and role an identity-provider group gives its members.", no_args_is_help=True
)
app.add_typer(map_app, name="map")


@app.command("oidc-secret")
def oidc_secret(
    ctx: typer.Context,
    clear: Annotated[bool, typer.Option("--clear", help="Remove it (the client becomes public: PKCE only)")] = False,
) -> None:
    """Seal the OIDC client secret (read from standard input) in the vault, or remove it with --clear."""
    cp = control_plane(ctx)
    if clear:
        identity_signin.set_client_secret(cp, LOCAL_OPERATOR, None)
        say("The OIDC client secret is removed: sign-ins use PKCE alone (a public client).")
        return
    value = sys.stdin.readline().strip()
    if not value:
        raise InvalidInput("no client secret on standard input")
    identity_signin.set_client_secret(cp, LOCAL_OPERATOR, value)
    say("The OIDC client secret is sealed in the vault.")


@map_app.command("set")
def map_set(
    ctx: typer.Context,
    group: Annotated[str, typer.Argument(help="The identity-provider group (a groups-claim value or SCIM group)")],
    role: Annotated[str, typer.Option("--role", help="admin, auditor or member")],
    team: Annotated[str | None, typer.Option("--team", help="The team its members join (default: theirs)")] = None,
) -> None:
    """Map a group to a role and, optionally, a team (replaces the group's mapping)."""
    found = identity.set_mapping(control_plane(ctx), LOCAL_OPERATOR, group, team, role)
    say(f"Group {found.group} gives role {found.role}" + (f" in team {found.team}." if found.team else "."))


@map_app.command("list")
def map_list(
    ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document")] = False
) -> None:
    """Every group mapping."""
    found = identity.list_mappings(control_plane(ctx), LOCAL_OPERATOR)
    if as_json:
        emit_json(found)
    else:
        emit_table(found, ("group", "team", "role", "created_at"))


@map_app.command("remove")
def map_remove(ctx: typer.Context, group: Annotated[str, typer.Argument(help="The group whose mapping goes")]) -> None:
    """Remove a group's mapping (members keep their team and role)."""
    identity.remove_mapping(control_plane(ctx), LOCAL_OPERATOR, group)
    say(f"Removed the mapping of group {group}.")
