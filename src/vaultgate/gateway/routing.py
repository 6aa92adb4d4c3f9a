"""Which provider serves a request: an Azure provider with a deployment for the model, else the default."""

from __future__ import annotations

from vaultgate.gateway.errors import GatewayError
from vaultgate.gateway.snapshot import Snapshot
from vaultgate.upstream.config import ProviderConfig, ProviderKind


def choose(snapshot: Snapshot, model: str | None) -> ProviderConfig:
    """The provider for ``model``; 503 when none is configured."""
    if model is not None:
        for provider in snapshot.providers.values():
            if provider.kind is ProviderKind.AZURE and model in provider.deployments and not provider.is_default:
                return provider
    if snapshot.default_provider is not None:
        return snapshot.providers[snapshot.default_provider]
    raise GatewayError(
        503, "no_provider", "No upstream provider is configured: an admin must run 'vaultgate provider add'."
    )
