"""The admin API app: the route modules and the one error shape. Every route's service call checks roles."""

from __future__ import annotations

from fastapi import FastAPI

from vaultgate.admin import errors, routes_keys, routes_org, routes_providers
from vaultgate.services.context import ControlPlane


def build_admin_app(cp: ControlPlane) -> FastAPI:
    """The ``/admin`` FastAPI app bound to a control plane."""
    app = FastAPI(
        title="vaultgate admin API",
        version="1",
        openapi_url="/admin/openapi.json",
        docs_url="/admin/docs",
        redoc_url=None,
        responses=errors.ERROR_RESPONSES,
    )
    app.state.control_plane = cp
    errors.install(app, cp)
    for module in (routes_keys, routes_org, routes_providers):
        app.include_router(module.router)
    return app
