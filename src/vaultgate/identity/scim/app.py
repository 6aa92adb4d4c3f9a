"""The SCIM 2.0 service at ``/scim/v2`` (RFC 7644): discovery, Users and Groups.

One request: the ``vgs_`` bearer is checked (auth.py), the body read (at most :data:`MAX_BODY_BYTES`,
JSON), parsed by scim2-models into the served model, and handed to the services in one transaction;
the answer is rendered by scim2-models. Every refusal is a SCIM Error (``application/scim+json``) with
the RFC 7644 §3.12 status and ``scimType``, and changes nothing. The arrival time of each request is
what a deprovisioning records as ``requested_at`` (the audit's measure of time to revocation).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import orjson
from pydantic import ValidationError
from scim2_models import (
    ConflictException,
    Context,
    Error,
    ForbiddenException,
    Group,
    InvalidSyntaxException,
    InvalidValueException,
    NotFoundException,
    PatchOp,
    PayloadTooLargeException,
    PreconditionFailedException,
    Resource,
    ResponseParameters,
    SCIMException,
    SearchRequest,
    UniquenessException,
)
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from vaultgate.identity.scim import PREFIX, discovery, listing, minimise
from vaultgate.identity.scim.auth import require_token
from vaultgate.identity.scim.resources import (
    NestedGroup,
    ScimUser,
    etag,
    group_resource,
    group_state,
    user_resource,
    user_state,
)
from vaultgate.keys import tokens
from vaultgate.services import scim_groups, scim_users
from vaultgate.services.context import ControlPlane
from vaultgate.services.errors import (
    Conflict,
    InvalidInput,
    NotAuthorised,
    NotFound,
    PolicyExceedsCeiling,
    ServiceError,
)

MAX_BODY_BYTES = 1024 * 1024
MEDIA_TYPE = "application/scim+json"
_VERSION = re.compile(r'^(?:W/)?"(\d{1,18})"$')
_WITH_BODY = {"POST", "PUT", "PATCH"}
_DISCOVERY = {"ServiceProviderConfig", "Schemas", "ResourceTypes"}


def _not_allowed(method: str) -> SCIMException:
    return SCIMException.from_error(Error(status=405, detail=f"{method} is not supported here"))


def _error(exc: SCIMException) -> Response:
    body = exc.to_error().model_dump(scim_ctx=Context.DEFAULT)
    headers = {"www-authenticate": 'Bearer realm="scim"'} if exc.status == 401 else None
    return Response(orjson.dumps(body), exc.status, headers, media_type=MEDIA_TYPE)


def _translate(exc: ServiceError) -> SCIMException:
    """A service refusal as the SCIM error it is (its message is safe to show)."""
    detail = str(exc)
    if isinstance(exc, scim_users.VersionMismatch):
        return PreconditionFailedException(detail=detail)
    if isinstance(exc, scim_users.UserNameTaken | scim_groups.GroupNameTaken):
        return UniquenessException(detail=detail)
    if isinstance(exc, PolicyExceedsCeiling | Conflict):
        return ConflictException(detail=detail)
    if isinstance(exc, NotFound):
        return NotFoundException(detail=detail)
    if isinstance(exc, NotAuthorised):
        return ForbiddenException(detail=detail)
    if isinstance(exc, InvalidInput):
        return InvalidValueException(detail=detail)
    return SCIMException(detail=detail)


def _validation(exc: ValidationError) -> SCIMException:
    return SCIMException.from_error(Error.from_validation_errors(exc)[0])


def _if_match(value: str | None) -> frozenset[int] | None:
    """The versions an ``If-Match`` names (None: no header or ``*``); an empty set matches nothing."""
    if value is None or value.strip() == "*":
        return None
    found = (_VERSION.match(part.strip()) for part in value.split(","))
    return frozenset(int(m.group(1)) for m in found if m)


class ScimApp:
    """The ASGI app for ``/scim/v2`` (paths include the prefix: the gateway routes them here as they are)."""

    def __init__(self, cp: ControlPlane, on_refused: Callable[[Request, str], None] | None = None) -> None:
        self.cp = cp
        # Told of each refused credential (the request, and the token's display form or ``scim``): the
        # server counts them with the security events (``auth.failures``), as the gateway and console do.
        self.on_refused = on_refused

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        requested_at = self.cp.clock()
        try:
            response = await self._answer(request, requested_at)
        except SCIMException as exc:
            if exc.status == 401 and self.on_refused is not None:
                self.on_refused(request, _credential(request.headers.get("authorization", "")))
            response = _error(exc)
        await response(scope, receive, send)

    async def _answer(self, request: Request, requested_at: datetime) -> Response:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            raise PayloadTooLargeException(detail=f"the request body is larger than {MAX_BODY_BYTES} bytes")
        await run_in_threadpool(require_token, self.cp, request.headers.getlist("authorization"))
        body = await _read(request) if request.method in _WITH_BODY else b""
        base = str(request.base_url).rstrip("/") + PREFIX
        return await run_in_threadpool(self._dispatch, request, body, base, requested_at)

    def _dispatch(self, request: Request, body: bytes, base: str, requested_at: datetime) -> Response:
        parts = request.url.path[len(PREFIX) :].strip("/").split("/")
        method, collection, ident = request.method, parts[0], parts[1] if len(parts) > 1 else None
        if len(parts) > 2 or not collection:
            raise NotFoundException(detail="no such SCIM endpoint")
        try:
            if collection in ("Users", "Groups"):
                kind = _USERS if collection == "Users" else _GROUPS
                document = _json(body) if method in _WITH_BODY else None
                return kind(self.cp, request, document, base, requested_at).run(method, ident)
            if collection == ".search" and ident is None and method == "POST":
                return self._search_everything(request, _json(body), base, requested_at)
            if collection in _DISCOVERY and method != "GET":
                raise _not_allowed(method)
            if method == "GET":
                return _discovery(collection, ident, base)
        except ServiceError as exc:
            raise _translate(exc) from None
        except ValidationError as exc:
            raise _validation(exc) from None
        raise NotFoundException(detail="no such SCIM endpoint")

    def _search_everything(self, request: Request, document: Any, base: str, requested_at: datetime) -> Response:
        """``POST /.search``: Users and Groups together; an attribute one type lacks does not match it."""
        search = listing.parse_body(None, document)
        found: list[Resource[Any]] = []
        for kind in (_USERS, _GROUPS):
            found += kind(self.cp, request, None, base, requested_at).all({})
        return _scim(listing.page(None, search, found))


def _credential(authorization: str) -> str:
    """How a refused credential is named in the security events: a vaultgate token's display form, else ``scim``."""
    parsed = tokens.parse(authorization.partition(" ")[2].strip())
    return parsed.display if parsed is not None else "scim"


