"""Admin REST API routes. Each route checks the actor's role in the service layer it calls."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from vaultgate.admin.auth import AdminAuthError, CurrentActor, CurrentControlPlane
from vaultgate.admin.schemas import (
    KeyCreate,
    KeyCreated,
    KeyOut,
    LeakReport,
    LeakResult,
    Me,
    MemberCreate,
    MemberOut,
    ProviderCreate,
    ProviderOut,
    UsageLineOut,
)
from vaultgate.services import keys, members, providers, usage
from vaultgate.services.context import ControlPlane
from vaultgate.services.errors import Conflict, InvalidInput, NotAuthorised, NotFound, ServiceError

_STATUS = {InvalidInput: 400, NotAuthorised: 403, NotFound: 404, Conflict: 409}


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}}, status
    )


def build_admin_app(cp: ControlPlane) -> FastAPI:
    """The ``/admin`` FastAPI app bound to a control plane."""
    app = FastAPI(
        title="vaultgate admin API",
        version="1",
        openapi_url="/admin/openapi.json",
        docs_url="/admin/docs",
        redoc_url=None,
    )
    app.state.control_plane = cp

    @app.exception_handler(AdminAuthError)
    async def _auth(_: Request, __: AdminAuthError) -> JSONResponse:
        response = _error(
            401, "invalid_admin_token", "Missing or invalid admin token: send 'Authorization: Bearer vga_...'."
        )
        response.headers["www-authenticate"] = "Bearer"
        return response

    @app.exception_handler(ServiceError)
    async def _service(_: Request, exc: ServiceError) -> JSONResponse:
        status = next((s for cls, s in _STATUS.items() if isinstance(exc, cls)), 400)
        return _error(status, type(exc).__name__.lower(), str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return _error(400, "invalid_input", f"{where or 'body'}: {first.get('msg', 'invalid value')}")

    @app.get("/admin/me", response_model=Me, tags=["identity"])
    def me(actor: CurrentActor) -> dict[str, Any]:
        """Who the admin token belongs to."""
        return {"name": actor.name, "role": actor.role.value, "member_id": actor.member_id}

    @app.post("/admin/members", response_model=MemberOut, status_code=201, tags=["members"])
    def create_member(body: MemberCreate, actor: CurrentActor, cp: CurrentControlPlane) -> dict[str, Any]:
        """Add a member (a person or a service)."""
        return asdict(members.add(cp, actor, body.name, email=body.email, team=body.team, role=body.role))

    @app.get("/admin/members", response_model=list[MemberOut], tags=["members"])
    def list_members(actor: CurrentActor, cp: CurrentControlPlane) -> list[dict[str, Any]]:
        """Members visible to the caller."""
        return [asdict(m) for m in members.list_members(cp, actor)]

    @app.post("/admin/keys", response_model=KeyCreated, status_code=201, tags=["keys"])
    def create_key(body: KeyCreate, actor: CurrentActor, cp: CurrentControlPlane) -> dict[str, Any]:
        """Mint a member key. The response holds the secret once; it is never retrievable again."""
        policy = {
            "models": body.models,
            "scopes": body.scopes,
            "ip_allow": body.ip_allow,
            "allow_store": body.allow_store,
        }
        limits = body.model_dump(include={"rpm", "tpm", "concurrency", "budget_usd", "budget_period"}, exclude_none=True)
        created = keys.create(
            cp, actor, body.member, policy=policy, expires_in=body.expires_in, name=body.name, limits=limits
        )
        return {**asdict(created.info), "key": created.token}

    @app.get("/admin/keys", response_model=list[KeyOut], tags=["keys"])
    def list_keys(actor: CurrentActor, cp: CurrentControlPlane, member: str | None = None) -> list[dict[str, Any]]:
        """Keys visible to the caller (members see only their own)."""
        return [asdict(k) for k in keys.list_keys(cp, actor, member)]

    @app.post("/admin/keys/leaked", response_model=LeakResult, tags=["keys"])
    def report_leak(body: LeakReport, actor: CurrentActor, cp: CurrentControlPlane) -> dict[str, Any]:
        """Revoke every key whose SHA-256 fingerprint was found leaked (used by 'vaultgate scan --revoke')."""
        revoked, unknown = keys.revoke_leaked(cp, actor, body.fingerprints, body.source)
        return {"revoked": [{"id": k.id, "display": k.display} for k in revoked], "unknown": unknown}

    @app.post("/admin/keys/{key_id}/revoke", response_model=KeyOut, tags=["keys"])
    def revoke_key(key_id: str, actor: CurrentActor, cp: CurrentControlPlane) -> dict[str, Any]:
        """Revoke a key; every replica refuses it within a second."""
        return asdict(keys.revoke(cp, actor, key_id))

    @app.post("/admin/providers", response_model=ProviderOut, status_code=201, tags=["providers"])
    def create_provider(body: ProviderCreate, actor: CurrentActor, cp: CurrentControlPlane) -> dict[str, Any]:
        """Register an upstream; its API key is sealed by the vault and never returned."""
        info = providers.add(
            cp,
            actor,
            body.name,
            kind=body.kind,
            base_url=body.base_url,
            api_key=body.api_key,
            api_version=body.api_version,
            deployments=body.deployments,
            allow_insecure_http=body.allow_insecure_http,
            make_default=body.default,
        )
        return asdict(info)

    @app.get("/admin/providers", response_model=list[ProviderOut], tags=["providers"])
    def list_providers(actor: CurrentActor, cp: CurrentControlPlane) -> list[dict[str, Any]]:
        """Providers, without their keys."""
        return [asdict(p) for p in providers.list_providers(cp, actor)]

    @app.get("/admin/usage", response_model=list[UsageLineOut], tags=["usage"])
    def usage_report(actor: CurrentActor, cp: CurrentControlPlane) -> list[dict[str, Any]]:
        """Requests and tokens per member and model (metadata only)."""
        return [asdict(line) for line in usage.report(cp, actor)]

    return app
