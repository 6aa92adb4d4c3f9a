"""``vaultgate config check``: the effective configuration, every secret masked, and where each value came from."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from vaultgate.cli.context import loaded_settings
from vaultgate.cli.output import emit_json
from vaultgate.config import LoadedSettings, shown

app = typer.Typer(help="The configuration vaultgate reads (file and environment).", no_args_is_help=True)


def effective(loaded: LoadedSettings) -> dict[str, Any]:
    """Every setting's value as vaultgate will use it, secrets masked (the master key, tokens, URL passwords)."""
    s = loaded.settings
    values: dict[str, Any] = {}
    for name in type(s).model_fields:
        value = shown(name, getattr(s, name))
        values[name] = str(value) if isinstance(value, Path) else value
    values["database_url"] = shown("database_url", s.resolved_database_url)
    return values


@app.command("check")
def check(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document")] = False,
) -> None:
    """Read the configuration (refusing bad values with one line naming them) and print it, secrets masked."""
    loaded = loaded_settings(ctx)
    values = effective(loaded)
    config_file = str(loaded.file.absolute()) if loaded.file else None
    if as_json:
        # The settings stay top-level keys (`jq .port`); no setting is named `origins` or `config_file`.
        emit_json({**values, "origins": dict(loaded.origins), "config_file": config_file})
        return
    typer.echo(f"# configuration file: {config_file or 'none'}")
    width = max(len(name) for name in values) + len("VAULTGATE_")
    for name, value in values.items():
        typer.echo(f"{'VAULTGATE_' + name.upper():<{width}} = {value}  ({loaded.origins[name]})")
