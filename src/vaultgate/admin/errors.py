"""Every admin API answer that is not a success: one shape, one code spelling, nothing from FastAPI's defaults.

``{"error": {"message", "type", "param", "code"}}``, as on ``/v1``. The codes (snake_case, listed
in docs/ERRORS.md):

    400 invalid_input        a value that cannot be used (the field is named, and in ``param``)
    400 invalid_json         the body is not JSON ("the body is not valid JSON: <why> at character <n>")
    400 invalid_request      more than one Authorization header
    400 policy_exceeds_ceiling  a key (or a moved member's key) wider than its ceiling
    401 invalid_admin_token  missing, malformed, unknown, revoked or expired admin token
    403 permission_denied    the role does not allow it
    404 not_found            no such object, or one outside the caller's scope (no oracle)
    404 unknown_url          no such route
    405 method_not_allowed   the route exists, the method does not
    409 conflict             exists already, or in a state that forbids the change
    409 provider_in_use      a provider removal while routes target it
    413 request_too_large    a body over 2 MiB (refused before it is read)
    415 unsupported_media_type  a body sent with a Content-Type other than JSON
    500 internal_error       an unexpected failure (logged by exception type only)
    503 audit_unavailable    the change's audit record could not be written, so the change was not made
    503 database_unavailable the database cannot be used right now; nothing was changed
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vaultgate.admin.auth import AdminAuthError, RepeatedAuthorization, actor_or_none
from vaultgate.admin.body_limit import BodyLimit, BodyTooLarge
from vaultgate.services.context import ControlPlane
from vaultgate.services.errors import Conflict, InvalidInput, NotAuthorised, NotFound, ServiceError
from vaultgate.store import errors as store_errors

_log = logging.getLogger("vaultgate.admin")

_SERVICE = {
    InvalidInput: (400, "invalid_input"),
    NotAuthorised: (403, "permission_denied"),
    NotFound: (404, "not_found"),
    Conflict: (409, "conflict"),
}
_TYPES = {401: "invalid_request_error", 500: "server_error"}


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None
    code: str


class ErrorBody(BaseModel):
    """The admin API's error shape (the same as the data plane's)."""

    error: ErrorDetail


# Declared on every route, so a response outside the OpenAPI document is a bug the schema fuzzer finds.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in {
        400: "Invalid input, invalid JSON or a repeated Authorization header",
        401: "Missing or invalid admin token",
        403: "The role does not allow it",
        404: "Not found (or outside the caller's scope)",
        405: "Method not allowed",
        409: "Conflict with the object's state",
        413: "Request body too large",
        415: "The body is not declared as JSON",
        422: "Never sent: invalid input is a 400",
        500: "Unexpected failure",
        503: "The database or the audit trail cannot be used; nothing was changed",
    }.items()
}


def error(status: int, code: str, message: str, param: str | None = None) -> JSONResponse:
    """An error response in the admin API's one shape."""
    body = {"message": message, "type": _TYPES.get(status, "invalid_request_error"), "param": param, "code": code}
    return JSONResponse({"error": body}, status)


def _json_media_type(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _validation(exc: RequestValidationError, content_type: str | None) -> tuple[int, str, str, str | None]:
    """(status, code, message, param) for a request FastAPI could not validate; never echoes the value."""
    first: dict[str, Any] = exc.errors()[0] if exc.errors() else {}
    loc = tuple(first.get("loc", ()))
    if content_type and loc[:1] == ("body",) and not _json_media_type(content_type):
        return 415, "unsupported_media_type", "the body must be JSON: send 'Content-Type: application/json'", None
    if first.get("type") == "json_invalid":
        reason = str((first.get("ctx") or {}).get("error") or "malformed")[:100]
        where = f" at character {loc[1]}" if len(loc) > 1 and isinstance(loc[1], int) else ""
        return 400, "invalid_json", f"the body is not valid JSON: {reason}{where}", None
    where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "header"))
    return 400, "invalid_input", f"{where or 'body'}: {first.get('msg', 'invalid value')}", where or None


def install(app: FastAPI, cp: ControlPlane) -> None:
    """Register the handlers that give every failure the one error shape."""

    @app.exception_handler(AdminAuthError)
    async def _auth(_: Request, __: AdminAuthError) -> JSONResponse:
        response = error(
            401, "invalid_admin_token", "Missing or invalid admin token: send 'Authorization: Bearer vga_...'."
        )
        response.headers["www-authenticate"] = "Bearer"
        return response

    @app.exception_handler(RepeatedAuthorization)
    async def _repeated(_: Request, __: RepeatedAuthorization) -> JSONResponse:
        return error(400, "invalid_request", "Send exactly one Authorization header.")

    @app.exception_handler(ServiceError)
    async def _service(_: Request, exc: ServiceError) -> JSONResponse:
        status, code = next((v for cls, v in _SERVICE.items() if isinstance(exc, cls)), (400, "invalid_input"))
        return error(status, getattr(exc, "code", None) or code, str(exc))  # a refusal may name its own code

    @app.exception_handler(store_errors.AuditNotRecorded)
    async def _unaudited(_: Request, __: store_errors.AuditNotRecorded) -> JSONResponse:
        _log.error("admin API: a change was refused because its audit record could not be written")
        message = "The change could not be recorded in the audit trail, so it was not made. Retry once it is fixed."
        return error(503, "audit_unavailable", message)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        status, code, message, param = _validation(exc, request.headers.get("content-type"))
        actor = await run_in_threadpool(actor_or_none, request)
        if actor is not None:  # unauthenticated noise is not audited (it would let anyone fill the log)
            action = f"{request.method} {request.url.path}"[:60]  # the audit column's size
            await run_in_threadpool(cp.audit_refusal, actor, action, None, message[:300])
        return error(status, code, message, param)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc.__cause__, BodyTooLarge):  # FastAPI wraps any failure while reading the body
            return _too_large()
        if exc.status_code == 404:
            return error(404, "unknown_url", "No such admin API route.")
        if exc.status_code == 405:
            return error(405, "method_not_allowed", "This route does not accept that method.")
        return error(exc.status_code, "invalid_request", str(exc.detail)[:200])

    app.add_middleware(BodyLimit)
    app.add_middleware(CatchAll)  # added last: the outermost, so it also answers BodyLimit's refusals


def _too_large() -> JSONResponse:
    return error(413, "request_too_large", "The request body is larger than the admin API accepts (2 MiB).")


class CatchAll:
    """Answers any unexpected exception with a JSON 500 ``internal_error``; logs its type, never its text."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except BodyTooLarge:
            if not started:
                await _too_large()(scope, receive, send)
        except Exception as exc:  # the boundary: one shape for every failure, never a traceback with values
            if store_errors.unavailable(exc):
                _log.warning("admin API: the database is unavailable (%s)", type(exc).__name__)
                if not started:
                    message = "vaultgate cannot use its database right now; nothing was changed. Retry shortly."
                    await error(503, "database_unavailable", message)(scope, receive, send)
                return
            _log.error("admin API request failed: %s", type(exc).__name__)
            if not started:
                await error(500, "internal_error", "Internal error; the administrator can find it in the log.")(
                    scope, receive, send
                )
