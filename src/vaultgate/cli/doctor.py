"""``vaultgate doctor``: the posture report."""

from __future__ import annotations

from typing import Annotated

import typer

from vaultgate.cli.context import control_plane, settings
from vaultgate.cli.output import emit_json, say
from vaultgate.services import audit_trail, residency
from vaultgate.services.context import LOCAL_OPERATOR
from vaultgate.upstream.addresses import is_loopback_host


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