async def _read(request: Request) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise PayloadTooLargeException(detail=f"the request body is larger than {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _json(body: bytes) -> dict[str, Any]:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidSyntaxException(detail="the request body is not JSON") from None
    if not isinstance(document, dict):
        raise InvalidSyntaxException(detail="the request body is not a JSON object")
    return document


def _scim(document: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(orjson.dumps(document), status, dict(headers or {}), media_type=MEDIA_TYPE)


def _discovery(collection: str, ident: str | None, base: str) -> Response:
    if collection == "ServiceProviderConfig" and ident is None:
        return _scim(discovery.service_provider_config(base).model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))
    found: list[Resource[Any]]
    if collection == "Schemas":
        found = list(discovery.schemas(base))
    elif collection == "ResourceTypes":
        found = list(discovery.resource_types(base))
    else:
        raise NotFoundException(detail="no such SCIM endpoint")
    documents = [r.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE) for r in found]
    if ident is not None:
        one = [d for d in documents if d.get("id") == ident]
        if not one:
            raise NotFoundException(detail=f"no {collection[:-1]} with id {ident!r}")
        return _scim(one[0])
    return _scim(
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "totalResults": len(documents),
            "startIndex": 1,
            "itemsPerPage": len(documents),
            "Resources": documents,
        }
    )


