"""``/admin/routes``: the routing table (model names to deployments across providers)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter

from vaultgate.admin.auth import CurrentActor, CurrentControlPlane
from vaultgate.admin.schemas import RouteCreate, RouteOut
from vaultgate.services import routes

router = APIRouter(prefix="/admin/routes", tags=["routes"])


@router.get("", response_model=list[RouteOut])
def list_routes(actor: CurrentActor, cp: CurrentControlPlane) -> list[dict[str, Any]]:
    """Every route with its targets."""
    return [asdict(r) for r in routes.list_routes(cp, actor)]


@router.post("", response_model=RouteOut, status_code=201)
def create_route(body: RouteCreate, actor: CurrentActor, cp: CurrentControlPlane) -> dict[str, Any]:
    """Route a model name (exact, `*` pattern or alias) to deployments; 409 if the name is taken."""
    targets = [routes.TargetSpec(t.provider, t.model, t.weight, t.deployment_type) for t in body.targets]
    return asdict(routes.add(cp, actor, body.name, targets, strategy=body.strategy))


@router.get("/{name:path}", response_model=RouteOut)
def show_route(name: str, actor: CurrentActor, cp: CurrentControlPlane) -> dict[str, Any]:
    """One route (a name with `/` goes in the path as it is)."""
    return asdict(routes.show(cp, actor, name))


@router.delete("/{name:path}", response_model=RouteOut)
def remove_route(name: str, actor: CurrentActor, cp: CurrentControlPlane) -> dict[str, Any]:
    """Delete a route; its model falls back to the next matching route, an Azure deployment or the default."""
    return asdict(routes.remove(cp, actor, name))
