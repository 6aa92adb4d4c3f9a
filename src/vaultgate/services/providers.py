"""Upstream providers and their sealed credentials: add, update, remove, set the default.

Choices (docs/PROVIDERS.md, "Managing providers"): a provider that a route still uses cannot
be removed (409 ``provider_in_use`` naming the routes); the default provider cannot be removed
while other providers exist unless forced (then no provider is the default, and a model no
route names is answered 503 ``no_provider`` until one is set); removing a provider deletes
its sealed credentials with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from vaultgate.gateway.routing import DEPLOYMENT_TYPES
from vaultgate.policy.grants import PolicyError, parse_geography
from vaultgate.services import access, credentials
from vaultgate.services.context import Actor, ControlPlane, new_id
from vaultgate.services.errors import Conflict, InvalidInput, NotFound
from vaultgate.services.members import check_name
from vaultgate.services.refusals import refusals_audited
from vaultgate.store.models import Provider, ProviderCredential, Route, RouteTarget
from vaultgate.upstream.azure_settings import SURFACE_DEPLOYMENTS, azure_settings
from vaultgate.upstream.config import ProviderKind, UnsafeURLError, check_base_url


class ProviderInUse(Conflict):
    """Routes still send traffic to the provider: it cannot be removed."""

    code = "provider_in_use"


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    """A provider as shown to admins: never its key, only whether one is stored."""

    id: str
    name: str
    kind: str
    base_url: str
    api_version: str | None
    deployments: dict[str, str]
    is_default: bool
    has_key: bool
    created_at: datetime
    region: str | None = None
    geography: str | None = None
    deployment_type: str | None = None
    allow_insecure_http: bool = False
    settings: dict[str, Any] | None = None


def _info(provider: Provider, has_key: bool) -> ProviderInfo:
    return ProviderInfo(
        id=provider.id,
        name=provider.name,
        kind=provider.kind,
        base_url=provider.base_url,
        api_version=provider.api_version,
        deployments=dict(provider.deployments or {}),
        is_default=provider.is_default,
        has_key=has_key,
        created_at=provider.created_at,
        region=provider.region,
        geography=provider.geography,
        deployment_type=provider.deployment_type,
        allow_insecure_http=provider.allow_insecure_http,
        settings=dict(provider.settings or {}),
    )


def check_deployment_type(value: str | None, what: str = "deployment_type") -> str | None:
    """A deployment type (global, datazone, regional) or None; InvalidInput naming ``what`` otherwise."""
    if value is None:
        return None
    kind = value.strip().lower()
    if kind not in DEPLOYMENT_TYPES:
        raise InvalidInput(f"'{what}' must be one of {', '.join(DEPLOYMENT_TYPES)}, not {value[:40]!r}")
    return kind


def _residency_labels(
    region: str | None, geography: str | None, deployment_type: str | None
) -> tuple[str | None, str | None, str | None]:
    """Validated region, geography and deployment type ("" clears a value on update: None here)."""
    if region:
        region = region.strip()
        if not region.isascii() or len(region) > 60 or not region.replace("-", "").replace("_", "").isalnum():
            raise InvalidInput(f"'region' must be a cloud region name such as swedencentral, not {region[:60]!r}")
    parsed_geo = None
    if geography:
        try:
            parsed_geo = parse_geography(geography)
        except PolicyError as exc:
            raise InvalidInput(f"'geography': {exc}") from None
    return region or None, parsed_geo, check_deployment_type(deployment_type or None)


def _checked_url(cp: ControlPlane, base_url: str, kind: ProviderKind, allow_insecure_http: bool) -> str:
    try:
        return check_base_url(
            base_url,
            kind=kind,
            allow_insecure_http=allow_insecure_http,
            allow_link_local=cp.allow_link_local_upstreams,
        )
    except UnsafeURLError as exc:
        raise InvalidInput(f"'base_url': {exc}") from None
    except ValueError:  # urllib's own refusals, e.g. an unclosed IPv6 bracket
        raise InvalidInput(f"'base_url': not a valid URL {base_url[:80]!r}") from None


def find(session: Session, name: str) -> Provider:
    """The provider called ``name``; NotFound otherwise."""
    provider = session.scalar(select(Provider).where(Provider.name == name))
    if provider is None:
        raise NotFound(f"no provider named {name!r}")
    return provider


def _has_key(session: Session, provider: Provider) -> bool:
    query = select(ProviderCredential.id).where(
        ProviderCredential.provider_id == provider.id, ProviderCredential.state == "active"
    )
    return session.scalar(query.limit(1)) is not None


def routes_using(session: Session, provider: Provider) -> list[str]:
    """The names of the routes with a target on ``provider``, sorted."""
    query = select(Route.name).join(RouteTarget, RouteTarget.route_id == Route.id)
    return sorted(set(session.scalars(query.where(RouteTarget.provider_id == provider.id)).all()))


def parse_deployments(pairs: list[str]) -> dict[str, str]:
    """``MODEL=DEPLOYMENT`` pairs → mapping; InvalidInput on a malformed pair."""
    result: dict[str, str] = {}
    for pair in pairs:
        model, sep, deployment = pair.partition("=")
        if not sep or not model.strip() or not deployment.strip():
            raise InvalidInput(f"invalid deployment {pair!r}: use MODEL=DEPLOYMENT")
        result[model.strip()] = deployment.strip()
    return result


@refusals_audited("provider.create")
def add(
    cp: ControlPlane,
    actor: Actor,
    name: str,
    *,
    kind: str,
    base_url: str | None = None,
    api_key: str | None = None,
    api_version: str | None = None,
    deployments: dict[str, str] | None = None,
    allow_insecure_http: bool = False,
    make_default: bool | None = None,
    region: str | None = None,
    geography: str | None = None,
    deployment_type: str | None = None,
    azure_surface: str | None = None,
    auth: str | None = None,
    tenant_id: str | None = None,
    client_id: str | None = None,
    token_url: str | None = None,
) -> ProviderInfo:
    """Register a provider; its key (for Entra ID: the client secret) is sealed by the vault before it
    touches the database."""
    access.require_org_manager(actor, "add providers")
    check_name("provider", name)
    region, geography, deployment_type = _residency_labels(region, geography, deployment_type)
    try:
        parsed_kind = ProviderKind(kind)
    except ValueError:
        raise InvalidInput(f"unknown provider kind {kind!r}: use openai, azure, compatible or echo") from None
    if base_url is None:
        if parsed_kind is ProviderKind.OPENAI:
            base_url = "https://api.openai.com/v1"
        elif parsed_kind is ProviderKind.ECHO:
            base_url = "echo://local"
        else:
            raise InvalidInput(f"'base_url' is required for a {kind} provider")
    url = _checked_url(cp, base_url, parsed_kind, allow_insecure_http)
    settings: dict[str, str] = {}
    if parsed_kind is ProviderKind.AZURE:
        try:
            settings = azure_settings(
                surface=azure_surface,
                auth=auth,
                tenant_id=tenant_id,
                client_id=client_id,
                token_url=token_url,
                allow_insecure_http=allow_insecure_http,
                allow_link_local=cp.allow_link_local_upstreams,
            )
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
        if not api_version and settings["surface"] == SURFACE_DEPLOYMENTS:
            raise InvalidInput("an azure provider needs 'api_version' (for example 2024-10-21)")
        if not deployments:
            raise InvalidInput("an azure provider needs at least one entry in 'deployments' (MODEL=DEPLOYMENT)")
    elif any(v is not None for v in (azure_surface, auth, tenant_id, client_id, token_url)):
        raise InvalidInput("'azure_surface', 'auth', 'tenant_id', 'client_id' and 'token_url' are for azure providers")
    if parsed_kind in (ProviderKind.OPENAI, ProviderKind.AZURE) and not api_key:
        raise InvalidInput(f"a {kind} provider needs 'api_key'")
    now = cp.clock()
    with cp.store.session() as session:
        if session.scalar(select(Provider.id).where(Provider.name == name)) is not None:
            raise Conflict(f"a provider named {name!r} already exists")
        is_first = session.scalar(select(Provider.id).limit(1)) is None
        default = is_first if make_default is None else make_default
        if default:
            session.execute(update(Provider).values(is_default=False))
        provider = Provider(
            id=new_id("prov"),
            name=name,
            kind=parsed_kind.value,
            base_url=url,
            api_version=api_version,
            deployments=deployments or {},
            settings=settings,
            allow_insecure_http=allow_insecure_http,
            is_default=default,
            created_at=now,
            region=region,
            geography=geography,
            deployment_type=deployment_type,
        )
        session.add(provider)
        session.flush()
        if api_key:
            credentials.seal_new(cp, session, provider, api_key)
        cp.audit(session, actor, "provider.create", name, kind=parsed_kind.value, base_url=url, default=default)
        cp.store.notify_change(session)
        return _info(provider, bool(api_key))


def list_providers(cp: ControlPlane, actor: Actor) -> list[ProviderInfo]:
    """Every provider, without secrets."""
    access.require_org_manager(actor, "list providers")
    with cp.store.session() as session:
        rows = session.scalars(select(Provider).order_by(Provider.name)).all()
        with_key = set(
            session.scalars(select(ProviderCredential.provider_id).where(ProviderCredential.state == "active")).all()
        )
        return [_info(p, p.id in with_key) for p in rows]


# ``update`` leaves a field unchanged when it is None; "" clears an optional label.
@refusals_audited("provider.update")
def update_provider(
    cp: ControlPlane,
    actor: Actor,
    name: str,
    *,
    base_url: str | None = None,
    api_version: str | None = None,
    deployments: dict[str, str] | None = None,
    region: str | None = None,
    geography: str | None = None,
    deployment_type: str | None = None,
    allow_insecure_http: bool | None = None,
) -> ProviderInfo:
    """Change a provider's address or labels; the base URL is checked again as on ``add``.

    Its key is changed with the credential commands (zero-downtime rotation), never here.
    """
    access.require_org_manager(actor, "update providers")
    labels = _residency_labels(region, geography, deployment_type)
    with cp.store.session() as session:
        provider = find(session, name)
        kind = ProviderKind(provider.kind)
        insecure = provider.allow_insecure_http if allow_insecure_http is None else allow_insecure_http
        url = _checked_url(cp, provider.base_url if base_url is None else base_url, kind, insecure)
        changed: list[str] = []
        if url != provider.base_url:
            provider.base_url = url
            changed.append("base_url")
        if insecure != provider.allow_insecure_http:
            provider.allow_insecure_http = insecure
            changed.append("allow_insecure_http")
        if api_version is not None:
            if kind is ProviderKind.AZURE and not api_version.strip():
                raise InvalidInput("an azure provider needs 'api_version' (for example 2024-10-21)")
            provider.api_version = api_version.strip() or None
            changed.append("api_version")
        if deployments is not None:
            if kind is ProviderKind.AZURE and not deployments:
                raise InvalidInput("an azure provider needs at least one entry in 'deployments' (MODEL=DEPLOYMENT)")
            provider.deployments = dict(deployments)
            changed.append("deployments")
        for field_name, given, value in zip(
            ("region", "geography", "deployment_type"), (region, geography, deployment_type), labels, strict=True
        ):
            if given is not None:
                setattr(provider, field_name, value)
                changed.append(field_name)
        if "deployments" in changed:
            _check_azure_routes(session, provider)
        cp.audit(session, actor, "provider.update", name, changed=changed, base_url=provider.base_url)
        cp.store.notify_change(session)
        return _info(provider, _has_key(session, provider))


def _check_azure_routes(session: Session, provider: Provider) -> None:
    """Conflict when an exact route relies on a deployment mapping the update takes away."""
    rows = session.execute(
        select(Route.name)
        .join(RouteTarget, RouteTarget.route_id == Route.id)
        .where(RouteTarget.provider_id == provider.id, RouteTarget.model.is_(None))
    ).all()
    lost = sorted(r.name for r in rows if "*" not in r.name and r.name not in provider.deployments)
    if lost:
        raise Conflict(
            f"route(s) {', '.join(lost)} send their model to provider {provider.name!r} without a deployment name: "
            "keep a deployment for each, or change the routes first"
        )


@refusals_audited("provider.remove")
def remove(cp: ControlPlane, actor: Actor, name: str, *, force: bool = False) -> ProviderInfo:
    """Delete a provider and its sealed credentials; 409 while routes use it, or while it is the
    default and other providers exist (unless ``force``: then no provider is the default)."""
    access.require_org_manager(actor, "remove providers")
    with cp.store.session() as session:
        provider = find(session, name)
        using = routes_using(session, provider)
        if using:
            raise ProviderInUse(
                f"provider {name!r} is used by route(s) {', '.join(using)}: remove them or their targets first"
            )
        others = session.scalar(select(Provider.id).where(Provider.id != provider.id).limit(1)) is not None
        if provider.is_default and others and not force:
            raise Conflict(
                f"provider {name!r} is the default: make another provider the default first "
                "('provider set-default NAME'), or force the removal (then no provider is the default)"
            )
        info = _info(provider, _has_key(session, provider))
        session.execute(delete(ProviderCredential).where(ProviderCredential.provider_id == provider.id))
        session.delete(provider)
        cp.audit(session, actor, "provider.remove", name, was_default=provider.is_default, forced=force)
        cp.store.notify_change(session)
        return info


@refusals_audited("provider.default")
def set_default(cp: ControlPlane, actor: Actor, name: str) -> ProviderInfo:
    """Make ``name`` the provider for models that no route and no Azure deployment names."""
    access.require_org_manager(actor, "change the default provider")
    with cp.store.session() as session:
        provider = find(session, name)
        previous = session.scalar(select(Provider.name).where(Provider.is_default.is_(True)))
        session.execute(update(Provider).where(Provider.id != provider.id).values(is_default=False))
        provider.is_default = True
        cp.audit(session, actor, "provider.default", name, previous=previous)
        cp.store.notify_change(session)
        return _info(provider, _has_key(session, provider))
