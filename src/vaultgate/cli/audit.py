"""``vaultgate audit``: verifying and exporting the audit trail."""

from __future__ import annotations

import dataclasses
import sys
from typing import Annotated

import orjson
import typer

from vaultgate.cli.context import control_plane
from vaultgate.cli.output import emit_json, say
from vaultgate.services import audit_trail
from vaultgate.services.context import LOCAL_OPERATOR

app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)


@app.command("verify")
def verify(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document")] = False,
) -> None:
    """Check the audit hash chain; exit 1 if any record was altered, removed or reordered."""
    count, broken = audit_trail.verify(control_plane(ctx), LOCAL_OPERATOR)
    if as_json:
        emit_json({"records": count, "ok": broken is None, "break": dataclasses.asdict(broken) if broken else None})
    elif broken is None:
        say(f"Audit chain intact: {count} records verified.")
    else:
        say(f"Audit chain BROKEN at record {broken.seq}: {broken.reason}.")
    if broken is not None:
        raise typer.Exit(1)


@app.command("export")
def export(ctx: typer.Context) -> None:
    """Every audit record as JSON Lines on stdout."""
    out = sys.stdout.buffer
    for record in audit_trail.export(control_plane(ctx), LOCAL_OPERATOR):
        out.write(orjson.dumps(dataclasses.asdict(record), default=str) + b"\n")
    out.flush()
