"""Runs every posture check and collects what they found; one check that fails becomes a finding."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from vaultgate.config import Settings
from vaultgate.services import access
from vaultgate.services.context import Actor, ControlPlane, utcnow
from vaultgate.services.posture import (
    admin_access,
    break_glass,
    installation,
    key_hygiene,
    provider_hygiene,
    reachability,
    shared_keys,
)
from vaultgate.services.posture.finding import Fact, Finding, Severity, command, ordered
from vaultgate.services.posture.inspection import Check, Inspection

CHECKS: tuple[Check, ...] = (
    *installation.CHECKS,
    *key_hygiene.CHECKS,
    *shared_keys.CHECKS,
    *admin_access.CHECKS,
    *break_glass.CHECKS,
    *provider_hygiene.CHECKS,
    *reachability.CHECKS,
)


@dataclass(frozen=True, slots=True)
class PostureReport:
    """Every finding, most severe first, and the facts the checks learnt (``doctor --json``'s top-level keys)."""

    findings: tuple[Finding, ...]
    facts: dict[str, Any] = field(default_factory=dict)


def _failed(check: Check, exc: Exception) -> Finding:
    message = str(exc).splitlines()[0][:300] if str(exc) else ""
    return Finding(
        "check.failed",
        Severity.HIGH,
        f"the {check.name} check could not run: {type(exc).__name__}",
        check.name,
        {"check": check.name, "error": type(exc).__name__, "message": message},
        command("doctor", "--format", "json"),
    )


def run(inspection: Inspection, *, checks: Sequence[Check] = CHECKS, unavailable: str | None = None) -> PostureReport:
    """Run ``checks``; those needing the store are skipped when ``inspection.cp`` is None (``unavailable`` says why)."""
    if inspection.cp is not None:
        access.require_org_manager(inspection.actor, "run the posture report")
    found: list[Finding] = []
    facts: dict[str, Any] = {}
    if inspection.cp is None:
        skipped = [c.name for c in checks if c.needs_store]
        found.append(
            Finding(
                "installation.unavailable",
                Severity.HIGH,
                f"the installation could not be opened: {unavailable or 'unknown reason'}",
                "installation",
                {"reason": unavailable, "checks_skipped": skipped},
                command("config", "check"),
            )
        )
    for check in checks:
        if check.needs_store and inspection.cp is None:
            continue
        try:
            for item in check.run(inspection):
                if isinstance(item, Fact):
                    facts[item.name] = item.value
                else:
                    found.append(item)
        except Exception as exc:  # a check that breaks is reported, never the end of the report
            found.append(_failed(check, exc))
    return PostureReport(tuple(ordered(found)), facts)


def inspect(
    settings: Settings, cp: ControlPlane | None, actor: Actor, *, unavailable: str | None = None
) -> PostureReport:
    """The posture report of the installation ``settings`` describe, as of the control plane's clock."""
    now = cp.clock() if cp is not None else utcnow()
    return run(Inspection(settings, cp, actor, now), unavailable=unavailable)
