"""``vaultgate route ...``: the routing table (docs/PROVIDERS.md, "Routing")."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from vaultgate.cli.context import control_plane
from vaultgate.cli.output import emit_json, emit_table, say
from vaultgate.services import routes
from vaultgate.services.context import LOCAL_OPERATOR

app = typer.Typer(help="Routes: model names to deployments across providers.", no_args_is_help=True)


def _targets_text(targets: list[dict[str, Any]]) -> str:
    parts = []
    for t in targets:
        text = t["provider"] + (f"={t['model']}" if t["model"] else "")
        if t["weight"] != 1:
            text += f",weight={t['weight']}"
        if t["deployment_type"]:
            text += f",type={t['deployment_type']}"
        parts.append(text)
    return " ".join(parts)


@app.command("add")
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model name, pattern (gpt-4o*) or alias")],
    target: Annotated[
        list[str],
        typer.Option(
            "--target", help="PROVIDER[=MODEL][,weight=N][,type=global|datazone|regional] (repeatable, in order)"
        ),
    ],
    strategy: Annotated[str, typer.Option("--strategy", help="ordered|weighted")] = "ordered",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document")] = False,
) -> None:
    """Route a model name to deployments, tried in order (weighted: the first picked by weight)."""
    specs = [routes.parse_target(t) for t in target]
    info = routes.add(control_plane(ctx), LOCAL_OPERATOR, name, specs, strategy=strategy)
    if as_json:
        emit_json(info)
    else:
        say(f"Added route {info.name} ({info.strategy}): {_targets_text(info.targets)}.")


@app.command("list")
def list_(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document")] = False,
) -> None:
    """List routes and their targets."""
    rows = routes.list_routes(control_plane(ctx), LOCAL_OPERATOR)
    if as_json:
        emit_json(rows)
    else:
        emit_table(
            [{"name": r.name, "strategy": r.strategy, "targets": _targets_text(r.targets)} for r in rows],
            ("name", "strategy", "targets"),
        )


@app.command("show")
def show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Route name")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document")] = False,
) -> None:
    """One route and its targets."""
    info = routes.show(control_plane(ctx), LOCAL_OPERATOR, name)
    if as_json:
        emit_json(info)
    else:
        say(f"{info.name} ({info.strategy}): {_targets_text(info.targets)}")


@app.command("remove")
def remove(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Route name")]) -> None:
    """Delete a route (its model falls back to the next match, an Azure deployment or the default)."""
    routes.remove(control_plane(ctx), LOCAL_OPERATOR, name)
    say(f"Removed route {name}.")
