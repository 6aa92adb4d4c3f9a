"""``vaultgate identity sync``: the identity provider's view (the last SCIM state) against vaultgate's.

Exit status: 0 when in sync, and after applying (1 if a change was refused); with ``--dry-run``, 1
when applying would change something (a reported-only difference, such as an admin's suspension that
stands, does not count). Members SCIM does not manage are listed, never counted or touched.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer

from vaultgate.cli.context import control_plane
from vaultgate.cli.identity import app
from vaultgate.cli.output import emit_json, say
from vaultgate.services import identity_sync
from vaultgate.services.context import LOCAL_OPERATOR
from vaultgate.services.identity_sync import SyncReport, SyncResult


def _print_report(report: SyncReport) -> None:
    if not report.scim_in_use:
        typer.echo("SCIM manages no member: nothing to reconcile.")
    elif not report.differences:
        typer.echo(f"In sync: the {report.managed} member(s) SCIM manages are as the identity provider says.")
    for d in report.differences:
        todo = "apply: " + d.action if d.action != identity_sync.HOLD else "not applied"
        note = f" ({d.note})" if d.note else ""
        views = f"provider {d.provider}; vaultgate {d.vaultgate}"
        typer.echo(f"{d.member} [{d.member_id}] {d.kind}: {views} → {todo}{note}")
    if report.unmanaged:
        typer.echo(f"Not managed by SCIM ({len(report.unmanaged)}; never touched by sync):")
        for u in report.unmanaged:
            typer.echo(f"  {u.member} [{u.member_id}] {u.role}, {u.status}, team {u.team or '—'} ({u.reason})")


def _print_result(result: SyncResult) -> None:
    if not result.applied:
        typer.echo("Nothing to apply.")
    for a in result.applied:
        typer.echo(f"{a.member} [{a.member_id}] {a.action}: {a.outcome}" + (f" ({a.detail})" if a.detail else ""))
    held = [d for d in result.report.differences if d.action == identity_sync.HOLD]
    for d in held:
        typer.echo(f"{d.member} [{d.member_id}] {d.kind}: not applied ({d.note})")


@app.command("sync")
def sync(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only show the differences; change nothing")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document")] = False,
) -> None:
    """Compare the identity provider's view (last SCIM state) with vaultgate's; apply it unless --dry-run.

    Exit 0 in sync (or after applying), 1 when --dry-run finds something to apply or a change was refused.
    """
    cp = control_plane(ctx)
    if dry_run:
        report = identity_sync.report(cp, LOCAL_OPERATOR)
        if as_json:
            emit_json(report.to_json())
        else:
            _print_report(report)
        raise typer.Exit(0 if report.in_sync else 1)
    result = identity_sync.apply(cp, LOCAL_OPERATOR)
    if as_json:
        emit_json({**result.report.to_json(), "applied": [asdict(a) for a in result.applied]})
    else:
        _print_result(result)
    if result.refused:
        say(f"{len(result.refused)} change(s) refused; see above.")
    raise typer.Exit(1 if result.refused else 0)
