"""``vaultgate vault|audit|usage|doctor``: operating a deployment."""

from __future__ import annotations

import dataclasses
import sys
from typing import Annotated

import orjson
import typer

from vaultgate.cli.context import control_plane, settings
from vaultgate.cli.output import emit_json, emit_table, say
from vaultgate.services import audit_trail, residency, usage, vault_ops
from vaultgate.services.context import LOCAL_OPERATOR
from vaultgate.upstream.addresses import is_loopback_host

vault_app = typer.Typer(help="The master key and sealed secrets.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
usage_app = typer.Typer(help="Usage reports (metadata only).", no_args_is_help=True)


@vault_app.command("rotate-master")
def rotate_master(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document")] = False,
) -> None:
    """Generate a new master key and re-wrap every data key under it (no downtime)."""
    result = vault_ops.rotate_master(control_plane(ctx))
    if as_json:
        emit_json(result)
    else:
        say(
            f"Master key rotated ({result.old_key_id} → {result.new_key_id}); "
            f"{result.rewrapped} sealed values re-wrapped."
        )


@vault_app.command("rewrap")
def rewrap(ctx: typer.Context) -> None:
    """Re-wrap every sealed value under the primary key (after changing VAULTGATE_MASTER_KEY)."""
    count = vault_ops.rewrap_all(control_plane(ctx))
    say(f"{count} sealed values re-wrapped.")


@audit_app.command("verify")
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


@audit_app.command("export")
def export(ctx: typer.Context) -> None:
    """Every audit record as JSON Lines on stdout."""
    out = sys.stdout.buffer
    for record in audit_trail.export(control_plane(ctx), LOCAL_OPERATOR):
        out.write(orjson.dumps(dataclasses.asdict(record), default=str) + b"\n")
    out.flush()


@usage_app.command("report")
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


def tls_finding(tls: bool, host: str) -> str:
    """Whether clients reach this gateway encrypted: ``on``, fine on loopback, or a warning."""
    if tls:
        return "on"
    if is_loopback_host(host):
        return f"off (listening on {host} only)"
    return f"WARNING: off while listening on {host}: keys and prompts travel unencrypted unless a TLS proxy is in front"


def doctor(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document")] = False,
) -> None:
    """Check the configuration, master key, database, audit chain, and routes against residency policies."""
    s = settings(ctx)
    cp = control_plane(ctx)
    count, broken = audit_trail.verify(cp, LOCAL_OPERATOR)
    checks = {
        "database": cp.store.dialect,
        "revision": cp.store.revision(),
        "master_key_source": "environment" if s.master_key else str(s.resolved_master_key_file),
        "audit_records": count,
        "audit_chain_ok": broken is None,
        "tls": tls_finding(s.tls_cert is not None, s.host),
    }
    found = residency.findings(cp, LOCAL_OPERATOR)
    if as_json:
        emit_json({**checks, "residency_findings": found})
    else:
        for name, value in checks.items():
            say(f"{name}: {value}")
        for finding in found:
            say(f"residency {finding.level}: team {finding.team}, route {finding.route}: {finding.message}")
    if broken is not None or any(f.level == residency.ERROR for f in found):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the operations commands to the root app."""
    app.add_typer(vault_app, name="vault")
    app.add_typer(audit_app, name="audit")
    app.add_typer(usage_app, name="usage")
    app.command("doctor")(doctor)