class _Collection(ABC):
    """One request on ``/Users`` or ``/Groups``: the verbs, shared; the model and the services, per kind."""

    model: type[Resource[Any]]
    filterable: tuple[str, ...]

    def __init__(self, cp: ControlPlane, request: Request, document: Any, base: str, requested_at: datetime) -> None:
        self.cp, self.request, self.document, self.base = cp, request, document, base
        self.requested_at = requested_at
        self.if_match = _if_match(request.headers.get("if-match"))

    def run(self, method: str, ident: str | None) -> Response:
        if ident is None and method == "GET":
            return self.query(listing.parse(self.model, self.request.query_params))
        if ident == ".search" and method == "POST":
            return self.query(listing.parse_body(self.model, self.document))
        if ident is None and method == "POST":
            return self.answer(self.create(self.parse(Context.RESOURCE_CREATION_REQUEST)), 201)
        if ident is not None and method == "GET":
            found = self.get(ident)
            version = found.meta.version if found.meta else None
            if version is not None and self.request.headers.get("if-none-match", "").strip() in (version, "*"):
                return Response(status_code=304, headers={"etag": version})
            return self.answer(found)
        if ident is not None and method == "PUT":
            return self.answer(self.replace(ident, self.parse(Context.RESOURCE_REPLACEMENT_REQUEST)))
        if ident is not None and method == "PATCH":
            patch = PatchOp[self.model].model_validate(  # type: ignore[name-defined]
                self.document, scim_ctx=Context.RESOURCE_PATCH_REQUEST
            )
            return self.answer(self.patch(ident, patch))
        if ident is not None and method == "DELETE":
            self.delete(ident)
            return Response(status_code=204)
        raise _not_allowed(method)

    def parse(self, context: Context) -> Resource[Any]:
        return self.model.model_validate(self.document, scim_ctx=context)

    def answer(self, resource: Resource[Any], status: int = 200) -> Response:
        params = self._response_parameters()
        document = resource.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE, response_parameters=params)
        headers = {}
        if resource.meta is not None and resource.meta.version:
            headers["etag"] = resource.meta.version
        if status == 201 and resource.meta is not None and resource.meta.location:
            headers["location"] = str(resource.meta.location)
        return _scim(document, status, headers)

    def _response_parameters(self) -> ResponseParameters[Any] | None:
        query = self.request.query_params
        wanted = {k: query[k] for k in ("attributes", "excludedAttributes") if k in query}
        if not wanted:
            return None
        return ResponseParameters[self.model].model_validate(wanted)  # type: ignore[name-defined]

    def query(self, search: SearchRequest[Any]) -> Response:
        narrowed = listing.equality(search, self.filterable)
        return _scim(listing.page(self.model, search, self.all(dict([narrowed]) if narrowed else {})))

    # Per kind (Users, Groups).
    @abstractmethod
    def create(self, resource: Any) -> Resource[Any]: ...

    @abstractmethod
    def get(self, ident: str) -> Resource[Any]: ...

    @abstractmethod
    def all(self, equal: dict[str, str]) -> list[Resource[Any]]: ...

    @abstractmethod
    def replace(self, ident: str, resource: Any) -> Resource[Any]: ...

    @abstractmethod
    def patch(self, ident: str, patch: PatchOp[Any]) -> Resource[Any]: ...

    @abstractmethod
    def delete(self, ident: str) -> None: ...


