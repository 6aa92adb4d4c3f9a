"""The admin API app: the route modules and the one error shape. Every route's service call checks roles."""

from __future__ import annotations

from fastapi import Depends, FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from vaultgate.admin import (
    errors,
    routes_compliance,
    routes_identity,
    routes_identity_sync,
    routes_keys,
    routes_objects,
    routes_org,
    routes_providers,
    routes_routing,
    routes_usage,
)
from vaultgate.admin.docs import add_docs_routes
from vaultgate.services.break_glass import BreakGlass
from vaultgate.services.context import ControlPlane
from vaultgate.services.errors import InvalidInput


def _query_names(dependant: Dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def request_hygiene(request: Request) -> None:
    """InvalidInput (400) for a query parameter the route does not declare (as bodies refuse unknown fields),
    and for a NUL character in the path or the query (PostgreSQL text cannot hold one)."""
    route = request.scope.get("route")
    declared = _query_names(route.dependant) if isinstance(route, APIRoute) else set()
    unknown = sorted(set(request.query_params) - declared)
    if unknown:
        raise InvalidInput(f"unknown query parameter {unknown[0][:40]!r}")
    values = [*request.path_params.values(), *request.query_params.values()]
    if any("\x00" in str(value) for value in values):
        raise InvalidInput("text must not contain NUL characters")


def build_admin_app(cp: ControlPlane, *, docs: bool = False, break_glass: BreakGlass | None = None) -> FastAPI:
    """The ``/admin`` FastAPI app bound to a control plane; Swagger UI at ``/admin/docs`` only with ``docs``;
    ``break_glass`` audits owners' tokens while identity is managed elsewhere (services/break_glass.py)."""
    app = FastAPI(
        title="vaultgate admin API",
        version="1",
        openapi_url="/admin/openapi.json",
        docs_url=None,  # FastAPI's page loads its scripts from a CDN: admin/docs.py serves packaged ones
        redoc_url=None,
        redirect_slashes=False,  # one spelling per route: '/admin/keys/' is unknown, not a redirect
        responses=errors.ERROR_RESPONSES,
        dependencies=[Depends(request_hygiene)],
    )
    if docs:
        add_docs_routes(app, "/admin/openapi.json")
    app.state.control_plane = cp
    app.state.break_glass = break_glass
    errors.install(app, cp)
    for module in (
        routes_keys,
        routes_objects,
        routes_org,
        routes_providers,
        routes_routing,
        routes_compliance,
        routes_usage,
        routes_identity,
        routes_identity_sync,
    ):
        app.include_router(module.router)
    return app
