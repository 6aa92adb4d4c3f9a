"""The admin API app: error mapping and the route modules. Every route's service call checks roles."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from vaultgate.admin import routes_keys, routes_org, routes_providers
from vaultgate.admin.auth import AdminAuthError, actor_or_none
from vaultgate.admin.docs import add_docs_routes
from vaultgate.services.context import ControlPlane
from vaultgate.services.errors import Conflict, InvalidInput, NotAuthorised, NotFound, ServiceError

_STATUS = {InvalidInput: 400, NotAuthorised: 403, NotFound: 404, Conflict: 409}


def error(status: int, code: str, message: str) -> JSONResponse:
    """An error in the same shape as the data plane's."""
    return JSONResponse(
        {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}}, status
    )


def build_admin_app(cp: ControlPlane, *, docs: bool = False) -> FastAPI:
    """The ``/admin`` FastAPI app bound to a control plane; Swagger UI at ``/admin/docs`` only with ``docs``."""
    app = FastAPI(
        title="vaultgate admin API",
        version="1",
        openapi_url="/admin/openapi.json",
        docs_url=None,  # FastAPI's page loads its scripts from a CDN: admin/docs.py serves packaged ones
        redoc_url=None,
    )
    if docs:
        add_docs_routes(app, "/admin/openapi.json")
    app.state.control_plane = cp

    @app.exception_handler(AdminAuthError)
    async def _auth(_: Request, __: AdminAuthError) -> JSONResponse:
        response = error(
            401, "invalid_admin_token", "Missing or invalid admin token: send 'Authorization: Bearer vga_...'."
        )
        response.headers["www-authenticate"] = "Bearer"
        return response

    @app.exception_handler(ServiceError)
    async def _service(_: Request, exc: ServiceError) -> JSONResponse:
        status = next((s for cls, s in _STATUS.items() if isinstance(exc, cls)), 400)
        return error(status, getattr(exc, "code", None) or type(exc).__name__.lower(), str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        message = f"{where or 'body'}: {first.get('msg', 'invalid value')}"
        actor = await run_in_threadpool(actor_or_none, request)
        if actor is not None:  # unauthenticated noise is not audited (it would let anyone fill the log)
            action = f"{request.method} {request.url.path}"
            await run_in_threadpool(cp.audit_refusal, actor, action, None, message[:300])
        return error(400, "invalid_input", message)

    for module in (routes_keys, routes_org, routes_providers):
        app.include_router(module.router)
    return app
