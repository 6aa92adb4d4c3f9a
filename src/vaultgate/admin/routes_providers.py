"""``/admin/providers``: upstreams and their credentials (zero-downtime rotation)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter

from vaultgate.admin.auth import CurrentActor, CurrentControlPlane
from vaultgate.admin.schemas import CredentialCreate, CredentialOut, ProviderCreate, ProviderOut, ProviderUpdate
from vaultgate.services import credentials, providers

router = APIRouter(prefix="/admin/providers", tags=["providers"])


@router.post("", response_model=ProviderOut, status_code=201)
def create_provider(body: ProviderCreate, actor: CurrentActor, cp: CurrentControlPlane) -> dict[str, Any]:
    """Register an upstream; its API key is sealed by the vault and never returned."""
    info = providers.add(
        cp,
        actor,
        body.name,
        kind=body.kind,
        base_url=body.base_url,
        api_key=body.api_key if body.api_key is not None else body.client_secret,
        api_version=body.api_version,
        deployments=body.deployments,
        allow_insecure_http=body.allow_insecure_http,
        make_default=body.default,
        region=body.region,
        geography=body.geography,
        deployment_type=body.deployment_type,
        azure_surface=body.azure_surface,
        auth=body.auth,
        tenant_id=body.tenant_id,
        client_id=body.client_id,
        token_url=body.token_url,
    )
    return asdict(info)


@router.patch("/{name}", response_model=ProviderOut)
def update_provider(name: str, body: ProviderUpdate, actor: CurrentActor, cp: CurrentControlPlane) -> dict[str, Any]:
    """Change a provider's base URL (checked again), api-version, deployments or residency labels."""
    return asdict(providers.update_provider(cp, actor, name, **body.model_dump(exclude_none=True)))


@router.delete("/{name}", response_model=ProviderOut)
def remove_provider(name: str, actor: CurrentActor, cp: CurrentControlPlane, force: bool = False) -> dict[str, Any]:
    """Delete a provider and its keys: 409 ``provider_in_use`` while routes use it; 409 for the default
    while other providers exist, unless ``force`` (then no provider is the default)."""
    return asdict(providers.remove(cp, actor, name, force=force))


@router.post("/{name}/default", response_model=ProviderOut)
def set_default_provider(name: str, actor: CurrentActor, cp: CurrentControlPlane) -> dict[str, Any]:
    """Serve every model that no route and no Azure deployment names from this provider."""
    return asdict(providers.set_default(cp, actor, name))


@router.get("", response_model=list[ProviderOut])
def list_providers(actor: CurrentActor, cp: CurrentControlPlane) -> list[dict[str, Any]]:
    """Providers, without their keys."""
    return [asdict(p) for p in providers.list_providers(cp, actor)]


@router.get("/{name}/credentials", response_model=list[CredentialOut])
def list_credentials(name: str, actor: CurrentActor, cp: CurrentControlPlane) -> list[dict[str, Any]]:
    """A provider's credentials, newest first (never the keys)."""
    return [asdict(c) for c in credentials.list_credentials(cp, actor, name)]


@router.post("/{name}/credentials", response_model=CredentialOut, status_code=201)
def add_credential(name: str, body: CredentialCreate, actor: CurrentActor, cp: CurrentControlPlane) -> dict[str, Any]:
    """Add a new key; new requests use it from the next refresh on."""
    return asdict(credentials.add(cp, actor, name, body.api_key))


@router.post("/{name}/credentials/{cred_id}/drain", response_model=CredentialOut)
def drain_credential(name: str, cred_id: str, actor: CurrentActor, cp: CurrentControlPlane) -> dict[str, Any]:
    """No new requests with this key; requests already sent finish normally."""
    return asdict(credentials.drain(cp, actor, name, cred_id))


@router.delete("/{name}/credentials/{cred_id}", response_model=CredentialOut)
def remove_credential(name: str, cred_id: str, actor: CurrentActor, cp: CurrentControlPlane) -> dict[str, Any]:
    """Delete a drained key for good."""
    return asdict(credentials.remove(cp, actor, name, cred_id))
