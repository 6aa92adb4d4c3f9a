"""Upstream providers and their sealed credentials."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, update

from vaultgate.services import access, credentials
from vaultgate.services.context import Actor, ControlPlane, new_id
from vaultgate.services.errors import Conflict, InvalidInput
from vaultgate.services.members import check_name
from vaultgate.services.refusals import refusals_audited
from vaultgate.store.models import Provider, ProviderCredential
from vaultgate.upstream.azure_settings import SURFACE_DEPLOYMENTS, azure_settings
from vaultgate.upstream.config import ProviderKind, UnsafeURLError, check_base_url


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
    # Non-secret adapter settings (Azure: surface, auth, Entra ID tenant and client id, token URL).
    settings: dict[str, str] = field(default_factory=dict)


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
    try:
        url = check_base_url(
            base_url,
            kind=parsed_kind,
            allow_insecure_http=allow_insecure_http,
            allow_link_local=cp.allow_link_local_upstreams,
        )
    except UnsafeURLError as exc:
        raise InvalidInput(f"'base_url': {exc}") from None
    except ValueError:  # urllib's own refusals, e.g. an unclosed IPv6 bracket
        raise InvalidInput(f"'base_url': not a valid URL {base_url[:80]!r}") from None
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
        )
        session.add(provider)
        session.flush()
        if api_key:
            credentials.seal_new(cp, session, provider, api_key)
        cp.audit(session, actor, "provider.create", name, kind=parsed_kind.value, base_url=url, default=default)
        cp.store.notify_change(session)
        return ProviderInfo(
            id=provider.id,
            name=name,
            kind=parsed_kind.value,
            base_url=url,
            api_version=api_version,
            deployments=dict(provider.deployments),
            is_default=default,
            has_key=bool(api_key),
            created_at=now,
            settings=dict(settings),
        )


def list_providers(cp: ControlPlane, actor: Actor) -> list[ProviderInfo]:
    """Every provider, without secrets."""
    access.require_org_manager(actor, "list providers")
    with cp.store.session() as session:
        rows = session.scalars(select(Provider).order_by(Provider.name)).all()
        with_key = set(
            session.scalars(select(ProviderCredential.provider_id).where(ProviderCredential.state == "active")).all()
        )
        return [
            ProviderInfo(
                id=p.id,
                name=p.name,
                kind=p.kind,
                base_url=p.base_url,
                api_version=p.api_version,
                deployments=dict(p.deployments),
                is_default=p.is_default,
                has_key=p.id in with_key,
                created_at=p.created_at,
                settings=dict(p.settings or {}),
            )
            for p in rows
        ]
