"""``doctor``'s residency check: teams whose routes would send traffic outside their allowed geographies.

For each team under a residency policy (its own, narrowed by the organisation's) and each
route its model allowlist does not exclude: a target whose processing zone is outside the
allowed geographies is a warning (requests skip it, so failover is thinner than it looks);
a route with every target outside is an error (the team's requests for it are refused with
403 ``residency_not_allowed``). The organisation's own residency is checked the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from vaultgate.gateway.routing import processing_zone
from vaultgate.policy.effective import combine
from vaultgate.policy.grants import KeyPolicy, PolicyError
from vaultgate.services import access
from vaultgate.services.context import Actor, ControlPlane
from vaultgate.services.org import org_policy
from vaultgate.store.models import Provider, Route, RouteTarget, Team
from vaultgate.upstream.config import Deployment, ProviderConfig, ProviderKind

WARNING, ERROR = "warning", "error"


@dataclass(frozen=True, slots=True)
class ResidencyFinding:
    """One route that breaks (error) or thins (warning) a team's residency."""

    level: str
    team: str
    route: str
    message: str


def _routes(session: Session) -> dict[str, list[Deployment]]:
    """Each route's targets as deployments carrying only what the zone depends on (no secrets opened)."""
    providers = {
        p.id: ProviderConfig(
            name=p.name,
            kind=ProviderKind(p.kind),
            base_url=p.base_url,
            geography=p.geography,
            deployment_type=p.deployment_type,
        )
        for p in session.scalars(select(Provider)).all()
    }
    found: dict[str, list[Deployment]] = {}
    rows = session.execute(
        select(Route.name, RouteTarget).join(RouteTarget, RouteTarget.route_id == Route.id).order_by(Route.name)
    ).all()
    for name, target in rows:
        provider = providers[target.provider_id]
        found.setdefault(name, []).append(Deployment(provider, target.model, target.weight, target.deployment_type))
    return found


def _subjects(session: Session) -> list[tuple[str, KeyPolicy]]:
    """(who, effective residency policy) for the organisation and each team with a residency in force."""
    try:
        org = org_policy(session)
    except PolicyError:
        org = None  # unreadable: every key is refused anyway (snapshot_loader logs it)
    subjects: list[tuple[str, KeyPolicy]] = []
    if org is not None and org.residency is not None:
        subjects.append(("(organisation)", org))
    for team in session.scalars(select(Team).order_by(Team.name)).all():
        try:
            own = KeyPolicy.from_json(team.policy or {})
        except PolicyError:
            continue
        effective = combine(own, org)
        if effective.residency is not None:
            subjects.append((team.name, effective))
    return subjects


def findings(cp: ControlPlane, actor: Actor) -> list[ResidencyFinding]:
    """Every route that would break or thin a residency policy in force, errors first."""
    access.require_org_manager(actor, "check routes against residency")
    out: list[ResidencyFinding] = []
    with cp.store.session() as session:
        routes = _routes(session)
        for who, policy in _subjects(session):
            allowed = ", ".join(sorted(policy.residency or ())) or "none"
            for name, targets in routes.items():
                if "*" not in name and not policy.allows_model(name):
                    continue  # the team cannot ask for this model at all
                outside = [t for t in targets if not policy.allows_zone(processing_zone(t))]
                if not outside:
                    continue
                where = ", ".join(f"{t.key} ({processing_zone(t) or 'anywhere/unknown'})" for t in outside)
                if len(outside) == len(targets):
                    message = f"every target is outside {allowed}: {where}; requests are refused"
                    out.append(ResidencyFinding(ERROR, who, name, message))
                else:
                    message = f"target(s) outside {allowed} are skipped: {where}"
                    out.append(ResidencyFinding(WARNING, who, name, message))
    return sorted(out, key=lambda f: (f.level != ERROR, f.team, f.route))
