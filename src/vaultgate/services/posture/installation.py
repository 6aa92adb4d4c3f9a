"""The installation itself: master key, TLS, kill switches, the audit chain and residency."""

from __future__ import annotations

import shlex
import stat
from collections.abc import Iterator
from dataclasses import asdict

from sqlalchemy import select

from vaultgate.services import audit_trail, residency
from vaultgate.services.org import lockdown_active
from vaultgate.services.posture.finding import Fact, Finding, Severity, command
from vaultgate.services.posture.inspection import Check, Inspection
from vaultgate.store.models import Team
from vaultgate.upstream.addresses import is_loopback_host


def tls_finding(tls: bool, host: str) -> str:
    """Whether clients reach this gateway encrypted: ``on``, fine on loopback, or a warning."""
    if tls:
        return "on"
    if is_loopback_host(host):
        return f"off (listening on {host} only)"
    return f"WARNING: off while listening on {host}: keys and prompts travel unencrypted unless a TLS proxy is in front"


def master_key(inspection: Inspection) -> Iterator[Finding | Fact]:
    """A key file group or others may read (high: it opens every sealed secret), or a key in the environment."""
    settings = inspection.settings
    if settings.master_key:
        yield Fact("master_key_source", "environment")
        yield Finding(
            "master_key.environment",
            Severity.INFO,
            "master key given in the environment (VAULTGATE_MASTER_KEY): any process that can read this"
            " one's environment can read it",
            "VAULTGATE_MASTER_KEY",
            {"source": "VAULTGATE_MASTER_KEY"},
            "unset VAULTGATE_MASTER_KEY; set VAULTGATE_MASTER_KEY_FILE to a file with mode 0600",
        )
        return
    path = settings.resolved_master_key_file
    yield Fact("master_key_source", str(path))
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return  # the installation cannot open either: reported as installation.unavailable
    if mode & 0o077:
        yield Finding(
            "master_key.file_mode",
            Severity.HIGH,
            f"master key file readable or writable by group or others (mode {mode:o})",
            str(path),
            {"path": str(path), "mode": f"{mode:o}"},
            f"chmod 600 {shlex.quote(str(path))}",
        )


def tls(inspection: Inspection) -> Iterator[Finding | Fact]:
    """No TLS while listening beyond loopback (medium: a TLS proxy in front may be doing it)."""
    settings = inspection.settings
    on = settings.tls_cert is not None
    yield Fact("tls", tls_finding(on, settings.host))
    if not on and not is_loopback_host(settings.host):
        yield Finding(
            "tls.off",
            Severity.MEDIUM,
            f"no TLS while listening on {settings.host}: keys and prompts travel unencrypted unless a TLS proxy"
            " is in front",
            settings.host,
            {"host": settings.host, "port": settings.port, "tls_cert": None},
            command("serve", "--host", settings.host, "--tls-cert", "CERT.pem", "--tls-key", "KEY.pem"),
        )


def store_facts(inspection: Inspection) -> Iterator[Finding | Fact]:
    """Which database, at which revision."""
    cp = inspection.plane
    yield Fact("database", cp.store.dialect)
    yield Fact("revision", cp.store.revision())


def kill_switches(inspection: Inspection) -> Iterator[Finding | Fact]:
    """Lockdown on (medium: every request is refused) and suspended teams (info)."""
    with inspection.plane.store.session() as session:
        locked = lockdown_active(session)
        suspended = session.scalars(select(Team).where(Team.suspended.is_(True)).order_by(Team.name)).all()
        teams = [(t.id, t.name) for t in suspended]
    yield Fact("lockdown", locked)
    if locked:
        yield Finding(
            "lockdown.on",
            Severity.MEDIUM,
            "lockdown is on: every API request is refused",
            "organisation",
            {"lockdown": True},
            command("lockdown", "off"),
        )
    for team_id, name in teams:
        yield Finding(
            "team.suspended",
            Severity.INFO,
            "team suspended: every key of its members is refused",
            name,
            {"team_id": team_id, "team": name},
            command("team", "resume", name),
        )


def audit_chain(inspection: Inspection) -> Iterator[Finding | Fact]:
    """The audit chain verified whole; a break is high."""
    count, broken = audit_trail.verify(inspection.plane, inspection.actor)
    yield Fact("audit_records", count)
    yield Fact("audit_chain_ok", broken is None)
    if broken is not None:
        yield Finding(
            "audit.chain_broken",
            Severity.HIGH,
            f"audit chain broken at record {broken.seq}: {broken.reason}",
            f"audit record {broken.seq}",
            {"records_checked": count, "first_broken_seq": broken.seq, "reason": broken.reason},
            command("audit", "verify"),
        )


def residency_routes(inspection: Inspection) -> Iterator[Finding | Fact]:
    """Routes that break a team's residency (high: its requests are refused) or thin it (medium)."""
    found = residency.findings(inspection.plane, inspection.actor)
    yield Fact("residency_findings", [asdict(f) for f in found])
    for f in found:
        yield Finding(
            "residency.route",
            Severity.HIGH if f.level == residency.ERROR else Severity.MEDIUM,
            f"route {f.route}: {f.message}",
            f"{f.team} / {f.route}",
            {"level": f.level, "team": f.team, "route": f.route, "message": f.message},
            command("route", "show", f.route),
        )


CHECKS = (
    Check("master_key", master_key, needs_store=False),
    Check("tls", tls, needs_store=False),
    Check("database", store_facts),
    Check("kill_switches", kill_switches),
    Check("audit.chain", audit_chain),
    Check("residency", residency_routes),
)
