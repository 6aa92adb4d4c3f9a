"""``vaultgate usage``: spend and usage reports, and the retention purge (metadata only)."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated

import typer

from vaultgate.cli.context import control_plane, settings
from vaultgate.cli.output import emit_json, emit_table, say
from vaultgate.services import retention, usage
from vaultgate.services.context import LOCAL_OPERATOR
from vaultgate.services.errors import InvalidInput

app = typer.Typer(help="Usage and spend reports, and the retention purge (metadata only).", no_args_is_help=True)


class ReportFormat(StrEnum):
    """How ``usage report`` prints its lines."""

    TABLE = "table"
    CSV = "csv"
    JSON = "json"


@app.command("report")
def report(
    ctx: typer.Context,
    since: Annotated[
        str | None, typer.Option("--since", help="From (inclusive): 2026-07-01, an ISO datetime, or 7d ago")
    ] = None,
    until: Annotated[str | None, typer.Option("--until", help="To (exclusive), in the same forms")] = None,
    by: Annotated[
        str, typer.Option("--by", help="Comma-separated dimensions: member, team, key, model, day")
    ] = ",".join(usage.DEFAULT_BY),
    output: Annotated[ReportFormat, typer.Option("--format", help="table, csv or json")] = ReportFormat.TABLE,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document (same as --format json)")] = False,
) -> None:
    """Requests, errors, tokens and cost per member, team, key, model and/or day (UTC)."""
    if as_json and output not in (ReportFormat.TABLE, ReportFormat.JSON):
        raise InvalidInput(f"--json and --format {output.value} ask for two formats: give one")
    dimensions = usage.parse_by(by)
    cp = control_plane(ctx)
    start, end = usage.parse_range(since, until, cp.clock())
    lines = usage.report(cp, LOCAL_OPERATOR, since=start, until=end, by=dimensions)
    if as_json or output is ReportFormat.JSON:
        emit_json([line.as_dict() for line in lines])
    elif output is ReportFormat.CSV:
        sys.stdout.write(usage.csv_text(lines, dimensions))
        sys.stdout.flush()
    else:
        total = {**{name: "" for name in usage.columns(dimensions)}, **usage.totals(lines).as_dict()}
        total[dimensions[0] if dimensions[0] != "key" else "key"] = "total"
        emit_table([line.as_dict() for line in lines] + [total], usage.columns(dimensions))


@app.command("purge")
def purge(
    ctx: typer.Context,
    older_than: Annotated[
        int | None,
        typer.Option("--older-than", help="Days to keep (default: the usage_retention_days setting)"),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count what would be deleted; change nothing")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document")] = False,
) -> None:
    """Delete usage records older than the retention period, in audited batches (never the audit trail)."""
    loaded = settings(ctx)
    days = older_than if older_than is not None else loaded.usage_retention_days
    if older_than is None and days == 0:
        raise InvalidInput("usage_retention_days is 0 (keep forever): give --older-than DAYS to purge anyway")
    done = retention.purge(control_plane(ctx), LOCAL_OPERATOR, days, dry_run=dry_run)
    if as_json:
        emit_json(done)
        return
    verb = "would delete" if dry_run else "deleted"
    say(f"{verb} {done.rows} usage records older than {done.cutoff.isoformat()} ({days} days)")
