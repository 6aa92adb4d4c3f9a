"""``vaultgate usage``: usage and spend reports (metadata only)."""

from __future__ import annotations

from typing import Annotated

import typer

from vaultgate.cli.context import control_plane
from vaultgate.cli.output import emit_json, emit_table
from vaultgate.services import usage
from vaultgate.services.context import LOCAL_OPERATOR

app = typer.Typer(help="Usage reports (metadata only).", no_args_is_help=True)


@app.command("report")
def report(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document")] = False,
) -> None:
    """Requests and tokens per member and model."""
    rows = usage.report(control_plane(ctx), LOCAL_OPERATOR)
    if as_json:
        emit_json(rows)
    else:
        emit_table(rows, ("member", "model", "requests", "errors", "prompt_tokens", "completion_tokens"))