class _Users(_Collection):
    model = ScimUser
    filterable = ("userName", "externalId")

    def run(self, method: str, ident: str | None) -> Response:
        if isinstance(self.document, dict) and method in ("POST", "PUT", "PATCH") and ident != ".search":
            asked = self.document.get("Operations")
            self.document = minimise.user_document(self.document, patch=method == "PATCH")
            if method == "PATCH" and ident is not None and asked and not self.document["Operations"]:
                return self.answer(self.get(ident))  # only attributes vaultgate does not keep: nothing to change
        return super().run(method, ident)

    def create(self, resource: ScimUser) -> Resource[Any]:
        state = user_state(resource, active_default=True)
        return user_resource(scim_users.create(self.cp, state, requested_at=self.requested_at), self.base)

    def get(self, ident: str) -> Resource[Any]:
        return user_resource(scim_users.get(self.cp, ident), self.base)

    def all(self, equal: dict[str, str]) -> list[Resource[Any]]:
        found = scim_users.list_users(self.cp, user_name=equal.get("userName"), external_id=equal.get("externalId"))
        return [user_resource(r, self.base) for r in found]

    def _change(self, ident: str, edit: Callable[[scim_users.UserRecord], scim_users.UserState]) -> Resource[Any]:
        done = scim_users.change(self.cp, ident, edit, if_match=self.if_match, requested_at=self.requested_at)
        return user_resource(done, self.base)

    def replace(self, ident: str, resource: ScimUser) -> Resource[Any]:
        return self._change(ident, lambda current: user_state(resource, active_default=current.state.active))

    def patch(self, ident: str, patch: PatchOp[Any]) -> Resource[Any]:
        def edit(current: scim_users.UserRecord) -> scim_users.UserState:
            resource = user_resource(current, self.base, to_patch=True)
            patch.patch(resource)
            return user_state(resource, active_default=current.state.active)

        return self._change(ident, edit)

    def delete(self, ident: str) -> None:
        scim_users.delete_user(self.cp, ident, if_match=self.if_match, requested_at=self.requested_at)


def _group_state(group: Group) -> scim_groups.GroupState:
    try:
        return group_state(group)
    except NestedGroup:
        raise InvalidValueException(detail="'members' holds users of this service only (no nested groups)") from None


class _Groups(_Collection):
    model = Group
    filterable = ("displayName", "externalId")

    def create(self, resource: Group) -> Resource[Any]:
        return group_resource(scim_groups.create(self.cp, _group_state(resource)), self.base)

    def get(self, ident: str) -> Resource[Any]:
        return group_resource(scim_groups.get(self.cp, ident), self.base)

    def all(self, equal: dict[str, str]) -> list[Resource[Any]]:
        found = scim_groups.list_groups(
            self.cp, display_name=equal.get("displayName"), external_id=equal.get("externalId")
        )
        return [group_resource(r, self.base) for r in found]

    def replace(self, ident: str, resource: Group) -> Resource[Any]:
        state = _group_state(resource)
        return group_resource(scim_groups.change(self.cp, ident, lambda _: state, if_match=self.if_match), self.base)

    def patch(self, ident: str, patch: PatchOp[Any]) -> Resource[Any]:
        def edit(current: scim_groups.GroupRecord) -> scim_groups.GroupState:
            resource = group_resource(current, self.base)
            patch.patch(resource)
            return _group_state(resource)

        return group_resource(scim_groups.change(self.cp, ident, edit, if_match=self.if_match), self.base)

    def delete(self, ident: str) -> None:
        scim_groups.delete_group(self.cp, ident, if_match=self.if_match)


_USERS = _Users
_GROUPS = _Groups


def build_scim_app(cp: ControlPlane, on_refused: Callable[[Request, str], None] | None = None) -> ScimApp:
    """The ``/scim/v2`` app for this control plane (``on_refused``: told of each refused credential)."""
    return ScimApp(cp, on_refused)


__all__ = ["MAX_BODY_BYTES", "PREFIX", "ScimApp", "build_scim_app", "etag"]
