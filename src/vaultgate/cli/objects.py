"""``vaultgate object claim``: assign a stored upstream object vaultgate never saw created to a member."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer

from vaultgate.cli.context import control_plane
from vaultgate.cli.output import emit_json, say
from vaultgate.services import objects
from vaultgate.services.context import LOCAL_OPERATOR

app = typer.Typer(
    help="Stored upstream objects (files, batches, responses...) and the members they belong to.",
    no_args_is_help=True,
)


@app.command("claim")
def claim(
    ctx: typer.Context,
    object_id: Annotated[str, typer.Argument(help="The object's id at the provider (file-..., batch_...)")],
    kind: Annotated[str, typer.Option("--kind", help="file, batch, response, vector_store, container...")],
    member: Annotated[str, typer.Option("--member", help="The member it belongs to from now on")],
    provider: Annotated[
        str | None, typer.Option("--provider", help="The provider that holds it (requests naming it go there)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document")] = False,
) -> None:
    """Assign an object created before vaultgate (or directly at the provider) to a member: until then every
    request naming it is refused (404). An object already owned is never reassigned."""
    owner = objects.claim(control_plane(ctx), LOCAL_OPERATOR, object_id, kind, member, provider)
    if as_json:
        emit_json(asdict(owner))
    else:
        say(f"{owner.kind} {owner.id} now belongs to {member}.")
