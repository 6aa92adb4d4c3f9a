"""``vaultgate config check``: the effective configuration, with every secret masked."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit

import typer

from vaultgate.cli.context import settings
from vaultgate.cli.output import emit_json, say
from vaultgate.config import Settings

app = typer.Typer(help="The configuration vaultgate reads (file and environment).", no_args_is_help=True)

MASK = "***"


def _masked_url(url: str) -> str:
    """A URL with its password (if any) masked: postgresql://user:***@host/db."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    netloc = f"{user}:{MASK}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def effective(s: Settings) -> dict[str, Any]:
    """Every setting's value as vaultgate will use it; secrets (fields kept out of repr) masked."""
    shown: dict[str, Any] = {}
    for field in dataclasses.fields(s):
        value = getattr(s, field.name)
        if not field.repr and value is not None:
            value = MASK
        elif field.name in ("database_url", "redis_url", "webhook_url") and isinstance(value, str):
            value = _masked_url(value)
        elif isinstance(value, Path):
            value = str(value)
        shown[field.name] = value
    shown["database_url"] = _masked_url(s.resolved_database_url)
    return shown


@app.command("check")
def check(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document")] = False,
) -> None:
    """Read the configuration (refusing bad values with one line naming them) and print it, secrets masked."""
    shown = effective(settings(ctx))
    if as_json:
        emit_json(shown)
        return
    for name, value in shown.items():
        say(f"VAULTGATE_{name.upper()} = {value}")
