"""The routing table: add, list, show and remove routes (docs/PROVIDERS.md, "Routing").

A route maps a model name (exact, ``*`` wildcard, or an alias naming another model) to an
ordered or weighted list of targets, each a provider and optionally the model it is asked for
there. Organisation managers only, like providers. Every change is audited and reaches every
replica's snapshot through ``notify_change``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from vaultgate.gateway.route_table import STRATEGIES
from vaultgate.policy.grants import model_pattern
from vaultgate.services import access
from vaultgate.services.context import Actor, ControlPlane, new_id
from vaultgate.services.errors import Conflict, InvalidInput, NotFound
from vaultgate.services.providers import check_deployment_type
from vaultgate.services.refusals import refusals_audited
from vaultgate.store.models import Provider, Route, RouteTarget
from vaultgate.upstream.config import ProviderKind

MAX_TARGETS = 16
MAX_WEIGHT = 1000
# A model name or pattern: the endpoint identifier characters (gateway/endpoints.py), plus ``/``
# (model names such as meta-llama/Llama-3.1-8B) and ``*``; no empty segment, no ``..``.
_ROUTE_NAME = re.compile(r"[A-Za-z0-9*][A-Za-z0-9._:*-]*(/[A-Za-z0-9*][A-Za-z0-9._:*-]*)*")
_MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*(/[A-Za-z0-9][A-Za-z0-9._:-]*)*")


@dataclass(frozen=True, slots=True)
class TargetSpec:
    """One target as given: the provider's name, the model to ask it for (None: the client's), weight, type."""

    provider: str
    model: str | None = None
    weight: int = 1
    deployment_type: str | None = None


@dataclass(frozen=True, slots=True)
class RouteInfo:
    """A route as shown to admins."""

    id: str
    name: str
    strategy: str
    targets: list[dict[str, Any]] = field(default_factory=list)
    created_at: datetime | None = None


def check_route_name(name: str) -> str:
    """A valid route name (a model name or a ``*`` pattern), or InvalidInput saying what is allowed."""
    if not (0 < len(name or "") <= 200) or not _ROUTE_NAME.fullmatch(name) or ".." in name:
        raise InvalidInput(
            f"invalid route name {name[:80]!r}: use a model name or pattern of letters, digits, '.', '_', ':', "
            "'-', '/' and '*' (at most 200 characters; '*' matches within one '/' segment)"
        )
    return name


def parse_target(text: str) -> TargetSpec:
    """``PROVIDER[=MODEL][,weight=N][,type=global|datazone|regional]`` → TargetSpec; InvalidInput otherwise."""
    head, *options = text.split(",")
    provider, sep, model = head.partition("=")
    if not provider.strip() or (sep and not model.strip()):
        raise InvalidInput(f"invalid target {text[:80]!r}: use PROVIDER[=MODEL][,weight=N][,type=TYPE]")
    weight, kind = 1, None
    for option in options:
        key, sep, value = option.partition("=")
        key = key.strip()
        if key == "weight" and sep:
            try:
                weight = int(value)
            except ValueError:
                raise InvalidInput(f"invalid target {text[:80]!r}: weight must be a whole number") from None
        elif key == "type" and sep:
            kind = value.strip()
        else:
            raise InvalidInput(f"invalid target option {option[:40]!r} in {text[:80]!r}: use weight=N or type=TYPE")
    return TargetSpec(provider.strip(), model.strip() or None, weight, kind)


def _info(route: Route, targets: list[tuple[RouteTarget, str]]) -> RouteInfo:
    return RouteInfo(
        id=route.id,
        name=route.name,
        strategy=route.strategy,
        targets=[
            {
                "provider": provider,
                "model": t.model,
                "weight": t.weight,
                "deployment_type": t.deployment_type,
            }
            for t, provider in targets
        ],
        created_at=route.created_at,
    )


def _targets(session: Session, route: Route) -> list[tuple[RouteTarget, str]]:
    rows = session.execute(
        select(RouteTarget, Provider.name)
        .join(Provider, Provider.id == RouteTarget.provider_id)
        .where(RouteTarget.route_id == route.id)
        .order_by(RouteTarget.position)
    ).all()
    return [(t, name) for t, name in rows]


def _check_target(session: Session, route_name: str, index: int, spec: TargetSpec) -> tuple[Provider, TargetSpec]:
    where = f"'targets[{index}]'"
    provider = session.scalar(select(Provider).where(Provider.name == spec.provider))
    if provider is None:
        raise InvalidInput(f"{where}: no provider named {spec.provider[:100]!r}")
    if not 1 <= spec.weight <= MAX_WEIGHT:
        raise InvalidInput(f"{where}: weight must be between 1 and {MAX_WEIGHT}, not {spec.weight}")
    if spec.model is not None and (len(spec.model) > 200 or not _MODEL.fullmatch(spec.model) or ".." in spec.model):
        raise InvalidInput(f"{where}: invalid model name {spec.model[:80]!r}")
    kind = check_deployment_type(spec.deployment_type, f"targets[{index}].deployment_type")
    if provider.kind == ProviderKind.AZURE.value and spec.model is None:
        # The client's model goes through the provider's deployment map: it must be able to resolve.
        mapped = provider.deployments or {}
        if "*" in route_name:
            pattern = model_pattern(route_name)
            resolvable = any(pattern.fullmatch(model) for model in mapped)
        else:
            resolvable = route_name in mapped
        if not resolvable:
            raise InvalidInput(
                f"{where}: azure provider {provider.name!r} has no deployment for {route_name[:80]!r}; "
                "name the deployment (PROVIDER=DEPLOYMENT) or add it to the provider's deployments"
            )
    return provider, TargetSpec(spec.provider, spec.model, spec.weight, kind)


@refusals_audited("route.create")
def add(
    cp: ControlPlane, actor: Actor, name: str, targets: list[TargetSpec], *, strategy: str = "ordered"
) -> RouteInfo:
    """Create a route; its targets are tried in the order given (``weighted``: the first by weight)."""
    access.require_org_manager(actor, "manage routes")
    check_route_name(name)
    if strategy not in STRATEGIES:
        raise InvalidInput(f"'strategy' must be one of {', '.join(STRATEGIES)}, not {strategy[:40]!r}")
    if not targets:
        raise InvalidInput("'targets': a route needs at least one target (PROVIDER[=MODEL])")
    if len(targets) > MAX_TARGETS:
        raise InvalidInput(f"'targets': at most {MAX_TARGETS} targets per route, not {len(targets)}")
    with cp.store.session() as session:
        if session.scalar(select(Route.id).where(Route.name == name)) is not None:
            raise Conflict(f"a route named {name!r} already exists: remove it first to replace it")
        checked = [_check_target(session, name, i, spec) for i, spec in enumerate(targets)]
        seen = [(p.id, s.model) for p, s in checked]
        if len(set(seen)) != len(seen):
            raise InvalidInput("'targets': the same provider and model are named twice")
        route = Route(id=new_id("route"), name=name, strategy=strategy, created_at=cp.clock())
        session.add(route)
        session.flush()
        for position, (provider, spec) in enumerate(checked):
            session.add(
                RouteTarget(
                    id=new_id("rtgt"),
                    route_id=route.id,
                    position=position,
                    provider_id=provider.id,
                    model=spec.model,
                    weight=spec.weight,
                    deployment_type=spec.deployment_type,
                )
            )
        session.flush()
        info = _info(route, _targets(session, route))
        cp.audit(session, actor, "route.create", name, strategy=strategy, targets=info.targets)
        cp.store.notify_change(session)
        return info


def list_routes(cp: ControlPlane, actor: Actor) -> list[RouteInfo]:
    """Every route with its targets, by name."""
    access.require_org_manager(actor, "list routes")
    with cp.store.session() as session:
        routes = session.scalars(select(Route).order_by(Route.name)).all()
        return [_info(route, _targets(session, route)) for route in routes]


def _find(session: Session, name: str) -> Route:
    route = session.scalar(select(Route).where(Route.name == name))
    if route is None:
        raise NotFound(f"no route named {name[:200]!r}")
    return route


def show(cp: ControlPlane, actor: Actor, name: str) -> RouteInfo:
    """One route with its targets."""
    access.require_org_manager(actor, "list routes")
    with cp.store.session() as session:
        route = _find(session, name)
        return _info(route, _targets(session, route))


@refusals_audited("route.remove")
def remove(cp: ControlPlane, actor: Actor, name: str) -> RouteInfo:
    """Delete a route; its model falls back to the next matching route, an Azure deployment or the default."""
    access.require_org_manager(actor, "manage routes")
    with cp.store.session() as session:
        route = _find(session, name)
        info = _info(route, _targets(session, route))
        session.execute(delete(RouteTarget).where(RouteTarget.route_id == route.id))
        session.delete(route)
        cp.audit(session, actor, "route.remove", name)
        cp.store.notify_change(session)
        return info
